"""Where the Gemini key comes from: :class:`core.accounts.secrets.SecretStore` (``GEMINI_API_KEY`` first, then the OS
keyring), read only when a generator is built, never cached in a file or shown in a message."""

from __future__ import annotations

from core.accounts.secrets import GEMINI_KEY_ENV, SecretStore, SecretsUnavailable
from core.ai.errors import NoGeminiKey


def configured_gemini_key(store: SecretStore | None = None) -> str | None:
    """The Gemini key, or None when none is set (or there is no keyring and no environment variable).

    Blocks on the keyring (D-Bus, Keychain): call it off the GUI thread."""
    try:
        found = (store or SecretStore()).gemini_key()
    except SecretsUnavailable:
        return None
    return found.key if found is not None else None


def require_gemini_key(store: SecretStore | None = None) -> str:
    """The Gemini key, or :class:`NoGeminiKey` saying where to add one."""
    store = store or SecretStore()
    try:
        found = store.gemini_key()
    except SecretsUnavailable:
        raise NoGeminiKey(
            f"no Gemini key set: this system has no password keyring, so set {GEMINI_KEY_ENV} in the environment"
        ) from None
    if found is None or not found.key.strip():
        raise NoGeminiKey()
    return found.key
