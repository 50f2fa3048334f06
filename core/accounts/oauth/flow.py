"""One sign-in with a provider: the system browser, the loopback redirect, PKCE, and the identity it proves.

RFC 8252 (OAuth 2.0 for Native Apps) in order: bind the loopback receiver; make a fresh ``state`` (CSRF), PKCE
verifier (S256 challenge: a code intercepted on its way to the loopback is useless without it) and, for OpenID
Connect, ``nonce``; open the authorization URL in the trader's own browser (where their Google or Discord session
and password manager are, and where StratForge never sees their password); wait for the one redirect; check
``state``; exchange the code with the verifier; then prove who it is: Google's ID token verified against Google's
published keys (id_token.py), Discord's ``GET /users/@me`` with the access token. Authlib's ``OAuth2Session`` builds
the authorization URL and makes the token request; every HTTP call has a timeout.

The whole run blocks (the browser round trip can take minutes): call it on a worker thread, and set ``cancelled``
to abandon it from the GUI. Nothing here touches the database.
"""

from __future__ import annotations

import secrets
import threading
import time
import webbrowser
from collections.abc import Callable
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from core.accounts.oauth.config import OAuthClient
from core.accounts.oauth.errors import SignInCancelled, SignInError
from core.accounts.oauth.id_token import verify_id_token
from core.accounts.oauth.identity import VerifiedIdentity
from core.accounts.oauth.loopback import LoopbackReceiver
from core.accounts.oauth.providers import DISCORD, ProviderEndpoints

HTTP_TIMEOUT_S = 10.0
WAIT_FOR_BROWSER_S = 300.0  # five minutes to choose an account and consent
DISCORD_CDN = "https://cdn.discordapp.com"


def default_open_browser(url: str) -> bool:
    return webbrowser.open(url, new=1, autoraise=True)


