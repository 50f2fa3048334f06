"""The login dialog signs up and logs in real users on a real database, and shows the service's errors."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QPushButton
from pytestqt.qtbot import QtBot

from app.async_runner import BlockingRunner
from app.views.login_dialog import SIGNUP_TAB, LoginDialog
from core.accounts import AccountService
from core.accounts.errors import AccountError
from tests.gui.conftest import STRONG_PASSWORD


@pytest.fixture
def dialog(qtbot: QtBot, accounts: AccountService, runner: BlockingRunner) -> LoginDialog:
    d = LoginDialog(accounts, runner)
    qtbot.addWidget(d)
    d.show()
    return d


def field(dialog: LoginDialog, name: str) -> QLineEdit:
    widget = dialog.findChild(QLineEdit, name)
    assert widget is not None, name
    return widget


def button(dialog: LoginDialog, name: str) -> QPushButton:
    widget = dialog.findChild(QPushButton, name)
    assert widget is not None, name
    return widget


def error_text(dialog: LoginDialog) -> str:
    label = dialog.findChild(QLabel, "errorLabel")
    assert label is not None
    return label.text()


def sign_up(qtbot: QtBot, dialog: LoginDialog, email: str, username: str, password: str, confirm: str) -> None:
    dialog.tabs.setCurrentIndex(SIGNUP_TAB)
    qtbot.keyClicks(field(dialog, "signupEmail"), email)
    qtbot.keyClicks(field(dialog, "signupUsername"), username)
    qtbot.keyClicks(field(dialog, "signupPassword"), password)
    qtbot.keyClicks(field(dialog, "signupConfirm"), confirm)
    qtbot.mouseClick(button(dialog, "signupButton"), Qt.MouseButton.LeftButton)


def log_in(qtbot: QtBot, dialog: LoginDialog, login: str, password: str) -> None:
    qtbot.keyClicks(field(dialog, "loginEmail"), login)
    qtbot.keyClicks(field(dialog, "loginPassword"), password)
    qtbot.mouseClick(button(dialog, "loginButton"), Qt.MouseButton.LeftButton)


def test_sign_up_creates_the_account_and_accepts(qtbot: QtBot, dialog: LoginDialog, accounts: AccountService) -> None:
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        sign_up(qtbot, dialog, "ada@example.com", "ada", STRONG_PASSWORD, STRONG_PASSWORD)
    assert dialog.user is not None and dialog.user.username == "ada" and dialog.user.email == "ada@example.com"
    assert dialog.login_result is not None and dialog.login_result.token
    assert accounts.resume(dialog.login_result.token) == dialog.user


def test_log_in_with_username_or_email(qtbot: QtBot, dialog: LoginDialog, accounts: AccountService) -> None:
    created = accounts.sign_up("grace@example.com", "grace", STRONG_PASSWORD)
    dialog.login_remember.setChecked(True)
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        log_in(qtbot, dialog, "grace@example.com", STRONG_PASSWORD)
    assert dialog.user == created
    assert dialog.remember


def test_wrong_password_shows_the_service_message(qtbot: QtBot, dialog: LoginDialog, accounts: AccountService) -> None:
    accounts.sign_up("linus@example.com", "linus", STRONG_PASSWORD)
    with pytest.raises(AccountError) as expected:
        accounts.log_in("linus", STRONG_PASSWORD + "x")

    log_in(qtbot, dialog, "linus", STRONG_PASSWORD + "x")
    qtbot.waitUntil(lambda: error_text(dialog) != "" and not dialog.busy, timeout=10_000)

    assert error_text(dialog) == str(expected.value)
    assert dialog.isVisible() and dialog.user is None
    assert button(dialog, "loginButton").isEnabled()


def test_buttons_are_disabled_while_the_call_runs(
    qtbot: QtBot, dialog: LoginDialog, accounts: AccountService, qasync_loop: asyncio.AbstractEventLoop
) -> None:
    accounts.sign_up("ken@example.com", "ken", STRONG_PASSWORD)
    log_in(qtbot, dialog, "ken", STRONG_PASSWORD)
    assert dialog.busy  # the click returned at once: the hash is verified on a worker thread
    assert not button(dialog, "loginButton").isEnabled() and not button(dialog, "signupButton").isEnabled()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=10_000)
    assert dialog.user is not None


def test_password_mismatch_is_caught_in_the_dialog(qtbot: QtBot, dialog: LoginDialog, accounts: AccountService) -> None:
    sign_up(qtbot, dialog, "bob@example.com", "bob", STRONG_PASSWORD, STRONG_PASSWORD + "!")
    assert "do not match" in error_text(dialog)
    assert not dialog.busy  # nothing was sent to the service
    with pytest.raises(AccountError):
        accounts.log_in("bob", STRONG_PASSWORD)  # no account was created


def test_duplicate_sign_up_shows_the_service_message(
    qtbot: QtBot, dialog: LoginDialog, accounts: AccountService
) -> None:
    accounts.sign_up("eve@example.com", "eve", STRONG_PASSWORD)
    with pytest.raises(AccountError) as expected:
        accounts.sign_up("eve@example.com", "eve", STRONG_PASSWORD)
    sign_up(qtbot, dialog, "eve@example.com", "eve", STRONG_PASSWORD, STRONG_PASSWORD)
    qtbot.waitUntil(lambda: error_text(dialog) != "" and not dialog.busy, timeout=10_000)
    assert error_text(dialog) == str(expected.value)


def test_empty_login_is_refused_without_a_call(qtbot: QtBot, dialog: LoginDialog) -> None:
    qtbot.mouseClick(button(dialog, "loginButton"), Qt.MouseButton.LeftButton)
    assert error_text(dialog) != "" and not dialog.busy


class UnreachableAccounts(AccountService):
    """The accounts service of a database that went away mid-log-in: the driver's own error, socket path and all."""

    def __init__(self) -> None:  # no session factory: every call fails before reaching one
        pass

    def log_in(self, login: str, password: str, remember: bool = False):  # type: ignore[override]
        import psycopg

        raise psycopg.OperationalError(
            'connection to server on socket "/tmp/sf/.s.PGSQL.5432" failed: No such file or directory'
        )


def test_a_lost_database_is_one_trader_line_not_the_drivers_text(qtbot: QtBot, runner: BlockingRunner) -> None:
    dialog = LoginDialog(UnreachableAccounts(), runner)
    qtbot.addWidget(dialog)
    dialog.show()
    log_in(qtbot, dialog, "ada", STRONG_PASSWORD)
    qtbot.waitUntil(lambda: error_text(dialog) != "", timeout=5_000)
    text = error_text(dialog)
    assert text.startswith("Something went wrong: The database connection was lost")
    assert ".s.PGSQL" not in text and "\n" not in text
    assert dialog.result() != LoginDialog.DialogCode.Accepted
