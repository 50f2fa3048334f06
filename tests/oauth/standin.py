"""A local OAuth 2.0 / OpenID Connect provider standing in for Google and Discord, on 127.0.0.1 (an ephemeral port).

As strict as the real services' documentation, never kinder:
- /authorize (Google: ``/google/authorize``; Discord: ``/discord/oauth2/authorize``) refuses an unknown client_id
  and a redirect_uri that is not registered (Google's desktop clients: any port of the loopback IP, RFC 8252 7.3;
  Discord: the exact URI registered, port included) with an error page and no redirect, as both do; it requires
  ``response_type=code`` and a PKCE S256 challenge (anything else is redirected back with
  ``error=invalid_request``), and then answers like a consenting user: a redirect with a fresh code and the state.
- /token checks client authentication (a client registered with a secret must send it: ``invalid_client``), that
  the code exists, is unused and younger than its lifetime, was issued to this client and this exact redirect_uri,
  and that SHA-256 of the ``code_verifier`` is the challenge (each failure ``invalid_grant``, RFC 6749 5.2). A code
  is single-use: its second presentation fails.
- Google's ID token is RS256-signed with a key published at /jwks (kid set); it carries iss, aud, sub, iat, exp,
  nonce, email, email_verified, name, picture. Discord's ``/api/users/@me`` answers a valid bearer token only
  (``401: Unauthorized`` with code 0 otherwise, as Discord's API does).

Attack knobs (each a field, reset by ``reset``): deny the next consent, mint the ID token with another nonce, another
audience, another key, or already expired.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

GOOGLE_CLIENT_ID = "1234-standin.apps.googleusercontent.com"
GOOGLE_CLIENT_SECRET = "GOCSPX-standin-desktop-secret"
DISCORD_CLIENT_ID = "987654321098765432"
CODE_LIFETIME_S = 60
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}\Z")
_LOOPBACK_ANY_PORT = re.compile(r"^http://127\.0\.0\.1(:\d{1,5})?(/[^?#]*)?\Z")


@dataclass
class Person:
    """The account the stand-in's "browser user" is signed in to at the provider."""

    google_sub: str = "110248495921238986420"
    discord_id: str = "80351110224678912"
    email: str = "ann.trader@example.com"
    email_verified: bool = True
    name: str = "Ann Trader"


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    nonce: str | None
    issued: float
    provider: str
    used: bool = False


@dataclass
class Knobs:
    deny: bool = False
    nonce: str | None = None  # the ID token's nonce instead of the one asked for
    audience: str | None = None
    sign_with_other_key: bool = False
    expired: bool = False


