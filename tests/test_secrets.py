"""API keys in the OS keyring: round trip, environment precedence, masking, validation, no-keyring systems."""

from __future__ import annotations

import logging

import pytest
from keyring.backends.fail import Keyring as NoKeyring

from core.accounts.secrets import AlpacaKeys, GeminiKey, SecretStore, SecretsUnavailable
from core.accounts.token_store import SERVICE
from tests.keyrings import MemoryKeyring, use_keyring

KEY_ID = "PKTEST1234567890WXYZ"  # 20 characters, like Alpaca's
SECRET = "s3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tABCD"  # 40
GEMINI = "AIzaSyD-0123456789abcdefghijklmnopqrstu"  # 39


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def store(clean_env: None) -> SecretStore:
    return SecretStore()


@pytest.fixture
def no_keyring(clean_env: None):
    with use_keyring(NoKeyring()):
        yield


def test_alpaca_keys_round_trip(store: SecretStore, keyring_backend: MemoryKeyring) -> None:
    assert store.available()
    assert store.alpaca_keys() is None
    store.set_alpaca_keys(f"  {KEY_ID}\n", SECRET)  # a pasted newline is harmless
    keys = store.alpaca_keys()
    assert keys == AlpacaKeys(KEY_ID, SECRET, "keyring")
    assert {service for service, _ in keyring_backend.items} == {SERVICE}
    store.clear_alpaca_keys()
    assert store.alpaca_keys() is None
    assert keyring_backend.items == {}
    store.clear_alpaca_keys()  # clearing twice is harmless


def test_gemini_key_round_trip(store: SecretStore, keyring_backend: MemoryKeyring) -> None:
    assert store.gemini_key() is None
    store.set_gemini_key(GEMINI)
    assert store.gemini_key() == GeminiKey(GEMINI, "keyring")
    store.set_alpaca_keys(KEY_ID, SECRET)
    store.clear_gemini_key()
    assert store.gemini_key() is None
    assert store.alpaca_keys() is not None  # the other entries are left alone


def test_half_a_pair_in_the_keyring_is_no_keys(store: SecretStore, keyring_backend: MemoryKeyring) -> None:
    keyring_backend.set_password(SERVICE, "alpaca-key-id", KEY_ID)
    assert store.alpaca_keys() is None


def test_environment_wins_over_the_keyring(store: SecretStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.set_alpaca_keys(KEY_ID, SECRET)
    store.set_gemini_key(GEMINI)
    monkeypatch.setenv("APCA_API_KEY_ID", "PKENVIRONMENT0000001")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "e" * 40)
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaENV" + "x" * 32)
    assert store.alpaca_keys() == AlpacaKeys("PKENVIRONMENT0000001", "e" * 40, "environment")
    assert store.gemini_key() == GeminiKey("AIzaENV" + "x" * 32, "environment")

    monkeypatch.delenv("APCA_API_SECRET_KEY")  # half a pair in the environment does not count
    assert store.alpaca_keys() == AlpacaKeys(KEY_ID, SECRET, "keyring")


def test_explicit_environment_mapping(keyring_backend: MemoryKeyring) -> None:
    store = SecretStore({"GEMINI_API_KEY": GEMINI})
    assert store.gemini_key() == GeminiKey(GEMINI, "environment")
    assert store.alpaca_keys() is None


def test_secrets_never_show_in_repr_str_or_logs(store: SecretStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    keys = store.set_alpaca_keys(KEY_ID, SECRET)
    gemini = store.set_gemini_key(GEMINI)
    for text in (repr(keys), str(keys), f"{keys}", repr([keys]), repr(gemini), str(gemini), caplog.text):
        assert SECRET not in text and KEY_ID not in text and GEMINI not in text
    assert "WXYZ" in repr(keys)  # the last 4 characters tell two keys apart
    assert KEY_ID[:-4] not in repr(keys)


@pytest.mark.parametrize(
    ("key_id", "secret", "message"),
    [
        ("", SECRET, "Alpaca key ID is empty"),
        ("PK 1234567890 ABCDEFG", SECRET, "Alpaca key ID contains spaces"),
        ("PK12", SECRET, "Alpaca key ID is too short"),
        ("P" * 65, SECRET, "Alpaca key ID is too long"),
        (KEY_ID, "   ", "Alpaca secret key is empty"),
        (KEY_ID, SECRET[:10], "Alpaca secret key is too short"),
        (KEY_ID, SECRET[:20] + "\t" + SECRET[20:], "Alpaca secret key contains spaces"),
        (KEY_ID, SECRET[:-1] + "é", "characters that API keys never have"),
    ],
)
def test_alpaca_keys_are_checked_before_storing(
    store: SecretStore, keyring_backend: MemoryKeyring, key_id: str, secret: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        store.set_alpaca_keys(key_id, secret)
    assert SECRET not in str(refused.value)
    assert keyring_backend.items == {}


def test_gemini_key_is_checked(store: SecretStore, keyring_backend: MemoryKeyring) -> None:
    with pytest.raises(ValueError, match="Gemini API key is too short"):
        store.set_gemini_key("AIza123")
    with pytest.raises(ValueError, match="Gemini API key is empty"):
        store.set_gemini_key("")
    assert keyring_backend.items == {}


def test_no_keyring_raises_a_clear_error_and_writes_no_file(
    no_keyring: None, store: SecretStore, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert not store.available()
    for call in (
        lambda: store.alpaca_keys(),
        lambda: store.set_alpaca_keys(KEY_ID, SECRET),
        lambda: store.clear_alpaca_keys(),
        lambda: store.gemini_key(),
        lambda: store.set_gemini_key(GEMINI),
    ):
        with pytest.raises(SecretsUnavailable, match="no password keyring") as refused:
            call()
        assert "APCA_API_KEY_ID" in str(refused.value) and "GEMINI_API_KEY" in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_no_keyring_still_reads_the_environment(no_keyring: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    store = SecretStore()
    assert store.alpaca_keys() == AlpacaKeys(KEY_ID, SECRET, "environment")


def test_the_shared_database_url_is_kept_in_the_keyring_and_can_be_forgotten():
    store = SecretStore(environ={})
    assert store.database_url() is None
    store.set_database_url("postgresql://club:pw@db.example:5432/stratforge")
    assert store.database_url() == "postgresql://club:pw@db.example:5432/stratforge"
    store.set_database_url(None)
    assert store.database_url() is None
