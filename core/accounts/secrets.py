"""API keys (Alpaca key id + secret, Gemini) kept in the OS keyring, never in a plain file.

The keyring entries live under the same service name as the remembered login token
(``StratForge``), one entry per secret. Unlike the login token they are not tied to a
database: they belong to the person at this computer, whichever database the app opens.

Environment variables win over the keyring when set (alpaca-py's own ``APCA_API_KEY_ID`` /
``APCA_API_SECRET_KEY``, Google's ``GEMINI_API_KEY``), so a CI job, a headless server or a
trader who prefers a shell profile can supply keys without a keyring; the returned value
says where it came from in ``source``.

A headless Linux box has no keyring backend at all. Then reading (with no environment
variable set), saving or clearing raises `SecretsUnavailable`, whose message tells the
trader to use the environment instead. There is deliberately no fallback to a file: a
plain-text key on disk is exactly what this module exists to avoid.

Secret values never appear in log lines, exception messages or ``repr``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import keyring
from keyring.errors import KeyringError, NoKeyringError, PasswordDeleteError

from core.accounts.token_store import SERVICE
from core.config import ALPACA_KEY_ENV, ALPACA_SECRET_ENV

log = logging.getLogger(__name__)

GEMINI_KEY_ENV = "GEMINI_API_KEY"

# Keyring usernames under SERVICE; the login token uses "login-token:<digest>".
ALPACA_KEY_ID_ENTRY = "alpaca-key-id"
ALPACA_SECRET_ENTRY = "alpaca-secret-key"
GEMINI_KEY_ENTRY = "gemini-api-key"

Source = Literal["environment", "keyring"]

# Plausible lengths, generous on both sides: Alpaca key ids are 20 characters today and secrets 40,
# Gemini keys 39. The bounds catch a truncated paste or a whole paragraph, not a new key format.
_ALPACA_KEY_ID_LEN = (16, 64)
_ALPACA_SECRET_LEN = (24, 128)
_GEMINI_KEY_LEN = (20, 200)

# Everything keyring raises when it cannot reach a store (RuntimeError: some backends' D-Bus failures).
_KEYRING_FAILURES = (NoKeyringError, KeyringError, RuntimeError)


class SecretsUnavailable(Exception):
    """No usable OS keyring; str() explains it in the trader's terms, including the environment fallback."""


def _mask(value: str) -> str:
    """Only the last 4 characters, enough to tell two keys apart on screen."""
    return "…" + value[-4:] if len(value) > 4 else "…"


@dataclass(frozen=True)
class AlpacaKeys:
    """Alpaca API credentials; repr shows only the key id's last 4 characters, never the secret."""

    key_id: str
    secret: str = field(repr=False)
    source: Source = "keyring"

    def __repr__(self) -> str:
        return f"AlpacaKeys(key_id={_mask(self.key_id)!r}, secret='***', source={self.source!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class GeminiKey:
    """A Gemini API key; a dataclass rather than a bare str so that it can say where it came from and
    so that repr (tracebacks, debug logs) never prints it."""

    key: str
    source: Source = "keyring"

    def __repr__(self) -> str:
        return f"GeminiKey(key={_mask(self.key)!r}, source={self.source!r})"

    __str__ = __repr__


def _check(value: str, what: str, bounds: tuple[int, int]) -> str:
    """Strip surrounding whitespace (a paste often carries a newline) and refuse anything that cannot be a key.

    Messages name the field and its length, never the value."""
    if not isinstance(value, str):
        raise ValueError(f"The {what} must be text.")
    value = value.strip()
    if not value:
        raise ValueError(f"The {what} is empty.")
    if any(ch.isspace() for ch in value):
        raise ValueError(f"The {what} contains spaces or line breaks; copy it again without them.")
    if not value.isascii() or not value.isprintable():
        raise ValueError(f"The {what} contains characters that API keys never have; copy it again.")
    low, high = bounds
    if len(value) < low:
        raise ValueError(f"The {what} is too short ({len(value)} characters); it may have been cut off when copied.")
    if len(value) > high:
        raise ValueError(f"The {what} is too long ({len(value)} characters); check that only the key was copied.")
    return value


def check_alpaca_keys(key_id: str, secret: str) -> tuple[str, str]:
    """The cleaned key id and secret, or ValueError with a message for the trader."""
    return (
        _check(key_id, "Alpaca key ID", _ALPACA_KEY_ID_LEN),
        _check(secret, "Alpaca secret key", _ALPACA_SECRET_LEN),
    )


def check_gemini_key(key: str) -> str:
    """The cleaned Gemini key, or ValueError with a message for the trader."""
    return _check(key, "Gemini API key", _GEMINI_KEY_LEN)


DATABASE_URL_ENTRY = "database-url"

_UNAVAILABLE = (
    "This system has no password keyring, so StratForge cannot store API keys. "
    "You can still give them through environment variables: "
    f"{ALPACA_KEY_ENV} and {ALPACA_SECRET_ENV} for Alpaca, {GEMINI_KEY_ENV} for Gemini."
)


