"""ID-token checks an attacker would try first: no signature at all, or an HMAC keyed with the public key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from core.accounts.oauth import SignInError
from core.accounts.oauth.id_token import verify_id_token

KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
JWKS = {"keys": [KEY.as_dict(private=False)]}
ISSUER, CLIENT, NONCE = "https://accounts.google.com", "client-id", "n-123"


def claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": CLIENT, "sub": "42", "iat": now, "exp": now + 600, "nonce": NONCE, **changes}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, object], body: dict[str, object], key: bytes | None = None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest() if key else b""
    return f"{signing_input}.{b64(signature)}"


def verify(token: str) -> dict[str, object]:
    return verify_id_token(token, JWKS, issuers=(ISSUER,), client_id=CLIENT, nonce=NONCE, label="Google")


def test_a_properly_signed_token_passes() -> None:
    token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims(), KEY)
    assert verify(token)["sub"] == "42"


def test_a_token_with_alg_none_is_refused() -> None:
    with pytest.raises(SignInError, match="not signed by Google"):
        verify(unsigned({"alg": "none", "kid": "k1"}, claims()))


def test_an_hmac_token_keyed_with_the_public_key_is_refused() -> None:
    public_pem = KEY.as_pem(private=False)
    with pytest.raises(SignInError, match="not signed by Google"):
        verify(unsigned({"alg": "HS256", "kid": "k1"}, claims(), public_pem))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"iss": "https://evil.example.com"}, "not issued by Google"),
        ({"aud": ["client-id", "other"], "azp": "other"}, "issued to another app"),
        ({"iat": int(time.time()) + 3600, "exp": int(time.time()) + 7200}, "dated in the future|not yet valid"),
        ({"sub": ""}, "incomplete|names no account"),
        ({"nonce": None}, "nonce mismatch"),
    ],
)
def test_claims_an_attacker_could_change_are_checked(changes: dict[str, object], message: str) -> None:
    body = {k: v for k, v in claims(**changes).items() if v is not None}
    with pytest.raises(SignInError, match=message):
        verify(jwt.encode({"alg": "RS256", "kid": "k1"}, body, KEY))
