"""Signing in with Google or Discord, and linking those identities, as the login dialog and Settings use them.

The views are given an ``IdentityService`` (it holds the session factory, so no widget does) and call its blocking
methods on the runner's worker threads: a sign-in waits minutes for the browser, every HTTP call has a timeout, and
setting the ``threading.Event`` the view passed in (from the GUI thread) ends the wait within 0.2 s. Which
providers are offered is configuration (core.accounts.oauth.config): a provider without a client id is shown
disabled, with a tooltip saying how to set it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from core.accounts.club_identity import request_sign_up_with_identity
from core.accounts.identities import IdentityAccounts, LinkedIdentities, username_from
from core.accounts.oauth import (
    GOOGLE,
    PROVIDERS,
    OAuthConfig,
    ProviderEndpoints,
    SignInNotConfigured,
    VerifiedIdentity,
)
from core.accounts.oauth.providers import (
    DISCORD_BASE_URL,
    GOOGLE_DISCOVERY_URL,
    LABELS,
    discord_endpoints,
    google_endpoints,
)
from core.accounts.service import LoginResult
from core.db.club_roles import connected_as_member
from core.db.database import Database

if TYPE_CHECKING:
    import requests

__all__ = ["IdentityService", "LinkedIdentities", "VerifiedIdentity"]


class IdentityService:
    """One database's sign-ins by identity (``sessions`` None: a club, which only files join requests)."""

    def __init__(
        self,
        sessions: sessionmaker[Session] | None,
        config: OAuthConfig,
        *,
        open_browser: Callable[[str], object] | None = None,
        google_discovery_url: str = GOOGLE_DISCOVERY_URL,
        discord_base_url: str = DISCORD_BASE_URL,
        wait_s: float | None = None,
    ) -> None:
        """``open_browser`` None: the system browser; ``wait_s`` None: the flow's five minutes."""
        self._accounts = IdentityAccounts(sessions) if sessions is not None else None
        self._config = config
        self._open_browser = open_browser
        self._google_discovery_url = google_discovery_url
        self._discord_base_url = discord_base_url
        self._wait_s = wait_s

    @classmethod
    def for_database(cls, database: Database, stored: Mapping[str, object] | None = None) -> IdentityService:
        """The service for the app's open database, client ids from the environment or ``stored`` (the settings
        file). Blocking (a club member's connection is recognised by a query): call it on a worker. A club
        member's identities are the admin's business, so their service links nothing (``local`` is False)."""
        config = OAuthConfig.from_env(stored=stored)
        member = database.mode == "external" and connected_as_member(database.engine)
        return cls(None if member else database.session_factory, config)

    @classmethod
    def for_club(cls, stored: Mapping[str, object] | None = None) -> IdentityService:
        """The service of a club's login dialog: sign-ins file join requests; nothing is linked locally."""
        return cls(None, OAuthConfig.from_env(stored=stored))

    # --- what is offered ---
    @property
    def local(self) -> bool:
        """True on a solo or plain shared database (log in and create accounts); False in a club (join requests)."""
        return self._accounts is not None

    @staticmethod
    def providers() -> tuple[str, ...]:
        return PROVIDERS

    @staticmethod
    def label(provider: str) -> str:
        return LABELS[provider]

    def configured(self, provider: str) -> bool:
        return self._config.client(provider) is not None

    def not_configured_reason(self, provider: str) -> str:
        return OAuthConfig.how_to_configure(provider)

    # --- the browser round trip ---
    def sign_in(self, provider: str, cancelled: threading.Event | None = None) -> VerifiedIdentity:
        """Blocking: the browser sign-in with ``provider``; a SignInError subclass when it does not complete
        (SignInCancelled once ``cancelled`` is set: the view makes the event before the call, so a Cancel clicked
        at any moment is seen)."""
        client = self._config.client(provider)
        if client is None:
            raise SignInNotConfigured(self.not_configured_reason(provider))
        from core.accounts.oauth import flow  # Authlib and friends, on first use (see the package's docstring)

        sign_in = flow.OAuthSignIn(
            client,
            self._endpoints(provider),
            self._open_browser or flow.default_open_browser,
            wait_s=self._wait_s if self._wait_s is not None else flow.WAIT_FOR_BROWSER_S,
        )
        return sign_in.run(cancelled)

    def _endpoints(self, provider: str) -> Callable[[requests.Session], ProviderEndpoints]:
        if provider == GOOGLE:
            return lambda http: google_endpoints(http, self._google_discovery_url)
        return lambda http: discord_endpoints(self._discord_base_url)

    # --- log-in and accounts (solo and plain shared databases) ---
    def log_in(self, identity: VerifiedIdentity, remember: bool = False) -> LoginResult | None:
        return self._local().log_in(identity, remember)

    def propose_username(self, identity: VerifiedIdentity) -> str:
        """A free username on this database; in a club (no database yet) one made from the identity alone."""
        if self._accounts is None:
            return username_from(identity)
        return self._accounts.propose_username(identity)

    def sign_up(self, identity: VerifiedIdentity, username: str, remember: bool = False) -> LoginResult:
        return self._local().sign_up(identity, username, remember)

    def linked(self, user_id: uuid.UUID) -> LinkedIdentities:
        return self._local().linked(user_id)

    def link(self, user_id: uuid.UUID, identity: VerifiedIdentity) -> LinkedIdentities:
        return self._local().link(user_id, identity)

    def unlink(self, user_id: uuid.UUID, provider: str) -> LinkedIdentities:
        return self._local().unlink(user_id, provider)

    def set_password(self, user_id: uuid.UUID, password: str) -> None:
        self._local().set_password(user_id, password)

    # --- a club ---
    @staticmethod
    def request_to_join(
        applicant_url: str, name: str, username: str, password: str, identity: VerifiedIdentity
    ) -> None:
        request_sign_up_with_identity(applicant_url, name, username, password, identity)

    def _local(self) -> IdentityAccounts:
        if self._accounts is None:
            raise SignInNotConfigured("In a club, an identity files a join request; the club admin approves it.")
        return self._accounts
