"""Remembered login tokens in the OS keyring, with an in-memory backend and a headless (no keyring) one."""

from __future__ import annotations

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends.fail import Keyring as NoKeyring
from keyring.errors import PasswordDeleteError

from core.accounts.token_store import KeyringTokenStore, TokenStoreUnavailable


class MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.items.get((service, username))

    def set_password(self, service, username, password):
        self.items[(service, username)] = password

    def delete_password(self, service, username):
        if self.items.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring():
    previous = keyring.get_keyring()
    keyring.set_keyring(NoKeyring())
    yield
    keyring.set_keyring(previous)


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
