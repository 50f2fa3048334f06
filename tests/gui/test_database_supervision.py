"""The status bar follows the database supervisor: "DB: restarting…" while the embedded server is brought back,
then "reconnected"; a restart that keeps failing ends in one clear line with what to do."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from app.async_runner import BlockingRunner
from app.views.main_window import MainWindow, db_status_text, db_supervised_text
from core.accounts import AccountService
from core.db.database import Database
from core.db.errors import EmbeddedDatabaseFailed
from core.db.supervisor import DatabaseState, DatabaseStatus, DatabaseSupervisor
from core.live.workstation import Workstation
from tests.gui.conftest import STRONG_PASSWORD


class Restartable:
    """An embedded server that has died; ``restart()`` fails ``failures`` times, then succeeds."""

    running = True
    pgdata = Path("/data/db/postgres")
    log_path = pgdata / "log"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.alive = False

    def server_alive(self) -> bool:
        return self.alive

    def restart(self) -> object:
        if self.failures > 0:
            self.failures -= 1
            raise EmbeddedDatabaseFailed("pg_ctl: could not start server")
        self.alive = True

        class Info:
            seconds = 0.5

        return Info()


class SupervisedDatabase:
    """The session's test database with a supervisor over a stand-in embedded server."""

    def __init__(self, real: Database, server: Restartable) -> None:
        self._real = real
        self.mode = "embedded"
        self.display_url = "embedded PostgreSQL in /data/db/postgres"
        self.embedded = server
        self.supervisor = DatabaseSupervisor(self, restart_backoff_s=0)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def label(window: MainWindow) -> QLabel:
    widget = window.findChild(QLabel, "dbStatus")
    assert widget is not None
    return widget


def open_window(qtbot: QtBot, database: SupervisedDatabase, accounts: AccountService, runner: BlockingRunner,
                workstation: Workstation) -> tuple[MainWindow, list[str]]:  # fmt: skip
    user = accounts.sign_up("ada@example.com", "ada", STRONG_PASSWORD)
    window = MainWindow(user, database, runner, workstation)  # type: ignore[arg-type]
    qtbot.addWidget(window)
    shown: list[str] = []
    window.databaseStatus.connect(lambda status: shown.append(label(window).text()))
    return window, shown


def test_the_status_bar_says_restarting_then_reconnected(
    qtbot: QtBot, db: Database, accounts: AccountService, runner: BlockingRunner, workstation: Workstation
) -> None:
    database = SupervisedDatabase(db, Restartable(failures=1))
    window, shown = open_window(qtbot, database, accounts, runner, workstation)
    assert not window.ping_timer.isActive()  # the supervisor does the pinging

    threading.Thread(target=database.supervisor.check).start()  # the supervisor's thread notices the death

    qtbot.waitUntil(lambda: len(shown) == 3, timeout=10_000)
    assert shown == ["DB: restarting…", "DB: restarting… (attempt 2)", "DB: embedded PostgreSQL — reconnected"]
    assert window.statusBar().currentMessage() == "The database was restarted."
    window.close()
    assert database.supervisor._subscribers == []  # the closed window hears nothing more


def test_a_restart_that_keeps_failing_ends_in_one_clear_line(
    qtbot: QtBot, db: Database, accounts: AccountService, runner: BlockingRunner, workstation: Workstation
) -> None:
    database = SupervisedDatabase(db, Restartable(failures=99))
    window, shown = open_window(qtbot, database, accounts, runner, workstation)

    threading.Thread(target=database.supervisor.check).start()

    qtbot.waitUntil(lambda: bool(shown) and shown[-1] == "DB: stopped — restart StratForge", timeout=10_000)
    message = window.statusBar().currentMessage()
    assert "could not be restarted (3 attempts)" in message and "Quit and start StratForge again" in message
    assert label(window).toolTip() == message
    window.close()


def test_supervised_wording() -> None:
    def status(state: DatabaseState, attempt: int = 0) -> DatabaseStatus:
        return DatabaseStatus(state, attempt=attempt)

    assert db_supervised_text("embedded", status(DatabaseState.CONNECTED)) == db_status_text("embedded", True)
    assert db_supervised_text("embedded", status(DatabaseState.RESTARTING, 1)) == "DB: restarting…"
    assert db_supervised_text("external", status(DatabaseState.RECONNECTED)) == "DB: shared — reconnected"
    assert db_supervised_text("external", status(DatabaseState.DISCONNECTED)) == "DB: disconnected"
    assert db_supervised_text("embedded", status(DatabaseState.FAILED)) == "DB: stopped — restart StratForge"