class OAuthSignIn:
    """The sign-in with one configured provider. ``endpoints`` loads the provider's endpoints (Google's discovery
    document is fetched per sign-in, on the worker thread); ``open_browser`` is ``webbrowser.open`` in the app."""

    def __init__(
        self,
        client: OAuthClient,
        endpoints: Callable[[requests.Session], ProviderEndpoints],
        open_browser: Callable[[str], object] = default_open_browser,
        *,
        http_timeout_s: float = HTTP_TIMEOUT_S,
        wait_s: float = WAIT_FOR_BROWSER_S,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self._endpoints = endpoints
        self._open_browser = open_browser
        self._http_timeout_s = http_timeout_s
        self._wait_s = wait_s
        self._now = now

    @property
    def provider(self) -> str:
        return self.client.provider

    def run(self, cancelled: threading.Event | None = None) -> VerifiedIdentity:
        """The verified identity, or a SignInError subclass saying why not (cancelled, timed out, refused)."""
        with requests.Session() as http:
            endpoints = self._endpoints(http)
            label = endpoints.label
            with LoopbackReceiver(port=self.client.redirect_port) as receiver:
                state = secrets.token_urlsafe(32)
                verifier = secrets.token_urlsafe(64)  # 86 characters: RFC 7636 allows 43 to 128
                nonce = secrets.token_urlsafe(32) if endpoints.is_oidc else None
                oauth = OAuth2Session(
                    client_id=self.client.client_id,
                    client_secret=self.client.client_secret,
                    scope=" ".join(endpoints.scopes),
                    redirect_uri=receiver.redirect_uri,
                    code_challenge_method="S256",
                    token_endpoint_auth_method="client_secret_post" if self.client.client_secret else "none",
                    default_timeout=self._http_timeout_s,
                )
                with oauth:
                    # Google: let a trader with several Google accounts choose which one signs in.
                    extra: dict[str, str] = {"nonce": nonce, "prompt": "select_account"} if nonce else {}
                    url, _ = oauth.create_authorization_url(
                        endpoints.authorization_endpoint, state=state, code_verifier=verifier, **extra
                    )
                    if cancelled is not None and cancelled.is_set():
                        raise SignInCancelled("Sign-in cancelled.")
                    if self._open_browser(url) is False:
                        raise SignInError("Could not open your web browser for the sign-in.")
                    answer = receiver.wait(self._wait_s, cancelled)
                    code = _code_from(answer, state, label)
                    token = self._exchange(oauth, endpoints, code, verifier, label)
                    if endpoints.is_oidc:
                        assert nonce is not None
                        return self._google_identity(http, endpoints, token, nonce)
                    return self._discord_identity(oauth, endpoints, label)

    def _exchange(
        self, oauth: OAuth2Session, endpoints: ProviderEndpoints, code: str, verifier: str, label: str
    ) -> dict[str, Any]:
        try:
            token = oauth.fetch_token(
                endpoints.token_endpoint, grant_type="authorization_code", code=code, code_verifier=verifier
            )
        except OAuthError as exc:
            raise SignInError(
                f"{label} refused to complete the sign-in ({_code(exc.error)}); nothing was changed. Try again."
            ) from None
        except (requests.RequestException, ValueError):
            raise SignInError(f"Could not reach {label} to complete the sign-in; nothing was changed.") from None
        return dict(token)

    def _google_identity(
        self, http: requests.Session, endpoints: ProviderEndpoints, token: dict[str, Any], nonce: str
    ) -> VerifiedIdentity:
        label = endpoints.label
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInError(f"{label} sent no ID token; nothing was changed.")
        assert endpoints.jwks_uri is not None
        jwks = _get_json(http, endpoints.jwks_uri, self._http_timeout_s, label)
        claims = verify_id_token(
            id_token,
            jwks,
            issuers=endpoints.issuers,
            client_id=self.client.client_id,
            nonce=nonce,
            label=label,
            now=self._now,
        )
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        return VerifiedIdentity(
            provider=endpoints.provider,
            subject=claims["sub"],
            email=email.lower() if email else None,
            email_verified=claims.get("email_verified") is True,
            name=_text(claims.get("name")),
            avatar_url=_text(claims.get("picture")),
        )

    def _discord_identity(self, oauth: OAuth2Session, endpoints: ProviderEndpoints, label: str) -> VerifiedIdentity:
        try:
            response = oauth.get(endpoints.userinfo_endpoint)
            response.raise_for_status()
            user = response.json()
        except (requests.RequestException, ValueError, OAuthError):
            raise SignInError(f"Could not read your {label} profile; nothing was changed.") from None
        subject = user.get("id") if isinstance(user, dict) else None
        if not isinstance(subject, str) or not subject.isdigit() or len(subject) > 255:
            raise SignInError(f"{label} sent no user id; nothing was changed.")
        email = user.get("email") if isinstance(user.get("email"), str) else None
        avatar = user.get("avatar")
        return VerifiedIdentity(
            provider=DISCORD,
            subject=subject,
            email=email.lower() if email else None,
            email_verified=user.get("verified") is True,
            name=_text(user.get("global_name")) or _text(user.get("username")),
            avatar_url=f"{DISCORD_CDN}/avatars/{subject}/{avatar}.png" if isinstance(avatar, str) else None,
        )


def _code_from(answer: dict[str, str], state: str, label: str) -> str:
    """The authorization code of a redirect whose ``state`` is ours, else why not (RFC 6749 4.1.2)."""
    got_state = answer.get("state", "")
    if not secrets.compare_digest(got_state.encode(), state.encode()):
        raise SignInError(
            f"The answer from {label} did not match this sign-in (state mismatch); nothing was changed. Try again."
        )
    error = answer.get("error")
    if error == "access_denied":
        raise SignInCancelled(f"The sign-in was cancelled at {label}.")
    if error is not None:
        raise SignInError(f"{label} refused the sign-in ({_code(error)}).")
    code = answer.get("code", "")
    if not code:
        raise SignInError(f"{label} sent no authorization code; nothing was changed.")
    return code


def _get_json(http: requests.Session, url: str, timeout: float, label: str) -> dict[str, Any]:
    try:
        response = http.get(url, timeout=timeout)
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError):
        raise SignInError(f"Could not reach {label} to check its answer; nothing was changed.") from None
    if not isinstance(data, dict):
        raise SignInError(f"{label}'s signing keys could not be read; try again later.")
    return data


def _code(error: object) -> str:
    """A provider's error code as shown: RFC 6749's codes are short ASCII words; anything else is not echoed."""
    text = str(error or "")
    return text if text.replace("_", "").isalnum() and len(text) <= 40 else "error"


def _text(value: object) -> str | None:
    return value.strip()[:255] or None if isinstance(value, str) else None
