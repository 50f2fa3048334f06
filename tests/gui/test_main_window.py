"""The main window: status bar, chart fed by the simulated feed, clean close."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDockWidget, QLabel
from pytestqt.qtbot import QtBot

from app.async_runner import BlockingRunner
from app.sim_feed import SimFeed
from app.views.chart_view import ChartView
from app.views.main_window import MainWindow, db_status_text
from core.accounts import AccountService
from core.db.database import Database
from tests.gui.conftest import STRONG_PASSWORD


class FlakyDatabase:
    """Stands in for Database where the test needs to decide whether ping() succeeds."""

    def __init__(self, real: Database) -> None:
        self._real = real
        self.mode = real.mode
        self.display_url = real.display_url
        self.up = True

    def ping(self) -> bool:
        return self.up and self._real.ping()


@pytest.fixture
def window(qtbot: QtBot, db: Database, accounts: AccountService, runner: BlockingRunner) -> MainWindow:
    user = accounts.sign_up("ada@example.com", "ada", STRONG_PASSWORD)
    w = MainWindow(user, db, runner, feed=SimFeed(history_bars=500, interval_ms=100, seed=1))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def label(window: MainWindow, name: str) -> str:
    widget = window.findChild(QLabel, name)
    assert widget is not None, name
    return widget.text()


def test_status_bar_and_title(window: MainWindow, db: Database) -> None:
    assert window.windowTitle() == "StratForge — ada"
    assert label(window, "dbStatus") == db_status_text(db.mode, connected=True)
    assert "ada" in label(window, "userStatus")
    assert label(window, "modeStatus") == "SIMULATED"
    assert window.isDockNestingEnabled()


def test_chart_dock_receives_history_and_live_bars(qtbot: QtBot, window: MainWindow) -> None:
    dock = window.findChild(QDockWidget, "chartDock")
    assert dock is not None and isinstance(dock.widget(), ChartView)
    chart = dock.widget()
    assert chart.bar_count == window.feed.history_bars
    n0 = chart.bar_count
    qtbot.waitUntil(lambda: chart.bar_count > n0 + 2, timeout=5000)
    last = chart.last_bar()
    assert last is not None and last.timestamp.utcoffset().total_seconds() == 0


def test_ping_updates_the_database_status(
    qtbot: QtBot, db: Database, accounts: AccountService, runner: BlockingRunner
) -> None:
    user = accounts.sign_up("ada@example.com", "ada", STRONG_PASSWORD)
    flaky = FlakyDatabase(db)
    w = MainWindow(user, flaky, runner, feed=SimFeed(history_bars=100, seed=1))  # type: ignore[arg-type]
    qtbot.addWidget(w)
    flaky.up = False
    w.check_database()
    qtbot.waitUntil(lambda: label(w, "dbStatus") == db_status_text(db.mode, connected=False), timeout=5000)
    flaky.up = True
    w.check_database()
    qtbot.waitUntil(lambda: label(w, "dbStatus") == db_status_text(db.mode, connected=True), timeout=5000)
    w.close()


def test_close_stops_the_feed_and_announces_it(qtbot: QtBot, window: MainWindow) -> None:
    assert window.feed.is_running() and window.ping_timer.isActive()
    with qtbot.waitSignal(window.closed, timeout=2000):
        window.close()
    assert not window.feed.is_running() and not window.ping_timer.isActive()
    count = window.chart.bar_count
    qtbot.wait(300)  # three feed intervals: nothing more may arrive
    assert window.chart.bar_count == count


def test_status_text_wording() -> None:
    assert db_status_text("embedded", True) == "DB: embedded PostgreSQL — connected"
    assert db_status_text("external", True) == "DB: shared — connected"
    assert db_status_text("external", False) == "DB: disconnected"
