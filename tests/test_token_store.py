"""Remembered login tokens in the OS keyring, with an in-memory backend and a headless (no keyring) one."""

from __future__ import annotations

import pytest
from keyring.backends.fail import Keyring as NoKeyring

from core.accounts.token_store import KeyringTokenStore, TokenStoreUnavailable
from tests.keyrings import MemoryKeyring, use_keyring


@pytest.fixture
def memory_keyring():
    with use_keyring(MemoryKeyring()) as backend:
        yield backend


@pytest.fixture
def no_keyring():
    with use_keyring(NoKeyring()):
        yield


def test_token_round_trip_per_database(memory_keyring):
    solo, club = KeyringTokenStore("embedded:/home/a"), KeyringTokenStore("postgresql://club")
    assert solo.available()
    solo.save("tok-solo")
    assert solo.load() == "tok-solo"
    assert club.load() is None  # another database's login is not offered
    solo.clear()
    assert solo.load() is None
    solo.clear()  # clearing twice is harmless
    assert all("tok" not in key for _, key in memory_keyring.items)


def test_headless_system_without_keyring_says_so(no_keyring):
    store = KeyringTokenStore("embedded:/home/a")
    assert not store.available()
    assert store.load() is None
    with pytest.raises(TokenStoreUnavailable, match="cannot remember your login"):
        store.save("tok")
    store.clear()
