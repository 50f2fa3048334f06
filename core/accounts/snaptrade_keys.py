"""StratForge's SnapTrade API key (client id + consumer key): configuration of this computer, never shipped.

As with the Alpaca and Gemini keys (``secrets.py``): the environment wins (``STRATFORGE_SNAPTRADE_CLIENT_ID`` and
``STRATFORGE_SNAPTRADE_CONSUMER_KEY``, both or neither), else the OS keyring under the app's service name; never a
plain file. Without either the brokerage panel says how to configure SnapTrade (``HOW_TO_CONFIGURE``).

The consumer key signs every request to SnapTrade; a trader's brokerage data also needs that trader's own user
secret (sealed in the database by the credential vault), so this key alone opens no one's accounts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import keyring
from keyring.errors import KeyringError, NoKeyringError, PasswordDeleteError

from core.accounts.token_store import SERVICE

CLIENT_ID_ENV = "STRATFORGE_SNAPTRADE_CLIENT_ID"
CONSUMER_KEY_ENV = "STRATFORGE_SNAPTRADE_CONSUMER_KEY"
HOST_ENV = "STRATFORGE_SNAPTRADE_HOST"  # another API host (a proxy, a test stand-in); SnapTrade's by default
CLIENT_ID_ENTRY = "snaptrade-client-id"
CONSUMER_KEY_ENTRY = "snaptrade-consumer-key"

HOW_TO_CONFIGURE = (
    "SnapTrade is not configured on this computer. Set STRATFORGE_SNAPTRADE_CLIENT_ID and "
    "STRATFORGE_SNAPTRADE_CONSUMER_KEY to your SnapTrade API key (dashboard.snaptrade.com), or store them in the "
    f"OS keyring under the service {SERVICE!r} as {CLIENT_ID_ENTRY!r} and {CONSUMER_KEY_ENTRY!r}."
)

_KEYRING_FAILURES = (NoKeyringError, KeyringError, RuntimeError)

Source = Literal["environment", "keyring"]


@dataclass(frozen=True)
class SnapTradeKeys:
    """repr shows the client id (not a secret: it travels in every URL) but never the consumer key."""

    client_id: str
    consumer_key: str = field(repr=False)
    source: Source = "keyring"


class SnapTradeKeyStore:
    """Reads (and, for Settings, writes) the key; reading may block on the keyring, so call it off the GUI thread."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ if environ is not None else os.environ

    def keys(self) -> SnapTradeKeys | None:
        """The environment's pair if both are set, else the keyring's; None when neither holds a complete pair
        (or there is no keyring)."""
        client_id = (self._environ.get(CLIENT_ID_ENV) or "").strip()
        consumer_key = (self._environ.get(CONSUMER_KEY_ENV) or "").strip()
        if client_id and consumer_key:
            return SnapTradeKeys(client_id, consumer_key, "environment")
        try:
            client_id = (keyring.get_password(SERVICE, CLIENT_ID_ENTRY) or "").strip()
            consumer_key = (keyring.get_password(SERVICE, CONSUMER_KEY_ENTRY) or "").strip()
        except _KEYRING_FAILURES:
            return None
        return SnapTradeKeys(client_id, consumer_key, "keyring") if client_id and consumer_key else None

    def save(self, client_id: str, consumer_key: str) -> SnapTradeKeys:
        client_id, consumer_key = client_id.strip(), consumer_key.strip()
        if not client_id or not consumer_key or any(c.isspace() for c in client_id + consumer_key):
            raise ValueError("The SnapTrade client id and consumer key must both be given, without spaces.")
        try:
            keyring.set_password(SERVICE, CONSUMER_KEY_ENTRY, consumer_key)  # the secret first: never an id alone
            keyring.set_password(SERVICE, CLIENT_ID_ENTRY, client_id)
        except _KEYRING_FAILURES as exc:
            raise ValueError(
                "This system has no password keyring; give the SnapTrade key through the environment instead "
                f"({CLIENT_ID_ENV}, {CONSUMER_KEY_ENV})."
            ) from exc
        return SnapTradeKeys(client_id, consumer_key, "keyring")

    def clear(self) -> None:
        for entry in (CLIENT_ID_ENTRY, CONSUMER_KEY_ENTRY):
            try:
                keyring.delete_password(SERVICE, entry)
            except PasswordDeleteError:
                pass
            except _KEYRING_FAILURES as exc:
                raise ValueError("The keyring refused to remove the SnapTrade key; it may still be stored.") from exc