@dataclass
class StandIn:
    host: str = "127.0.0.1"
    person: Person = field(default_factory=Person)
    knobs: Knobs = field(default_factory=Knobs)
    google_secret_required: bool = True
    discord_redirect: str | None = None  # the exact redirect URI registered with the Discord app
    now: Any = time.time

    def __post_init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "standin-1", "use": "sig", "alg": "RS256"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "standin-1", "use": "sig", "alg": "RS256"})
        self._grants: dict[str, _Grant] = {}
        self._tokens: dict[str, str] = {}  # access token -> provider
        self._lock = threading.Lock()
        self.token_requests = 0
        standin = self

        class Handler(_Handler):
            owner = standin

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def discovery_url(self) -> str:
        return f"{self.base_url}/google/.well-known/openid-configuration"

    @property
    def discord_base_url(self) -> str:
        return f"{self.base_url}/discord"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/google"

    def start(self) -> StandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        self.knobs = Knobs()
        self.person = Person()
        self.discord_redirect = None

    # --- the provider's logic -------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["plain", "S256"],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}

    def authorize(self, provider: str, query: dict[str, str]) -> tuple[int, str]:
        """(status, Location or error page text)."""
        client_id = query.get("client_id", "")
        expected = GOOGLE_CLIENT_ID if provider == "google" else DISCORD_CLIENT_ID
        if client_id != expected:
            return 401, "Error 401: invalid_client. The OAuth client was not found."
        redirect_uri = query.get("redirect_uri", "")
        if provider == "google":
            registered = bool(_LOOPBACK_ANY_PORT.match(redirect_uri))
        else:
            registered = self.discord_redirect is not None and redirect_uri == self.discord_redirect
        if not registered:
            return 400, "Error 400: redirect_uri_mismatch. Invalid OAuth2 redirect_uri."
        state = query.get("state")

        def back(**params: str) -> tuple[int, str]:
            if state is not None:
                params["state"] = state
            return 302, f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(params)}"

        if query.get("response_type") != "code":
            return back(error="unsupported_response_type")
        challenge = query.get("code_challenge", "")
        if query.get("code_challenge_method") != "S256" or not re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge):
            return back(error="invalid_request", error_description="code_challenge_method S256 is required")
        scope = query.get("scope", "")
        if provider == "google" and "openid" not in scope.split():
            return back(error="invalid_scope")
        if self.knobs.deny:
            return back(error="access_denied")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[code] = _Grant(
                client_id, redirect_uri, challenge, scope, query.get("nonce"), self.now(), provider
            )
        return back(code=code)

    def token(self, provider: str, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.token_requests += 1
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        client_id, secret = basic if basic else (form.get("client_id", ""), form.get("client_secret"))
        if provider == "google":
            if client_id != GOOGLE_CLIENT_ID or (self.google_secret_required and secret != GOOGLE_CLIENT_SECRET):
                return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        elif client_id != DISCORD_CLIENT_ID:
            return 401, {"error": "invalid_client"}
        code = form.get("code", "")
        with self._lock:
            grant = self._grants.get(code)
            if grant is None or grant.used:
                return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
            grant.used = True  # single use, whatever follows
        if grant.provider != provider or grant.client_id != client_id:
            return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
        if self.now() - grant.issued > CODE_LIFETIME_S:
            return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
        verifier = form.get("code_verifier", "")
        if not _VERIFIER.match(verifier):
            return 400, {"error": "invalid_grant", "error_description": "Missing code verifier."}
        if s256(verifier) != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
        access = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[access] = provider
        answer: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 3599,
            "scope": grant.scope,
        }
        if provider == "google" and "openid" in grant.scope.split():
            answer["id_token"] = self.id_token(grant.nonce)
        return 200, answer

    def id_token(self, nonce: str | None) -> str:
        now = int(self.now())
        issued = now - 7200 if self.knobs.expired else now
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "azp": self.knobs.audience or GOOGLE_CLIENT_ID,
            "aud": self.knobs.audience or GOOGLE_CLIENT_ID,
            "sub": self.person.google_sub,
            "email": self.person.email,
            "email_verified": self.person.email_verified,
            "name": self.person.name,
            "picture": "https://lh3.googleusercontent.com/a/standin",
            "iat": issued,
            "exp": issued + 3600,
        }
        if self.knobs.nonce is not None or nonce is not None:
            claims["nonce"] = self.knobs.nonce if self.knobs.nonce is not None else nonce
        key = self.other_key if self.knobs.sign_with_other_key else self.key
        return jwt.encode({"alg": "RS256", "kid": "standin-1", "typ": "JWT"}, claims, key)

    def bearer(self, header: str | None, provider: str) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        with self._lock:
            return self._tokens.get(header[len("Bearer ") :]) == provider

    def discord_me(self) -> dict[str, Any]:
        return {
            "id": self.person.discord_id,
            "username": "ann_trader",
            "global_name": self.person.name,
            "avatar": "a_1269e74af4df7417b13759eae50c83dc",
            "email": self.person.email,
            "verified": self.person.email_verified,
        }


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


class _Handler(BaseHTTPRequestHandler):
    owner: StandIn

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: Any, *, location: str | None = None, ctype: str = "application/json") -> None:
        data = json.dumps(body).encode() if ctype == "application/json" else str(body).encode()
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        owner = self.owner
        if parts.path == "/google/.well-known/openid-configuration":
            self._send(200, owner.discovery())
        elif parts.path == "/google/jwks":
            self._send(200, owner.jwks())
        elif parts.path in ("/google/authorize", "/discord/oauth2/authorize"):
            provider = "google" if parts.path.startswith("/google") else "discord"
            status, where = owner.authorize(provider, query)
            if status == 302:
                self._send(302, "", location=where, ctype="text/plain")
            else:
                self._send(status, where, ctype="text/html")
        elif parts.path == "/google/userinfo":
            if not owner.bearer(self.headers.get("Authorization"), "google"):
                self._send(401, {"error": "invalid_request"})
            else:
                p = owner.person
                self._send(200, {"sub": p.google_sub, "email": p.email, "email_verified": p.email_verified})
        elif parts.path == "/discord/api/users/@me":
            if not owner.bearer(self.headers.get("Authorization"), "discord"):
                self._send(401, {"message": "401: Unauthorized", "code": 0})
            else:
                self._send(200, owner.discord_me())
        else:
            self._send(404, {"error": "not_found"})

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        if parts.path not in ("/google/token", "/discord/api/oauth2/token"):
            self._send(404, {"error": "not_found"})
            return
        if not (self.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            self._send(400, {"error": "invalid_request"})
            return
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        basic = None
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            basic = (user, password)
        provider = "google" if parts.path.startswith("/google") else "discord"
        status, body = self.owner.token(provider, form, basic)
        self._send(status, body)
