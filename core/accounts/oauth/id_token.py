"""Checking an OpenID Connect ID token (Google's) before believing who it names.

OpenID Connect Core 1.0 section 3.1.3.7, as Google documents it: the signature against a key of the provider's
published key set (``jwks_uri``; RS256 only, so neither ``none`` nor an HMAC keyed with a public key can pass), the
issuer, the audience (our own client id: a token Google issued to another app must not log anyone in here), the
expiry and issue time (with 60 s of leeway for clock skew), a subject, and the nonce we sent (so a token from
another sign-in cannot be replayed into this one). joserfc (Authlib's JOSE successor) does the cryptography.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from core.accounts.oauth.errors import SignInError

ALGORITHMS = ("RS256",)
LEEWAY_S = 60


def verify_id_token(
    id_token: str,
    jwks: Mapping[str, Any],
    *,
    issuers: tuple[str, ...],
    client_id: str,
    nonce: str,
    label: str,
    now: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The token's claims when every check passes, else SignInError saying which (in the trader's words)."""
    try:
        keys = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
    except (JoseError, KeyError, TypeError, ValueError):
        raise SignInError(f"{label}'s signing keys could not be read; try again later.") from None
    try:
        token = jwt.decode(id_token, keys, algorithms=list(ALGORITHMS))
    except (BadSignatureError, JoseError, ValueError, TypeError):
        raise SignInError(
            f"The answer claiming to come from {label} is not signed by {label}; nothing was changed."
        ) from None
    registry = jwt.JWTClaimsRegistry(
        now=lambda: int(now()),
        leeway=LEEWAY_S,
        iss={"essential": True, "values": list(issuers)},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )
    claims = token.claims
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise SignInError(f"{label}'s answer has expired; sign in again.") from None
    except (InvalidClaimError, MissingClaimError) as exc:
        claim = getattr(exc, "claim", "")
        if claim == "aud":
            raise SignInError(
                f"{label}'s answer was issued to another app, not StratForge; nothing was changed."
            ) from None
        if claim == "iss":
            raise SignInError(f"The answer was not issued by {label}; nothing was changed.") from None
        raise SignInError(f"{label}'s answer is incomplete or not yet valid; nothing was changed.") from None
    if claims.get("azp") not in (None, client_id):  # several audiences: we must be the authorized party
        raise SignInError(f"{label}'s answer was issued to another app, not StratForge; nothing was changed.")
    if not isinstance(claims.get("iat"), int) or claims["iat"] > now() + LEEWAY_S:
        raise SignInError(f"{label}'s answer is dated in the future; check this computer's clock.")
    got = claims.get("nonce")
    if not isinstance(got, str) or not secrets.compare_digest(got.encode(), nonce.encode()):
        raise SignInError(f"{label}'s answer belongs to another sign-in (nonce mismatch); nothing was changed.")
    if not isinstance(claims.get("sub"), str) or not claims["sub"] or len(claims["sub"]) > 255:
        raise SignInError(f"{label}'s answer names no account; nothing was changed.")
    return dict(claims)
