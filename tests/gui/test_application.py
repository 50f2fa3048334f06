"""The whole session as the `stratforge` command runs it: database start, login, window, clean exit."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from keyring.backends.fail import Keyring as NoKeyring
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app.application import EXIT_OK, EXIT_STARTUP_FAILED, main_async, parse_args
from app.async_runner import BlockingRunner
from app.entry import python_too_old_message
from app.live_setup import LiveSetup
from app.views.login_dialog import SIGNUP_TAB, LoginDialog
from app.views.main_window import MainWindow
from app.views.splash import StartupSplash
from core.accounts import AccountService, InvalidLoginSession
from core.config import Settings
from core.db.database import Database
from core.db.errors import DataFolderInUse
from tests.gui.conftest import STRONG_PASSWORD, wait_for
from tests.keyrings import use_keyring


async def fast_live(database: Database, runner: BlockingRunner) -> LiveSetup:
    """The simulated market at 600x (a minute every 0.1 s) with a short backfill, so the chart moves quickly."""
    from datetime import timedelta

    from core.live.workstation import simulated
    from core.market.store import BarStore

    ws = simulated(BarStore(database.engine), database.session_factory, speed=600, backfill=timedelta(hours=2))
    await ws.start()
    return LiveSetup(ws)


def visible(kind: type[QWidget]) -> QWidget | None:
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, kind) and widget.isVisible():
            return widget
    return None


class BorrowedDatabase:
    """The session's test database, lent to main_async: its close() is recorded, not performed,
    because other tests still need the database."""

    def __init__(self, real: Database) -> None:
        self._real = real
        self.close_calls = 0
        self.close_thread: str | None = None

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)

    def close(self) -> None:
        self.close_calls += 1
        self.close_thread = threading.current_thread().name


def test_database_failure_shows_message_and_exits_1(fresh_loop: Callable[..., list[Any]], tmp_path: Path) -> None:
    problem = DataFolderInUse(f"Another StratForge is already using {tmp_path}. Close it first.")

    def failing_open(settings: Settings) -> Database:
        raise problem

    async def acknowledge() -> str:
        box = await wait_for(lambda: visible(QMessageBox))
        text = box.text()
        box.accept()
        return text

    code, shown = fresh_loop(main_async(Settings(tmp_path, None), open_db=failing_open), acknowledge())
    assert code == EXIT_STARTUP_FAILED
    assert shown == str(problem)


def test_unexpected_startup_error_is_a_message_not_a_crash(
    fresh_loop: Callable[..., list[Any]], tmp_path: Path
) -> None:
    def broken_open(settings: Settings) -> Database:
        raise OSError("disk on fire")

    async def acknowledge() -> str:
        box = await wait_for(lambda: visible(QMessageBox))
        text = box.text()
        box.accept()
        return text

    code, shown = fresh_loop(main_async(Settings(tmp_path, None), open_db=broken_open), acknowledge())
    assert code == EXIT_STARTUP_FAILED
    assert "disk on fire" in shown


def test_sign_up_to_chart_to_clean_exit(
    fresh_loop: Callable[..., list[Any]], db: Database, accounts: AccountService, tmp_path: Path
) -> None:
    borrowed = BorrowedDatabase(db)
    splash_seen = threading.Event()

    def open_db(settings: Settings) -> Database:
        # Blocks like a real embedded start until the GUI has shown the splash: proves the
        # event loop keeps running while the database opens.
        assert splash_seen.wait(timeout=10), "splash never appeared"
        return borrowed  # type: ignore[return-value]

    async def user_session() -> tuple[int, int]:
        await wait_for(lambda: visible(StartupSplash))
        splash_seen.set()
        dialog = await wait_for(lambda: visible(LoginDialog))
        assert isinstance(dialog, LoginDialog)
        assert dialog.tabs.currentIndex() == SIGNUP_TAB  # a database without accounts opens on "Sign up"
        dialog.signup_email.setText("ada@example.com")
        dialog.signup_username.setText("ada")
        dialog.signup_password.setText(STRONG_PASSWORD)
        dialog.signup_confirm.setText(STRONG_PASSWORD)
        dialog.signup_button.click()

        window = await wait_for(lambda: visible(MainWindow))
        assert isinstance(window, MainWindow)
        assert window.windowTitle() == "StratForge — ada"
        n0 = window.chart.bar_count
        await wait_for(lambda: window.chart.bar_count > n0, timeout=5)
        window.close()
        return n0, window.chart.bar_count

    code, (n0, n1) = fresh_loop(
        main_async(Settings(tmp_path, None), open_db=open_db, start_live=fast_live), user_session()
    )
    assert code == EXIT_OK
    assert n1 > n0
    assert borrowed.close_calls == 1
    assert borrowed.close_thread != threading.main_thread().name  # closed off the GUI thread
    assert accounts.log_in("ada", STRONG_PASSWORD).user.username == "ada"


def test_cancelled_login_exits_0_and_closes_database(
    fresh_loop: Callable[..., list[Any]], db: Database, tmp_path: Path
) -> None:
    borrowed = BorrowedDatabase(db)

    async def cancel_login() -> None:
        dialog = await wait_for(lambda: visible(LoginDialog))
        dialog.reject()

    code, _ = fresh_loop(
        main_async(Settings(tmp_path, None), open_db=lambda s: borrowed, start_live=fast_live), cancel_login()
    )
    assert code == EXIT_OK and borrowed.close_calls == 1


def test_command_line_options() -> None:
    args, qt_args = parse_args(
        ["--data-dir", "/tmp/x", "--database-url", "postgresql://h/db", "-platform", "offscreen"]
    )
    assert args.data_dir == Path("/tmp/x") and args.database_url == "postgresql://h/db"
    assert qt_args == ["-platform", "offscreen"]
    assert not args.debug and parse_args(["--debug"])[0].debug


@pytest.mark.parametrize(
    ("version", "refused"),
    [((3, 11, 7, "final", 0), True), ((3, 6, 15), True), ((3, 12, 0), False), ((3, 13, 1), False)],
)
def test_python_version_gate(version: tuple[object, ...], refused: bool) -> None:
    message = python_too_old_message(version)  # type: ignore[arg-type]
    if refused:
        assert message is not None and "\n" not in message
        assert message.startswith("StratForge needs Python 3.12 or newer (found ")
        assert ".".join(str(p) for p in version[:3]) in message
    else:
        assert message is None


def test_remembered_login_skips_the_dialog_until_logged_out(
    fresh_loop: Callable[..., list[Any]], db: Database, accounts: AccountService, tmp_path: Path, keyring_backend
) -> None:
    accounts.sign_up("rita@example.com", "rita", STRONG_PASSWORD)
    borrowed = BorrowedDatabase(db)

    async def log_in_remembered() -> None:
        dialog = await wait_for(lambda: visible(LoginDialog))
        assert dialog.login_remember.isEnabled()
        dialog.login_name.setText("rita")
        dialog.login_password.setText(STRONG_PASSWORD)
        dialog.login_remember.setChecked(True)
        dialog.login_button.click()
        window = await wait_for(lambda: visible(MainWindow))
        window.close()

    code, _ = fresh_loop(
        main_async(Settings(tmp_path, None), open_db=lambda s: borrowed, start_live=fast_live), log_in_remembered()
    )
    assert code == EXIT_OK
    (saved,) = keyring_backend.items.values()
    assert accounts.resume(saved).username == "rita"  # still valid after the app closed

    async def reopen_then_log_out() -> bool:
        window = await wait_for(lambda: visible(MainWindow))
        dialog_shown = visible(LoginDialog) is not None
        assert window.windowTitle() == "StratForge — rita"
        window.logout_action.trigger()
        return dialog_shown

    code, dialog_shown = fresh_loop(
        main_async(Settings(tmp_path, None), open_db=lambda s: borrowed, start_live=fast_live), reopen_then_log_out()
    )
    assert code == EXIT_OK and dialog_shown is False
    assert keyring_backend.items == {}
    with pytest.raises(InvalidLoginSession):
        accounts.resume(saved)


def test_without_a_keyring_remember_me_is_disabled_and_login_still_works(
    fresh_loop: Callable[..., list[Any]], db: Database, accounts: AccountService, tmp_path: Path
) -> None:
    accounts.sign_up("sam@example.com", "sam", STRONG_PASSWORD)
    borrowed = BorrowedDatabase(db)

    async def log_in() -> bool:
        dialog = await wait_for(lambda: visible(LoginDialog))
        enabled = dialog.login_remember.isEnabled()
        dialog.login_name.setText("sam")
        dialog.login_password.setText(STRONG_PASSWORD)
        dialog.login_button.click()
        window = await wait_for(lambda: visible(MainWindow))
        window.close()
        return enabled

    with use_keyring(NoKeyring()):
        code, enabled = fresh_loop(
            main_async(Settings(tmp_path, None), open_db=lambda s: borrowed, start_live=fast_live), log_in()
        )
    assert code == EXIT_OK and enabled is False
