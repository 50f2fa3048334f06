"""Checks of what connects StratForge to the outside: the shared database's URL and the Alpaca and Gemini keys.

The settings dialog shows their verdicts under each tab; a command line or a set-up script can ask the same
questions and get the same sentences. The checks here need no I/O (they run when OK is pressed, before anything
is saved), except ``read_keys``, which asks the OS keyring and therefore runs on a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.accounts.secrets import (
    AlpacaKeys,
    GeminiKey,
    SecretStore,
    SecretsUnavailable,
    check_alpaca_keys,
    check_gemini_key,
)

POSTGRESQL_BACKENDS = ("postgresql", "postgres")
URL_EXAMPLE = "postgresql://user:password@host:5432/stratforge"


def check_database_url(text: str) -> str | None:
    """The URL to use (stripped), None for the embedded database (empty field), or ValueError for the trader.

    Any PostgreSQL driver name is accepted because core.db.engine.normalize_url always switches it to
    psycopg 3; anything that is not PostgreSQL is refused, since the schema and the ledger's locking
    are PostgreSQL's."""
    text = text.strip()
    if not text:
        return None
    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as exc:
        raise ValueError(f"That is not a database URL. It should look like {URL_EXAMPLE}") from exc
    backend = url.get_backend_name()
    if backend not in POSTGRESQL_BACKENDS:
        raise ValueError(
            f"StratForge needs a PostgreSQL database; “{backend}” is not supported. Use a URL such as {URL_EXAMPLE}"
        )
    return text


@dataclass(frozen=True)
class StoredKeys:
    """The keys as they are now, read in one call. ``problem``: the keyring failed mid-read."""

    keyring_available: bool
    alpaca: AlpacaKeys | None
    gemini: GeminiKey | None
    problem: str | None = None


def read_keys(secrets: SecretStore) -> StoredKeys:
    """The stored (or environment) keys (blocking: the keyring). Environment keys are readable even without a
    keyring; a keyring that fails while being read is reported as unavailable, with why."""
    available = secrets.available()
    alpaca: AlpacaKeys | None = None
    gemini: GeminiKey | None = None
    problem: str | None = None
    try:
        if available or secrets.alpaca_from_environment():
            alpaca = secrets.alpaca_keys()
        if available or secrets.gemini_from_environment():
            gemini = secrets.gemini_key()
    except SecretsUnavailable as exc:
        available, problem = False, str(exc)
    return StoredKeys(available, alpaca, gemini, problem)


@dataclass(frozen=True)
class KeyChange:
    """What saving the typed key(s) would do: ``store`` new ones, ``clear`` the stored ones, or neither."""

    store: tuple[str, ...] | None = None
    clear: bool = False


def alpaca_change(key_id: str, secret: str, stored: tuple[str, str] | None) -> KeyChange:
    """The Alpaca pair as typed against the stored one; ValueError (a sentence) for half a pair or a bad key.
    Both fields empty means "remove them"."""
    key_id, secret = key_id.strip(), secret.strip()
    if not key_id and not secret:
        return KeyChange(clear=stored is not None)
    if not key_id or not secret:
        raise ValueError("Enter both the Alpaca key ID and the secret key, or press Clear to remove them.")
    cleaned = check_alpaca_keys(key_id, secret)
    return KeyChange(store=cleaned if cleaned != stored else None)


def gemini_change(key: str, stored: str | None) -> KeyChange:
    """The Gemini key as typed against the stored one; ValueError (a sentence) for a bad key. Empty: remove it."""
    key = key.strip()
    if not key:
        return KeyChange(clear=stored is not None)
    cleaned = check_gemini_key(key)
    return KeyChange(store=(cleaned,) if cleaned != stored else None)
