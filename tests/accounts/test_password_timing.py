"""The unknown-user path of a log-in costs what a known user's does: one argon2 verify at the current cost."""

from __future__ import annotations

from argon2 import PasswordHasher

from core.accounts import passwords


def test_the_dummy_hash_has_the_hashers_current_cost() -> None:
    assert not passwords._hasher.check_needs_rehash(passwords._dummy_hash())


def test_an_unknown_user_is_refused_after_a_verify() -> None:
    assert passwords.verify_password(None, "stratforge-dummy-password-for-timing") is False
    assert passwords.verify_password(None, "anything else 123") is False


def test_a_stored_dummy_hash_of_another_cost_is_replaced(monkeypatch) -> None:
    cheaper = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_STORED_DUMMY_HASH", cheaper.hash("x"))
    passwords._dummy_hash.cache_clear()
    try:
        replaced = passwords._dummy_hash()
        assert replaced != passwords._STORED_DUMMY_HASH
        assert not passwords._hasher.check_needs_rehash(replaced)
    finally:
        passwords._dummy_hash.cache_clear()


def test_a_real_password_still_verifies() -> None:
    stored = passwords.hash_password("Quiet-Harbor-Lantern-2026")
    assert passwords.verify_password(stored, "Quiet-Harbor-Lantern-2026") is True
    assert passwords.verify_password(stored, "Quiet-Harbor-Lantern-2027") is False