class SecretStore:
    """Reads and writes the app's API keys; every call may block (D-Bus, Keychain), so the GUI runs it
    on a worker thread.

    ``environ`` defaults to the live process environment, read at each call.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ if environ is not None else os.environ

    # --- availability ---
    def available(self) -> bool:
        """True when a keyring backend answers (reading a key that may not exist is the cheapest probe)."""
        try:
            keyring.get_password(SERVICE, GEMINI_KEY_ENTRY)
        except _KEYRING_FAILURES:
            return False
        return True

    @property
    def unavailable_message(self) -> str:
        return _UNAVAILABLE

    # --- Alpaca ---
    def alpaca_from_environment(self) -> bool:
        """Both Alpaca variables are set; then they win and the keyring entries are ignored.

        Only one of the two set does not count: a key id from one place and a secret from another
        would fail at the broker with a confusing message."""
        return bool(self._env(ALPACA_KEY_ENV) and self._env(ALPACA_SECRET_ENV))

    def alpaca_keys(self) -> AlpacaKeys | None:
        """The environment's keys if set, else the keyring's; None when neither has a complete pair."""
        if self.alpaca_from_environment():
            return AlpacaKeys(self._env(ALPACA_KEY_ENV), self._env(ALPACA_SECRET_ENV), "environment")
        key_id = self._get(ALPACA_KEY_ID_ENTRY)
        secret = self._get(ALPACA_SECRET_ENTRY)
        if not key_id or not secret:
            return None
        return AlpacaKeys(key_id, secret, "keyring")

    def set_alpaca_keys(self, key_id: str, secret: str) -> AlpacaKeys:
        """Validate and store both; the secret is written first so a key id is never stored without one."""
        key_id, secret = check_alpaca_keys(key_id, secret)
        self._set(ALPACA_SECRET_ENTRY, secret)
        self._set(ALPACA_KEY_ID_ENTRY, key_id)
        keys = AlpacaKeys(key_id, secret, "keyring")
        log.info("Alpaca keys saved to the OS keyring (key id %s)", _mask(key_id))
        return keys

    def clear_alpaca_keys(self) -> None:
        self._delete(ALPACA_KEY_ID_ENTRY)
        self._delete(ALPACA_SECRET_ENTRY)
        log.info("Alpaca keys removed from the OS keyring")

    # --- Gemini ---
    def gemini_from_environment(self) -> bool:
        return bool(self._env(GEMINI_KEY_ENV))

    def gemini_key(self) -> GeminiKey | None:
        """The environment's key if set, else the keyring's; None when neither has one."""
        if self.gemini_from_environment():
            return GeminiKey(self._env(GEMINI_KEY_ENV), "environment")
        key = self._get(GEMINI_KEY_ENTRY)
        return GeminiKey(key, "keyring") if key else None

    def set_gemini_key(self, key: str) -> GeminiKey:
        key = check_gemini_key(key)
        self._set(GEMINI_KEY_ENTRY, key)
        log.info("Gemini API key saved to the OS keyring (%s)", _mask(key))
        return GeminiKey(key, "keyring")

    def clear_gemini_key(self) -> None:
        self._delete(GEMINI_KEY_ENTRY)
        log.info("Gemini API key removed from the OS keyring")

    # --- the shared database URL (it may carry a password, so it lives in the keyring too) ---
    def database_url(self) -> str | None:
        """The shared database chosen in Settings; None for the embedded one (or no keyring)."""
        try:
            return self._get(DATABASE_URL_ENTRY) or None
        except SecretsUnavailable:
            return None

    def set_database_url(self, url: str | None) -> None:
        """Remember the shared database for the next start (None: back to the embedded one)."""
        if url:
            self._set(DATABASE_URL_ENTRY, url)
        else:
            self._delete(DATABASE_URL_ENTRY)

    # --- keyring access ---
    def _env(self, name: str) -> str:
        return (self._environ.get(name) or "").strip()

    def _get(self, entry: str) -> str | None:
        try:
            return keyring.get_password(SERVICE, entry)
        except _KEYRING_FAILURES as exc:
            raise SecretsUnavailable(_UNAVAILABLE) from exc

    def _set(self, entry: str, value: str) -> None:
        try:
            keyring.set_password(SERVICE, entry, value)
        except _KEYRING_FAILURES as exc:
            raise SecretsUnavailable(_UNAVAILABLE) from exc

    def _delete(self, entry: str) -> None:
        try:
            keyring.delete_password(SERVICE, entry)
        except PasswordDeleteError:
            pass  # nothing stored: cleared already
        except _KEYRING_FAILURES as exc:
            # Not suppressed (unlike the login token): a locked or refusing keyring may still hold the key,
            # and the trader who pressed "Clear" must not be told it is gone.
            raise SecretsUnavailable(_UNAVAILABLE) from exc
