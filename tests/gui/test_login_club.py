"""The login dialog and the app on a club with per-trader roles: sign-up files a request the admin approves, log-in
is the member's own PostgreSQL log-in (on a server that checks passwords), and the app then runs on the member's
own database URL. Solo and plain shared databases keep the dialog of tests/gui/test_login_dialog.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from app.application import EXIT_OK, main_async
from app.async_runner import BlockingRunner
from app.live_setup import LiveSetup
from app.views.login_dialog import LOGIN_TAB, REQUEST_SENT, SIGNUP_TAB, LoginDialog
from app.views.main_window import MainWindow
from core.accounts import AccountService
from core.accounts.club_login import ClubAccounts
from core.accounts.errors import LOGIN_REFUSED
from core.config import Settings
from core.db.club_roles import trader_role
from core.db.database import Database, open_database
from tests.accounts.conftest_scram import ScramClub
from tests.gui.conftest import STRONG_PASSWORD, wait_for
from tests.gui.test_application import visible
from tests.keyrings import MemoryKeyring


def unique(name: str) -> str:
    return f"{name}{uuid.uuid4().hex[:6]}"


@pytest.fixture
def dialog(qtbot: QtBot, scram_club: ScramClub, runner: BlockingRunner) -> LoginDialog:
    d = LoginDialog(ClubAccounts(scram_club.applicant_url), runner)
    qtbot.addWidget(d)
    d.show()
    return d


def label(dialog: LoginDialog, name: str) -> str:
    widget = dialog.findChild(QLabel, name)
    assert widget is not None
    return widget.text()


def fill_sign_up(dialog: LoginDialog, name: str, email: str, username: str, password: str) -> None:
    dialog.tabs.setCurrentIndex(SIGNUP_TAB)
    dialog.signup_name.setText(name)
    dialog.signup_email.setText(email)
    dialog.signup_username.setText(username)
    dialog.signup_password.setText(password)
    dialog.signup_confirm.setText(password)
    dialog.signup_button.click()


def test_the_club_dialog_asks_for_a_username_and_offers_a_request_to_join(dialog: LoginDialog) -> None:
    assert dialog.is_club
    assert dialog.login_name.placeholderText() == "username"
    assert dialog.signup_button.text() == "Request to join"
    dialog.tabs.setCurrentIndex(SIGNUP_TAB)
    assert dialog.signup_name.isVisible()


def test_sign_up_files_a_request_and_the_dialog_stays_to_log_in_later(
    qtbot: QtBot, dialog: LoginDialog, scram_club: ScramClub
) -> None:
    username = unique("nia")
    fill_sign_up(dialog, "Nia North", f"{username}@example.com", username, STRONG_PASSWORD)
    qtbot.waitUntil(lambda: not dialog.busy and label(dialog, "noticeLabel") != "", timeout=10_000)

    assert label(dialog, "noticeLabel") == REQUEST_SENT
    assert label(dialog, "errorLabel") == ""
    assert dialog.isVisible() and dialog.user is None and dialog.result() == 0  # nothing to log in to yet
    assert dialog.tabs.currentIndex() == LOGIN_TAB and dialog.login_name.text() == username
    assert dialog.signup_password.text() == "" and dialog.signup_confirm.text() == ""
    with scram_club.server.connect(scram_club.database) as conn:
        row = conn.execute(
            "SELECT name, status, password_verifier, w::text FROM waitlist w WHERE username = %s", (username,)
        ).fetchone()
    assert row is not None
    assert row[:2] == ("Nia North", "waiting") and row[2].startswith("SCRAM-SHA-256$")
    assert STRONG_PASSWORD not in row[3]


def test_a_second_request_for_the_same_name_shows_the_clubs_message(
    qtbot: QtBot, dialog: LoginDialog, scram_club: ScramClub
) -> None:
    username = unique("oli")
    ClubAccounts(scram_club.applicant_url).request_sign_up("", f"{username}@example.com", username, STRONG_PASSWORD)
    fill_sign_up(dialog, "", f"other-{username}@example.com", username, STRONG_PASSWORD)
    qtbot.waitUntil(lambda: not dialog.busy and label(dialog, "errorLabel") != "", timeout=10_000)
    assert "already registered or waiting" in label(dialog, "errorLabel")
    assert label(dialog, "noticeLabel") == "" and dialog.isVisible()


def test_log_in_as_the_members_own_role_accepts(qtbot: QtBot, dialog: LoginDialog, scram_club: ScramClub) -> None:
    username = unique("pat")
    member = scram_club.add_member(username, STRONG_PASSWORD)
    dialog.login_name.setText(username)
    dialog.login_password.setText(STRONG_PASSWORD)
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        dialog.login_button.click()
    assert dialog.user == member
    assert dialog.club_login is not None and dialog.club_login.role == trader_role(scram_club.database, username)
    assert dialog.login_result is None  # no login token in a club: PostgreSQL checked the password


@pytest.mark.parametrize("who", ["member", "stranger"])
def test_a_wrong_password_and_an_unknown_member_show_the_same_message(
    qtbot: QtBot, dialog: LoginDialog, scram_club: ScramClub, who: str
) -> None:
    username = unique("quinn")
    scram_club.add_member(username, STRONG_PASSWORD)
    dialog.login_name.setText(username if who == "member" else unique("nobody"))
    dialog.login_password.setText(STRONG_PASSWORD + ("x" if who == "member" else ""))
    dialog.login_button.click()
    qtbot.waitUntil(lambda: not dialog.busy and label(dialog, "errorLabel") != "", timeout=10_000)
    assert label(dialog, "errorLabel") == LOGIN_REFUSED
    assert dialog.isVisible() and dialog.user is None and dialog.login_button.isEnabled()


# --- the whole app on a club ------------------------------------------------------------------------------------


def live_on(elsewhere: Database) -> Callable[[Database, BlockingRunner], Any]:
    """A simulated market on the trust test database: a member's role may not write the shared bars, and the
    club's router (which would feed them) is not what these tests are about."""

    async def start(database: Database, runner: BlockingRunner) -> LiveSetup:
        from datetime import timedelta

        from core.live.workstation import simulated
        from core.market.store import BarStore

        ws = simulated(BarStore(elsewhere.engine), elsewhere.session_factory, speed=600, backfill=timedelta(hours=1))
        await ws.start()
        return LiveSetup(ws)

    return start


