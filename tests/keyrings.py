"""keyring backends for tests: an in-memory store (a desktop with a keyring) and none (a headless box)."""

from __future__ import annotations

import keyring
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.items.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


class use_keyring:
    """Install a backend for the duration of a with-block."""

    def __init__(self, backend: KeyringBackend) -> None:
        self.backend = backend

    def __enter__(self) -> KeyringBackend:
        self._previous = keyring.get_keyring()
        keyring.set_keyring(self.backend)
        return self.backend

    def __exit__(self, *exc: object) -> None:
        keyring.set_keyring(self._previous)
