"""The settings dialog against a real database and an in-memory keyring (or none)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from keyring.backends.fail import Keyring as NoKeyring
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDoubleSpinBox, QLabel, QLineEdit, QSpinBox, QWidget
from pytestqt.qtbot import QtBot

from app.async_runner import BlockingRunner
from app.views.settings_dialog import DATABASE_TAB, RISK_TAB, SettingsDialog, check_database_url
from core.accounts import AccountService, UserInfo
from core.accounts.risk_settings import load_risk_limits
from core.accounts.secrets import AlpacaKeys, GeminiKey, SecretStore
from core.db.database import Database
from core.domain.display_time import DisplayZone
from core.services.risk_limits import RiskLimitsStore
from tests.gui.conftest import STRONG_PASSWORD
from tests.keyrings import MemoryKeyring, use_keyring

KEY_ID = "PKTEST1234567890WXYZ"
SECRET = "s3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tABCD"
GEMINI = "AIzaSyD-0123456789abcdefghijklmnopqrstu"


@pytest.fixture
def user(accounts: AccountService) -> UserInfo:
    return accounts.sign_up("ada@example.com", "ada", STRONG_PASSWORD)


@pytest.fixture
def secrets() -> SecretStore:
    return SecretStore(environ={})  # whatever the developer's shell exports stays out of the test


def open_dialog(
    qtbot: QtBot, db: Database, user: UserInfo, runner: BlockingRunner, secrets: SecretStore, **kw: object
) -> SettingsDialog:
    d = SettingsDialog(
        RiskLimitsStore(db.session_factory),
        user.id,
        runner,
        secrets,
        kw.get("database_url"),  # type: ignore[arg-type]
        kw.get("theme", "dark"),  # type: ignore[arg-type]
        time_zone=kw.get("time_zone", DisplayZone.EXCHANGE),  # type: ignore[arg-type]
    )
    qtbot.addWidget(d)
    d.show()
    assert d.loading  # the reads run on worker threads; the constructor did not wait for them
    qtbot.waitUntil(lambda: not d.loading, timeout=10_000)
    return d


@pytest.fixture
def dialog(qtbot: QtBot, db: Database, user: UserInfo, runner: BlockingRunner, secrets: SecretStore) -> SettingsDialog:
    return open_dialog(qtbot, db, user, runner, secrets)


def child[W: QWidget](dialog: SettingsDialog, kind: type[W], name: str) -> W:
    widget = dialog.findChild(kind, name)
    assert widget is not None, name
    return widget


def text_of(dialog: SettingsDialog, name: str) -> str:
    return child(dialog, QLabel, name).text()


def press_ok(qtbot: QtBot, dialog: SettingsDialog) -> None:
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)


def ok_and_wait_accepted(qtbot: QtBot, dialog: SettingsDialog) -> None:
    with qtbot.waitSignals([dialog.saved, dialog.accepted], timeout=10_000):
        press_ok(qtbot, dialog)


def test_broker_and_ai_keys_go_to_the_keyring(
    qtbot: QtBot, dialog: SettingsDialog, secrets: SecretStore, keyring_backend: MemoryKeyring
) -> None:
    assert dialog.keyring_available
    qtbot.keyClicks(child(dialog, QLineEdit, "alpacaKeyId"), KEY_ID)
    secret_field = child(dialog, QLineEdit, "alpacaSecret")
    assert secret_field.echoMode() == QLineEdit.EchoMode.Password
    qtbot.keyClicks(secret_field, SECRET)
    qtbot.keyClicks(child(dialog, QLineEdit, "geminiKey"), GEMINI)
    ok_and_wait_accepted(qtbot, dialog)
    assert secrets.alpaca_keys() == AlpacaKeys(KEY_ID, SECRET, "keyring")
    assert secrets.gemini_key() == GeminiKey(GEMINI, "keyring")


def test_stored_keys_are_shown_and_clear_removes_them(
    qtbot: QtBot, db: Database, user: UserInfo, runner: BlockingRunner, secrets: SecretStore
) -> None:
    secrets.set_alpaca_keys(KEY_ID, SECRET)
    secrets.set_gemini_key(GEMINI)
    dialog = open_dialog(qtbot, db, user, runner, secrets)
    assert child(dialog, QLineEdit, "alpacaKeyId").text() == KEY_ID
    qtbot.mouseClick(dialog.alpaca_clear, Qt.MouseButton.LeftButton)
    assert child(dialog, QLineEdit, "alpacaKeyId").text() == ""
    assert child(dialog, QLineEdit, "alpacaSecret").text() == ""
    ok_and_wait_accepted(qtbot, dialog)
    assert secrets.alpaca_keys() is None
    assert secrets.gemini_key() == GeminiKey(GEMINI, "keyring")  # untouched


def test_bad_key_is_refused_inline(qtbot: QtBot, dialog: SettingsDialog, secrets: SecretStore) -> None:
    qtbot.keyClicks(child(dialog, QLineEdit, "alpacaKeyId"), KEY_ID)
    press_ok(qtbot, dialog)
    assert "Enter both" in text_of(dialog, "brokerError")
    qtbot.keyClicks(child(dialog, QLineEdit, "alpacaSecret"), "short")
    press_ok(qtbot, dialog)
    assert "Alpaca secret key is too short" in text_of(dialog, "brokerError")
    assert dialog.isVisible() and not dialog.busy
    assert secrets.alpaca_keys() is None


def test_invalid_risk_value_is_shown_inline_and_nothing_is_saved(
    qtbot: QtBot, dialog: SettingsDialog, db: Database, user: UserInfo
) -> None:
    before = load_risk_limits(db.session_factory, user.id)
    child(dialog, QSpinBox, "max_open_orders").setValue(3)
    child(dialog, QDoubleSpinBox, "max_drawdown_percent").setValue(0)
    press_ok(qtbot, dialog)
    assert "Max drawdown must be between 0 and 100 %" in text_of(dialog, "riskError")
    assert dialog.tabs.currentIndex() == RISK_TAB
    assert dialog.isVisible() and dialog.result() == 0 and not dialog.busy
    assert load_risk_limits(db.session_factory, user.id) == before


def test_risk_limits_are_loaded_and_saved(qtbot: QtBot, dialog: SettingsDialog, db: Database, user: UserInfo) -> None:
    assert child(dialog, QDoubleSpinBox, "daily_loss_limit").value() == 3000
    assert child(dialog, QSpinBox, "max_open_orders").value() == 20
    child(dialog, QDoubleSpinBox, "max_risk_per_trade").setValue(1.5)
    child(dialog, QSpinBox, "max_open_orders").setValue(7)
    dialog.allow_fractional.setChecked(False)
    ok_and_wait_accepted(qtbot, dialog)
    stored = load_risk_limits(db.session_factory, user.id)
    assert stored.max_risk_per_trade == Decimal("1.5")
    assert stored.max_open_orders == 7 and not stored.allow_fractional
    assert stored.daily_loss_limit == Decimal("3000")
    assert dialog.risk_limits == stored


def test_non_postgresql_database_url_is_refused(qtbot: QtBot, dialog: SettingsDialog) -> None:
    qtbot.keyClicks(child(dialog, QLineEdit, "databaseUrl"), "mysql://x")
    press_ok(qtbot, dialog)
    assert "needs a PostgreSQL database" in text_of(dialog, "databaseError")
    assert dialog.tabs.currentIndex() == DATABASE_TAB
    assert dialog.isVisible() and dialog.database_url is None


def test_database_url_and_theme_are_returned(
    qtbot: QtBot, db: Database, user: UserInfo, runner: BlockingRunner, secrets: SecretStore
) -> None:
    dialog = open_dialog(qtbot, db, user, runner, secrets, database_url="postgresql://old/db", theme="dark")
    assert dialog.database_url == "postgresql://old/db" and dialog.theme == "dark"
    url_field = child(dialog, QLineEdit, "databaseUrl")
    url_field.clear()
    qtbot.keyClicks(url_field, " postgresql+psycopg://club:pw@db.example.org:5432/stratforge ")
    dialog.theme_combo.setCurrentIndex(dialog.theme_combo.findData("light"))
    ok_and_wait_accepted(qtbot, dialog)
    assert dialog.database_url == "postgresql+psycopg://club:pw@db.example.org:5432/stratforge"
    assert dialog.theme == "light"


def test_the_time_zone_choice_offers_exchange_local_and_utc_and_is_returned(
    qtbot: QtBot, db: Database, user: UserInfo, runner: BlockingRunner, secrets: SecretStore
) -> None:
    dialog = open_dialog(qtbot, db, user, runner, secrets)
    combo = dialog.time_zone_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["Exchange (New York)", "Local (this computer)", "UTC"]
    assert combo.currentData() == "exchange" and dialog.time_zone is DisplayZone.EXCHANGE
    combo.setCurrentIndex(combo.findData("utc"))
    assert dialog.time_zone is DisplayZone.EXCHANGE  # nothing applies before OK
    ok_and_wait_accepted(qtbot, dialog)
    assert dialog.time_zone is DisplayZone.UTC


def test_the_dialog_opens_on_the_stored_time_zone(
    qtbot: QtBot, db: Database, user: UserInfo, runner: BlockingRunner, secrets: SecretStore
) -> None:
    dialog = open_dialog(qtbot, db, user, runner, secrets, time_zone=DisplayZone.LOCAL)
    assert dialog.time_zone_combo.currentData() == "local"


def test_empty_database_url_means_embedded(
    qtbot: QtBot, db: Database, user: UserInfo, runner: BlockingRunner, secrets: SecretStore
) -> None:
    dialog = open_dialog(qtbot, db, user, runner, secrets, database_url="postgresql://old/db")
    child(dialog, QLineEdit, "databaseUrl").clear()
    ok_and_wait_accepted(qtbot, dialog)
    assert dialog.database_url is None


def test_cancel_saves_nothing(qtbot: QtBot, dialog: SettingsDialog, secrets: SecretStore) -> None:
    qtbot.keyClicks(child(dialog, QLineEdit, "alpacaKeyId"), KEY_ID)
    qtbot.keyClicks(child(dialog, QLineEdit, "alpacaSecret"), SECRET)
    dialog.theme_combo.setCurrentIndex(dialog.theme_combo.findData("light"))
    with qtbot.waitSignal(dialog.rejected, timeout=5_000):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert secrets.alpaca_keys() is None and dialog.theme == "dark"


@pytest.fixture
def no_keyring() -> Iterator[None]:
    with use_keyring(NoKeyring()):
        yield


def test_without_a_keyring_the_key_fields_are_disabled_with_the_reason(
    qtbot: QtBot, no_keyring: None, db: Database, user: UserInfo, runner: BlockingRunner, secrets: SecretStore
) -> None:
    dialog = open_dialog(qtbot, db, user, runner, secrets)
    assert not dialog.keyring_available
    for name in ("alpacaKeyId", "alpacaSecret", "geminiKey"):
        assert not child(dialog, QLineEdit, name).isEnabled(), name
    assert not dialog.alpaca_clear.isEnabled() and not dialog.gemini_clear.isEnabled()
    for note in ("brokerNote", "aiNote"):
        assert "no password keyring" in text_of(dialog, note)
        assert "environment" in text_of(dialog, note)
    dialog.theme_combo.setCurrentIndex(dialog.theme_combo.findData("light"))
    ok_and_wait_accepted(qtbot, dialog)  # the rest of the settings still save
    assert dialog.theme == "light"


def test_keys_from_the_environment_are_shown_read_only(
    qtbot: QtBot, db: Database, user: UserInfo, runner: BlockingRunner, keyring_backend: MemoryKeyring
) -> None:
    env = {"APCA_API_KEY_ID": KEY_ID, "APCA_API_SECRET_KEY": SECRET}
    dialog = open_dialog(qtbot, db, user, runner, SecretStore(environ=env))
    key_field = child(dialog, QLineEdit, "alpacaKeyId")
    assert key_field.isReadOnly() and "from environment" in key_field.text()
    assert KEY_ID not in key_field.text() and child(dialog, QLineEdit, "alpacaSecret").text() == ""
    assert "APCA_API_KEY_ID" in text_of(dialog, "brokerNote")
    assert not dialog.alpaca_clear.isEnabled()
    assert child(dialog, QLineEdit, "geminiKey").isEnabled()  # Gemini still comes from the keyring
    ok_and_wait_accepted(qtbot, dialog)
    assert keyring_backend.items == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("   ", None),
        ("postgresql://u:p@h:5432/d", "postgresql://u:p@h:5432/d"),
        ("postgres://u@h/d", "postgres://u@h/d"),
        ("postgresql+psycopg:///stratforge", "postgresql+psycopg:///stratforge"),
    ],
)
def test_check_database_url_accepts(text: str, expected: str | None) -> None:
    assert check_database_url(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("mysql://x", "“mysql” is not supported"), ("sqlite:///x.db", "“sqlite”"), ("not a url", "not a database URL")],
)
def test_check_database_url_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_database_url(text)
