"""The credential vault: secrets sealed with a key outside the database, each blob bound to its row."""

from __future__ import annotations

import uuid

import pytest

from core.accounts.credential_vault import (
    CREDENTIALS_KEY_ENTRY,
    CredentialSlot,
    CredentialVault,
    KeyringKeySource,
    StaticKeySource,
    VaultError,
    VaultUnavailable,
)
from core.accounts.token_store import SERVICE
from tests.keyrings import MemoryKeyring, use_keyring

ALICE, BOB = uuid.uuid4(), uuid.uuid4()
SECRETS = {"api_key": "kite-key-123", "api_secret": "s3cr3t-value-XYZ"}


def test_sealed_secrets_open_only_for_their_own_row_and_never_show_in_the_blob() -> None:
    vault = CredentialVault(StaticKeySource(bytes(range(32))))
    slot = CredentialSlot(ALICE, "zerodha", "main")
    sealed = vault.seal(slot, SECRETS)

    assert vault.open(slot, sealed) == SECRETS
    assert b"s3cr3t" not in sealed and b"kite-key" not in sealed
    assert vault.seal(slot, SECRETS) != sealed  # a fresh nonce each time
    for other in (CredentialSlot(BOB, "zerodha", "main"), CredentialSlot(ALICE, "angel", "main"),
                  CredentialSlot(ALICE, "zerodha", "second")):  # fmt: skip
        with pytest.raises(VaultError, match="another link"):
            vault.open(other, sealed)


def test_a_tampered_or_foreign_blob_is_refused() -> None:
    vault = CredentialVault(StaticKeySource(bytes(32)))
    slot = CredentialSlot(ALICE, "icici", "main")
    sealed = bytearray(vault.seal(slot, SECRETS))
    sealed[-1] ^= 1
    with pytest.raises(VaultError):
        vault.open(slot, bytes(sealed))
    with pytest.raises(VaultError, match="format"):
        vault.open(slot, b"\x02" + bytes(40))
    with pytest.raises(VaultError):
        CredentialVault(StaticKeySource(bytes([7]) * 32)).open(slot, vault.seal(slot, SECRETS))


def test_the_key_is_made_once_in_the_keyring_and_a_machine_without_it_cannot_open() -> None:
    slot = CredentialSlot(ALICE, "snaptrade", "SnapTrade")
    with use_keyring(MemoryKeyring()) as store:
        vault = CredentialVault(KeyringKeySource())
        sealed = vault.seal(slot, SECRETS)
        key = store.items[(SERVICE, CREDENTIALS_KEY_ENTRY)]
        assert vault.open(slot, vault.seal(slot, SECRETS)) == SECRETS
        assert store.items[(SERVICE, CREDENTIALS_KEY_ENTRY)] == key  # not replaced by the second seal
    with use_keyring(MemoryKeyring()), pytest.raises(VaultError, match="does not hold the key"):
        CredentialVault(KeyringKeySource()).open(slot, sealed)


def test_no_keyring_is_a_clear_refusal_not_a_plain_file() -> None:
    from keyring.backends.fail import Keyring as NoKeyring

    with use_keyring(NoKeyring()), pytest.raises(VaultUnavailable, match="no password keyring"):
        CredentialVault(KeyringKeySource()).seal(CredentialSlot(ALICE, "angel", "a"), SECRETS)


def test_secrets_must_be_text() -> None:
    vault = CredentialVault(StaticKeySource(bytes(32)))
    with pytest.raises(ValueError):
        vault.seal(CredentialSlot(ALICE, "angel", "a"), {"pin": 1234})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        StaticKeySource(b"short")
