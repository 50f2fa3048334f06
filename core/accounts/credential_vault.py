"""Credentials sealed at rest: a broker's API secrets in the database, the key that opens them outside it.

Seed 004 keeps ``api_credentials_encrypted`` per broker account and seed 003 a SnapTrade user secret per trader.
Both land in ``broker_connections.credentials_encrypted`` as AES-256-GCM ciphertext. The key is 32 random bytes
kept in the OS keyring of the trader's machine (``KeyringKeySource``), never in the database and never in a file,
so a copy of the database (a backup, another member's read access gone wrong) opens nothing.

Each sealed blob is bound to the row it belongs to by GCM's associated data (``CredentialSlot``: user, broker,
label): a blob copied onto another trader's row, or onto another of the same trader's links, fails to open instead
of handing its secrets to the wrong account.

Blob layout: one version byte (1), a 12-byte random nonce, then the ciphertext and its 16-byte tag. The plaintext
is a JSON object of strings, so a broker's several secrets (an API key and its secret, a TOTP seed) seal together.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import keyring
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keyring.errors import KeyringError, NoKeyringError

from core.accounts.token_store import SERVICE

CREDENTIALS_KEY_ENTRY = "credentials-key"
_VERSION = 1
_NONCE_BYTES = 12
_KEY_BYTES = 32

# Everything keyring raises when it cannot reach a store (RuntimeError: some backends' D-Bus failures).
_KEYRING_FAILURES = (NoKeyringError, KeyringError, RuntimeError)


class VaultError(Exception):
    """Sealed credentials could not be opened or sealed; str() is a message a trader can read."""


class VaultUnavailable(VaultError):
    """No key store: this machine has no OS keyring, so there is nowhere safe to keep the vault key."""


@dataclass(frozen=True)
class CredentialSlot:
    """The row a sealed blob belongs to; its bytes are the ciphertext's associated data."""

    user_id: uuid.UUID
    broker: str
    label: str

    def associated_data(self) -> bytes:
        return json.dumps([str(self.user_id), self.broker, self.label], separators=(",", ":")).encode()


class KeySource(Protocol):
    """Where the vault's key lives; ``key(create=True)`` makes one on first use."""

    def key(self, create: bool) -> bytes | None: ...


class KeyringKeySource:
    """The vault key in the OS keyring, base64 under the app's service name, created on first use."""

    def __init__(self, service: str = SERVICE, entry: str = CREDENTIALS_KEY_ENTRY) -> None:
        self._service = service
        self._entry = entry

    def key(self, create: bool) -> bytes | None:
        try:
            stored = keyring.get_password(self._service, self._entry)
            if stored is None:
                if not create:
                    return None
                fresh = AESGCM.generate_key(bit_length=_KEY_BYTES * 8)
                keyring.set_password(self._service, self._entry, base64.b64encode(fresh).decode())
                return fresh
        except _KEYRING_FAILURES as exc:
            raise VaultUnavailable(
                "This system has no password keyring, so StratForge cannot keep broker credentials safely here. "
                "Install or unlock a keyring (GNOME Keyring, KWallet, macOS Keychain, Windows Credential Manager) "
                "and try again."
            ) from exc
        try:
            raw = base64.b64decode(stored, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise VaultError("The stored credentials key is damaged; link the broker account again.") from exc
        if len(raw) != _KEY_BYTES:
            raise VaultError("The stored credentials key is damaged; link the broker account again.")
        return raw


class StaticKeySource:
    """A key given directly (the club service's own key from its configuration)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise ValueError(f"a credentials key is {_KEY_BYTES} bytes, not {len(key)}")
        self._key = key

    def key(self, create: bool) -> bytes | None:
        return self._key


class CredentialVault:
    """Seals and opens one row's secrets; holds no plaintext between calls."""

    def __init__(self, keys: KeySource) -> None:
        self._keys = keys

    def seal(self, slot: CredentialSlot, secrets: Mapping[str, str]) -> bytes:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()):
            raise ValueError("credentials are text: names and values must both be str")
        key = self._keys.key(create=True)
        assert key is not None  # create=True either returns a key or raises
        nonce = os.urandom(_NONCE_BYTES)
        plaintext = json.dumps(dict(secrets), separators=(",", ":")).encode()
        return bytes([_VERSION]) + nonce + AESGCM(key).encrypt(nonce, plaintext, slot.associated_data())

    def open(self, slot: CredentialSlot, sealed: bytes) -> dict[str, str]:
        if len(sealed) < 1 + _NONCE_BYTES + 16 or sealed[0] != _VERSION:
            raise VaultError("The saved broker credentials are not in a format this version can read; link again.")
        key = self._keys.key(create=False)
        if key is None:
            raise VaultError(
                "This computer does not hold the key to the saved broker credentials (they were saved on another "
                "computer, or the keyring was reset); link the broker account again here."
            )
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            plaintext = AESGCM(key).decrypt(nonce, body, slot.associated_data())
        except InvalidTag as exc:
            raise VaultError(
                "The saved broker credentials do not open with this computer's key, or they belong to another "
                "link; link the broker account again."
            ) from exc
        data = json.loads(plaintext)
        if not isinstance(data, dict):
            raise VaultError("The saved broker credentials are damaged; link the broker account again.")
        return {str(k): str(v) for k, v in data.items()}
