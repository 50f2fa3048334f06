"""Where a remembered login is kept between runs: the OS keyring (keyring library). A solo or plain shared
database remembers a login token; a club with per-trader roles remembers the member's password (see
KeyringClubLoginStore).

keyring talks to the platform's own secret store (Windows Credential Locker,
macOS Keychain, Secret Service on desktop Linux). A headless Linux box has no
backend at all; then "remember me" is simply unavailable and the trader is
told so, rather than the token being written somewhere less safe.
"""

from __future__ import annotations

import contextlib
import hashlib

import keyring
from keyring.errors import KeyringError, NoKeyringError, PasswordDeleteError

SERVICE = "StratForge"
NO_KEYRING = (
    "This system has no password keyring, so StratForge cannot remember your login. "
    "You will be asked to log in next time."
)


class TokenStoreUnavailable(Exception):
    """No OS keyring is available; str() says so in the trader's terms."""


class KeyringTokenStore:
    """One remembered token per database, so a solo and a club database never mix their logins."""

    def __init__(self, database_identity: str) -> None:
        self._entry = f"login-token:{_digest(database_identity)}"

    def available(self) -> bool:
        try:
            keyring.get_password(SERVICE, self._entry)
        except (NoKeyringError, KeyringError, RuntimeError):
            return False
        return True

    def load(self) -> str | None:
        try:
            return keyring.get_password(SERVICE, self._entry)
        except (NoKeyringError, KeyringError, RuntimeError):
            return None

    def save(self, token: str) -> None:
        try:
            keyring.set_password(SERVICE, self._entry, token)
        except (NoKeyringError, KeyringError, RuntimeError) as exc:
            raise TokenStoreUnavailable(NO_KEYRING) from exc

    def clear(self) -> None:
        # Nothing stored, or nowhere to store it: either way nothing is remembered afterwards.
        with contextlib.suppress(PasswordDeleteError, NoKeyringError, KeyringError, RuntimeError):
            keyring.delete_password(SERVICE, self._entry)


class KeyringClubLoginStore:
    """A club member's remembered log-in: the username and the password, in the OS keyring, per database.

    In a club with per-trader roles the password is the credential PostgreSQL checks at every connection, so there
    is no token that could stand in for it: without the password the app cannot open the member's database. Two
    entries: which username is remembered for the database, and that username's password, under a key made of
    both. Nothing falls back to a file: without a keyring nothing is remembered.
    """

    def __init__(self, database_identity: str) -> None:
        self._identity = database_identity
        self._user_entry = f"club-login:{_digest(database_identity)}"

    def _password_entry(self, username: str) -> str:
        return f"club-password:{_digest(self._identity + chr(0) + username.lower())}"

    def available(self) -> bool:
        try:
            keyring.get_password(SERVICE, self._user_entry)
        except (NoKeyringError, KeyringError, RuntimeError):
            return False
        return True

    def load(self) -> tuple[str, str] | None:
        """(username, password) remembered for this database, or None."""
        try:
            username = keyring.get_password(SERVICE, self._user_entry)
            password = keyring.get_password(SERVICE, self._password_entry(username)) if username else None
        except (NoKeyringError, KeyringError, RuntimeError):
            return None
        return (username, password) if username and password else None

    def save(self, username: str, password: str) -> None:
        self.clear()  # another member remembered on this computer is forgotten, password included
        try:
            keyring.set_password(SERVICE, self._password_entry(username), password)
            keyring.set_password(SERVICE, self._user_entry, username)
        except (NoKeyringError, KeyringError, RuntimeError) as exc:
            raise TokenStoreUnavailable(NO_KEYRING) from exc

    def clear(self) -> None:
        with contextlib.suppress(PasswordDeleteError, NoKeyringError, KeyringError, RuntimeError):
            username = keyring.get_password(SERVICE, self._user_entry)
            if username:
                with contextlib.suppress(PasswordDeleteError):
                    keyring.delete_password(SERVICE, self._password_entry(username))
            keyring.delete_password(SERVICE, self._user_entry)


def _digest(identity: str) -> str:
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]
