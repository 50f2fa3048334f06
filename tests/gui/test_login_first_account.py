"""A new database's first trader lands on "Sign up"; once an account exists the dialog opens on "Log in"."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from app.async_runner import BlockingRunner
from app.views.login_dialog import FIRST_ACCOUNT, LOGIN_TAB, SIGNUP_TAB, LoginDialog
from core.accounts import AccountService
from core.accounts.club_login import ClubAccounts
from tests.gui.conftest import STRONG_PASSWORD


def test_the_accounts_service_says_whether_any_account_exists(accounts: AccountService) -> None:
    assert accounts.has_accounts() is False
    accounts.sign_up("ada@example.com", "ada", STRONG_PASSWORD)
    assert accounts.has_accounts() is True


def test_a_database_without_accounts_opens_on_sign_up_and_says_why(
    qtbot: QtBot, accounts: AccountService, runner: BlockingRunner
) -> None:
    dialog = LoginDialog(accounts, runner, first_account=not accounts.has_accounts())
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.tabs.currentIndex() == SIGNUP_TAB
    assert dialog.notice_label.text() == FIRST_ACCOUNT
    assert dialog.signup_button.isDefault()  # Enter creates the account


def test_a_database_with_an_account_opens_on_log_in(
    qtbot: QtBot, accounts: AccountService, runner: BlockingRunner
) -> None:
    accounts.sign_up("ada@example.com", "ada", STRONG_PASSWORD)
    dialog = LoginDialog(accounts, runner, first_account=not accounts.has_accounts())
    qtbot.addWidget(dialog)
    assert dialog.tabs.currentIndex() == LOGIN_TAB
    assert dialog.notice_label.text() == ""


def test_a_club_keeps_log_in_first_since_its_sign_up_is_a_request(qtbot: QtBot, runner: BlockingRunner) -> None:
    dialog = LoginDialog(ClubAccounts("postgresql://applicant@127.0.0.1:1/club"), runner, first_account=True)
    qtbot.addWidget(dialog)
    assert dialog.tabs.currentIndex() == LOGIN_TAB
