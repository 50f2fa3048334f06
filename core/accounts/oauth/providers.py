"""Where each provider's endpoints are: Google's from its OpenID Connect discovery document, Discord's fixed.

Google publishes its endpoints and signing keys (``jwks_uri``) in a discovery document, so they are read from it at
each sign-in rather than written here; Discord has OAuth2 only (no ID token, no discovery), so its three endpoints
are constants under ``https://discord.com``. Both base addresses are parameters, so tests point them at a local
stand-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from core.accounts.oauth.errors import SignInError

if TYPE_CHECKING:
    import requests

GOOGLE, DISCORD = "google", "discord"
PROVIDERS = (GOOGLE, DISCORD)  # the one list: config, identity columns and buttons all follow it
LABELS = {GOOGLE: "Google", DISCORD: "Discord"}
GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
DISCORD_BASE_URL = "https://discord.com"
# Google's ID tokens name either form as their issuer (Google's OpenID Connect documentation, "Validating an ID
# token"): both are accepted when the discovery document names the first.
_GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")


@dataclass(frozen=True)
class ProviderEndpoints:
    """One provider's endpoints and what to ask it for. ``jwks_uri`` set means OpenID Connect (an ID token)."""

    provider: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    scopes: tuple[str, ...]
    issuers: tuple[str, ...] = ()
    jwks_uri: str | None = None

    @property
    def label(self) -> str:
        return LABELS[self.provider]

    @property
    def is_oidc(self) -> bool:
        return self.jwks_uri is not None


def discord_endpoints(base_url: str = DISCORD_BASE_URL) -> ProviderEndpoints:
    """Discord's documented OAuth2 endpoints; ``identify email`` gives the user's id, name, avatar and email."""
    base = _checked_base(base_url, DISCORD)
    return ProviderEndpoints(
        provider=DISCORD,
        authorization_endpoint=f"{base}/oauth2/authorize",
        token_endpoint=f"{base}/api/oauth2/token",
        userinfo_endpoint=f"{base}/api/users/@me",
        scopes=("identify", "email"),
    )


def google_endpoints(
    http: requests.Session, discovery_url: str = GOOGLE_DISCOVERY_URL, *, timeout: float = 10.0
) -> ProviderEndpoints:
    """Google's endpoints from its discovery document (one GET, with a timeout)."""
    import requests  # here, not at the top: see core.accounts.oauth's docstring

    _checked_base(discovery_url, GOOGLE)
    try:
        response = http.get(discovery_url, timeout=timeout)
        response.raise_for_status()
        doc: Any = response.json()
    except (requests.RequestException, ValueError):
        raise SignInError("Could not reach Google to start the sign-in. Check your internet connection.") from None
    needed = ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), str) and doc[k] for k in needed):
        raise SignInError("Google's sign-in configuration could not be read; try again later.")
    for key in needed[1:]:
        _checked_base(doc[key], GOOGLE)
    issuer = doc["issuer"]
    issuers = _GOOGLE_ISSUERS if issuer == _GOOGLE_ISSUERS[0] else (issuer,)
    return ProviderEndpoints(
        provider=GOOGLE,
        authorization_endpoint=doc["authorization_endpoint"],
        token_endpoint=doc["token_endpoint"],
        userinfo_endpoint=doc["userinfo_endpoint"],
        scopes=("openid", "email", "profile"),
        issuers=issuers,
        jwks_uri=doc["jwks_uri"],
    )


def _checked_base(url: str, provider: str) -> str:
    """``url`` without a trailing slash, if it is https (or plain http to this machine's loopback, for a local
    stand-in): a code or token never travels in clear over a network."""
    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
    if not (parts.scheme == "https" or (parts.scheme == "http" and loopback)) or not parts.hostname:
        raise SignInError(f"The {LABELS[provider]} sign-in address {url!r} is not an https address.")
    return url.rstrip("/")
