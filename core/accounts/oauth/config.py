"""Which OAuth client StratForge is for each provider: configuration, never code.

A desktop app cannot keep a secret (anyone can read it out of the installer), so none ships: the client ids come
from the environment (``STRATFORGE_GOOGLE_CLIENT_ID``, ``STRATFORGE_DISCORD_CLIENT_ID``), else from the app's
settings file (``oauth/google_client_id``, ``oauth/discord_client_id``, ``oauth/discord_redirect_port``: ids and
ports only, never a secret, since that file is plain text), PKCE stands in for the
client secret (RFC 8252 section 8.5), and the optional ``STRATFORGE_GOOGLE_CLIENT_SECRET`` is for a Google
"Desktop app" client whose token endpoint still asks for one (Google documents that such a secret is not treated
as secret). With no client id a provider is simply not offered.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.accounts.oauth.providers import DISCORD, GOOGLE, LABELS, PROVIDERS

CLIENT_ID_ENV = {GOOGLE: "STRATFORGE_GOOGLE_CLIENT_ID", DISCORD: "STRATFORGE_DISCORD_CLIENT_ID"}
CLIENT_SECRET_ENV = {GOOGLE: "STRATFORGE_GOOGLE_CLIENT_SECRET", DISCORD: "STRATFORGE_DISCORD_CLIENT_SECRET"}
# A provider that matches redirect URIs exactly, port included (Discord), needs a fixed port registered with it.
REDIRECT_PORT_ENV = {GOOGLE: "STRATFORGE_GOOGLE_REDIRECT_PORT", DISCORD: "STRATFORGE_DISCORD_REDIRECT_PORT"}
# The same in the settings file (QSettings keys), below the environment.
CLIENT_ID_SETTING = {p: f"oauth/{p}_client_id" for p in PROVIDERS}
REDIRECT_PORT_SETTING = {p: f"oauth/{p}_redirect_port" for p in PROVIDERS}


@dataclass(frozen=True)
class OAuthClient:
    """One provider's client registration as configured. ``redirect_port`` 0: any free port (RFC 8252 7.3)."""

    provider: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    redirect_port: int = 0

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ValueError(f"unknown provider {self.provider!r}")
        if not self.client_id:
            raise ValueError("a client id is required")
        if not 0 <= self.redirect_port <= 65535:
            raise ValueError("the redirect port must be 0 to 65535")


@dataclass(frozen=True)
class OAuthConfig:
    """The configured clients, by provider; a provider without one is not offered."""

    clients: Mapping[str, OAuthClient]

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, stored: Mapping[str, object] | None = None
    ) -> OAuthConfig:
        """The clients configured in ``environ`` (default: the process environment), else in ``stored`` (the
        settings file's values, by key)."""
        env = os.environ if environ is None else environ
        saved = stored or {}
        clients: dict[str, OAuthClient] = {}
        for provider in PROVIDERS:
            client_id = (env.get(CLIENT_ID_ENV[provider]) or str(saved.get(CLIENT_ID_SETTING[provider]) or "")).strip()
            if not client_id:
                continue
            port = (
                env.get(REDIRECT_PORT_ENV[provider]) or str(saved.get(REDIRECT_PORT_SETTING[provider]) or "")
            ).strip()
            clients[provider] = OAuthClient(
                provider,
                client_id,
                (env.get(CLIENT_SECRET_ENV[provider]) or "").strip() or None,
                int(port) if port.isdigit() and int(port) <= 65535 else 0,
            )
        return cls(clients)

    def client(self, provider: str) -> OAuthClient | None:
        return self.clients.get(provider)

    @staticmethod
    def how_to_configure(provider: str) -> str:
        """The tooltip of a button whose provider has no client id."""
        return (
            f"Sign-in with {LABELS[provider]} is not configured: set {CLIENT_ID_ENV[provider]} (or "
            f"{CLIENT_ID_SETTING[provider]} in the settings file) to the client id of your {LABELS[provider]} "
            "OAuth app and restart StratForge."
        )
