"""Where a remembered login token is kept between runs: the OS keyring (keyring library).

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


class TokenStoreUnavailable(Exception):
    """No OS keyring is available; str() says so in the trader's terms."""


class KeyringTokenStore:
    """One remembered token per database, so a solo and a club database never mix their logins."""

    def __init__(self, database_identity: str) -> None:
        digest = hashlib.sha256(database_identity.encode("utf-8")).hexdigest()[:16]
        self._entry = f"login-token:{digest}"

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
            raise TokenStoreUnavailable(
                "This system has no password keyring, so StratForge cannot remember your login. "
                "You will be asked to log in next time."
            ) from exc

    def clear(self) -> None:
        # Nothing stored, or nowhere to store it: either way nothing is remembered afterwards.
        with contextlib.suppress(PasswordDeleteError, NoKeyringError, KeyringError, RuntimeError):
            keyring.delete_password(SERVICE, self._entry)
