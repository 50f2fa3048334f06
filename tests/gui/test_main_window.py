"""The main window: status bar, chart fed by the simulated feed, clean close."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QLineEdit
from pytestqt.qtbot import QtBot

from app.application import chosen_database_url
from app.async_runner import BlockingRunner
from app.sim_feed import SimFeed
from app.views.chart_view import ChartView
from app.views.main_window import MainWindow, db_status_text
from core.accounts import AccountService
from core.db.database import Database
from core.strategy.library import StrategyDraft, save_strategy
from tests.backtest.test_sandboxed_backtest import CROSS
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

    def __getattr__(self, name: str) -> object:  # sessions and engine: the real database's
        return getattr(self._real, name)


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


def test_work_panels_are_docked_tabbed_and_reachable_from_the_view_menu(window: MainWindow) -> None:
    docks = {name: window.findChild(QDockWidget, name) for name in ("strategyDock", "backtestDock", "batchDock")}
    assert all(docks.values())
    assert docks["strategyDock"].widget() is window.editor and docks["batchDock"].widget() is window.batch
    assert set(window.tabifiedDockWidgets(docks["strategyDock"])) == {docks["backtestDock"], docks["batchDock"]}
    titles = [a.text() for a in window.view_menu.actions()]
    assert titles[:4] == ["Chart", "Strategy", "Backtest", "Batch"] and "&Reset layout" in titles


def test_reset_layout_brings_back_a_closed_panel(qtbot: QtBot, window: MainWindow) -> None:
    dock = window.findChild(QDockWidget, "batchDock")
    dock.close()
    assert not dock.isVisible()
    window.reset_layout_action.trigger()
    qtbot.waitUntil(lambda: dock.isVisible(), timeout=2000)
    assert window.dockWidgetArea(dock) == Qt.DockWidgetArea.BottomDockWidgetArea


def test_backtest_from_the_editor_preselects_the_strategy(qtbot: QtBot, window: MainWindow, db: Database) -> None:
    saved = save_strategy(db.session_factory, window.user.id, StrategyDraft("Cross", CROSS))
    window.editor.backtestRequested.emit(saved)
    assert window.backtest.form.selected_strategy().id == saved.id
    dock = window.findChild(QDockWidget, "backtestDock")
    qtbot.waitUntil(lambda: not dock.visibleRegion().isEmpty(), timeout=2000)  # raised over its tab siblings


def test_settings_from_the_menu_remembers_the_shared_database_for_the_next_start(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.settings_action.trigger()
    qtbot.waitUntil(lambda: window.settings_dialog is not None and window.settings_dialog.isVisible(), timeout=5000)
    dialog = window.settings_dialog
    qtbot.waitUntil(lambda: dialog.ok_button.isEnabled(), timeout=10_000)  # its keyring and risk loads are done
    dialog.findChild(QLineEdit, "databaseUrl").setText("postgresql://club:pw@db.example.org:5432/stratforge")
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.settings_dialog is None, timeout=5000)
    stored = window.secrets.database_url()
    assert stored is not None and stored.endswith("@db.example.org:5432/stratforge")
    assert chosen_database_url(None, environ={}, secrets=window.secrets) == stored
    assert chosen_database_url("postgresql://given/db", environ={}, secrets=window.secrets) == "postgresql://given/db"
    env = {"STRATFORGE_DATABASE_URL": "postgresql://env/db"}
    assert chosen_database_url(None, environ=env, secrets=window.secrets) == "postgresql://env/db"


def test_a_strategy_saved_in_the_editor_appears_in_the_backtest_and_batch_pickers(
    qtbot: QtBot, window: MainWindow, db: Database
) -> None:
    saved = save_strategy(db.session_factory, window.user.id, StrategyDraft("Fresh", CROSS))
    window.editor.strategySaved.emit(saved)

    def names(combo) -> list[str]:
        return [combo.itemText(i) for i in range(combo.count())]

    qtbot.waitUntil(lambda: "Fresh" in names(window.backtest.form.strategy_combo), timeout=10_000)
    qtbot.waitUntil(lambda: "Fresh (v1)" in names(window.batch.form.strategy), timeout=10_000)