def test_the_app_logs_a_member_in_reopens_the_database_as_the_member_and_remembers_until_log_out(
    fresh_loop: Callable[..., list[Any]],
    scram_club: ScramClub,
    db: Database,
    tmp_path: Path,
    keyring_backend: MemoryKeyring,
) -> None:
    username = unique("rae")
    member = scram_club.add_member(username, STRONG_PASSWORD)
    opened: list[str] = []
    windows: list[MainWindow] = []

    def open_db(settings: Settings) -> Database:
        assert settings.database_url is not None
        opened.append(settings.database_url)
        return open_database(settings)

    settings = Settings(tmp_path, scram_club.applicant_url)

    async def log_in_remembered() -> None:
        dialog = await wait_for(lambda: visible(LoginDialog))
        assert isinstance(dialog, LoginDialog) and dialog.is_club
        dialog.login_name.setText(username)
        dialog.login_password.setText(STRONG_PASSWORD)
        dialog.login_remember.setChecked(True)
        dialog.login_button.click()
        window = await wait_for(lambda: visible(MainWindow))
        assert isinstance(window, MainWindow)
        windows.append(window)
        window.close()

    code, _ = fresh_loop(main_async(settings, open_db=open_db, start_live=live_on(db)), log_in_remembered())
    assert code == EXIT_OK
    assert windows[0].windowTitle() == f"StratForge — {username}" and windows[0].user == member
    # First as the applicant (schema check), then as the member: the window ran on the member's own role.
    assert len(opened) == 2 and opened[0] == scram_club.applicant_url
    role = trader_role(scram_club.database, username)
    with psycopg.connect(opened[1].replace("+psycopg", ""), connect_timeout=10) as conn:
        assert conn.execute("SELECT session_user").fetchone() == (role,)
    assert STRONG_PASSWORD in keyring_backend.items.values()  # remembered in the keyring, nowhere else
    assert not any(STRONG_PASSWORD in p.read_text(errors="ignore") for p in tmp_path.rglob("*") if p.is_file())

    async def reopen_then_log_out() -> bool:
        window = await wait_for(lambda: visible(MainWindow))
        dialog_shown = visible(LoginDialog) is not None
        assert isinstance(window, MainWindow) and window.user == member
        window.logout_action.trigger()
        return dialog_shown

    opened.clear()
    code, dialog_shown = fresh_loop(
        main_async(settings, open_db=open_db, start_live=live_on(db)), reopen_then_log_out()
    )
    assert code == EXIT_OK and dialog_shown is False
    assert len(opened) == 2
    assert keyring_backend.items == {}  # logging out forgot the password


def test_a_plain_shared_database_still_uses_the_app_accounts(
    fresh_loop: Callable[..., list[Any]], db: Database, accounts: AccountService, tmp_path: Path
) -> None:
    """The trust test database's URL names the superuser, not a club's applicant: today's dialog, with email."""
    accounts.sign_up("sol@example.com", "sol", STRONG_PASSWORD)
    url = db.engine.url.render_as_string(hide_password=False)

    async def log_in() -> bool:
        dialog = await wait_for(lambda: visible(LoginDialog))
        assert isinstance(dialog, LoginDialog)
        club = dialog.is_club
        dialog.login_name.setText("sol@example.com")
        dialog.login_password.setText(STRONG_PASSWORD)
        dialog.login_button.click()
        window = await wait_for(lambda: visible(MainWindow))
        window.close()
        return club

    code, club = fresh_loop(main_async(Settings(tmp_path, url), start_live=live_on(db)), log_in())
    assert code == EXIT_OK and club is False
