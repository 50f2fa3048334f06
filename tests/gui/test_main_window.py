"""The main window: status bar, chart and watchlist fed by the simulated workstation, clean close."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QLineEdit, QTableView
from pytestqt.qtbot import QtBot

from app.application import chosen_database_url
from app.async_runner import BlockingRunner
from app.display_time import display_time, stored_zone
from app.views.chart_view import ChartView
from app.views.main_window import MainWindow, db_status_text
from core.accounts import AccountService
from core.db.database import Database
from core.domain.bars import NormalizedBar
from core.domain.display_time import DisplayZone
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.journal import list_campaigns
from core.live.workstation import Workstation
from core.paper.types import SignalInfo
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
def window(
    qtbot: QtBot, db: Database, accounts: AccountService, runner: BlockingRunner, workstation: Workstation
) -> MainWindow:
    user = accounts.sign_up("ada@example.com", "ada", STRONG_PASSWORD)
    w = MainWindow(user, db, runner, workstation)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def label(window: MainWindow, name: str) -> str:
    widget = window.findChild(QLabel, name)
    assert widget is not None, name
    return widget.text()


def test_status_bar_and_title(qtbot: QtBot, window: MainWindow, db: Database) -> None:
    assert window.windowTitle() == "StratForge — ada"
    assert label(window, "dbStatus") == db_status_text(db.mode, connected=True)
    assert "ada" in label(window, "userStatus")
    assert label(window, "modeStatus") == "SIMULATED"
    assert window.isDockNestingEnabled()
    assert label(window, "feedStatus").startswith("Feed: simulated at 600x")
    assert label(window, "brokerStatus") == "Broker: simulated (local)"
    qtbot.waitUntil(lambda: " · " in label(window, "marketClock"), timeout=10_000)  # e.g. "Market open · closes in 2h"


def test_the_central_chart_receives_history_and_live_bars(qtbot: QtBot, window: MainWindow) -> None:
    chart = window.centralWidget()
    assert isinstance(chart, ChartView) and chart is window.chart
    qtbot.waitUntil(lambda: chart.bar_count >= 300, timeout=20_000)  # the stored six hours of SPY
    n0 = chart.bar_count
    qtbot.waitUntil(lambda: chart.bar_count > n0 + 2, timeout=10_000)  # then live minutes
    last = chart.last_bar()
    assert last is not None and last.timestamp.utcoffset().total_seconds() == 0
    assert window.chart_controller.symbol == "SPY"


def test_watchlist_quotes_fill_in_and_a_click_opens_the_symbol(qtbot: QtBot, window: MainWindow) -> None:
    panel = window.watchlist
    assert panel.symbols[:2] == ["SPY", "QQQ"]
    first_quote = panel.model.index(1, 1)
    qtbot.waitUntil(lambda: panel.model.data(first_quote) != "—", timeout=20_000)
    with qtbot.waitSignal(window.chart_controller.loaded, timeout=20_000) as loaded:
        panel.symbolActivated.emit("QQQ")
    assert loaded.args[0] == "QQQ" and loaded.args[2] > 0
    assert window.chart.bar_count >= loaded.args[2]  # live minutes may follow at once


def test_ping_updates_the_database_status(
    qtbot: QtBot, db: Database, accounts: AccountService, runner: BlockingRunner, workstation: Workstation
) -> None:
    user = accounts.sign_up("ada@example.com", "ada", STRONG_PASSWORD)
    flaky = FlakyDatabase(db)
    w = MainWindow(user, flaky, runner, workstation)  # type: ignore[arg-type]
    qtbot.addWidget(w)
    flaky.up = False
    w.check_database()
    qtbot.waitUntil(lambda: label(w, "dbStatus") == db_status_text(db.mode, connected=False), timeout=5000)
    flaky.up = True
    w.check_database()
    qtbot.waitUntil(lambda: label(w, "dbStatus") == db_status_text(db.mode, connected=True), timeout=5000)
    w.close()


def test_close_detaches_from_the_live_feed_and_announces_it(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.chart.bar_count > 0, timeout=20_000)
    assert window.ping_timer.isActive() and window.status_timer.isActive()
    with qtbot.waitSignal(window.closed, timeout=2000):
        window.close()
    assert not window.ping_timer.isActive() and not window.status_timer.isActive()
    assert window.workstation.subscriptions.union() == frozenset()  # chart and watchlist released their symbols
    count = window.chart.bar_count
    qtbot.wait(500)  # five simulated minutes: nothing more may reach the closed window
    assert window.chart.bar_count == count


def test_status_text_wording() -> None:
    assert db_status_text("embedded", True) == "DB: embedded PostgreSQL — connected"
    assert db_status_text("external", True) == "DB: shared — connected"
    assert db_status_text("external", False) == "DB: disconnected"


def test_work_panels_are_docked_tabbed_and_reachable_from_the_view_menu(window: MainWindow) -> None:
    names = ("strategyDock", "backtestDock", "batchDock", "sessionsDock", "journalDock", "portfolioDock")
    docks = {name: window.findChild(QDockWidget, name) for name in names}
    assert all(docks.values())
    panel = {name: window.panel_of(dock) for name, dock in docks.items()}
    assert panel["strategyDock"] is window.editor and panel["batchDock"] is window.batch
    assert panel["sessionsDock"] is window.sessions and panel["portfolioDock"] is window.portfolio
    assert set(window.tabifiedDockWidgets(docks["strategyDock"])) == {
        docks["backtestDock"], docks["batchDock"], docks["sessionsDock"], docks["journalDock"]}  # fmt: skip
    assert panel["journalDock"] is window.journal
    assert window.dockWidgetArea(docks["portfolioDock"]) == Qt.DockWidgetArea.RightDockWidgetArea
    titles = [a.text() for a in window.view_menu.actions()]
    assert titles[:7] == ["Watchlist", "Portfolio", "Strategy", "Backtest", "Batch", "Paper sessions", "Journal"]
    # the chart keeps the centre and most of the window: panels dock around it
    assert window.chart.height() > window.height() * 0.4 and window.chart.width() > window.width() * 0.4
    assert "&Reset layout" in titles
    assert window.about_action.objectName() == "aboutAction" and window.about_action.text() == "&About StratForge"


def test_an_order_fills_on_the_simulated_market_and_shows_in_portfolio_chart_and_journal(
    qtbot: QtBot, window: MainWindow, db: Database
) -> None:
    ws = window.workstation
    # SPY's price comes from its first live bar (the chart's stored history is no quote)
    qtbot.waitUntil(lambda: ws.ledger.last_price("SPY") is not None and window.portfolio.overview is not None,
                    timeout=20_000)  # fmt: skip
    ws.ledger.place_order(window.user.id, OrderTicket("SPY", OrderSide.BUY, Decimal("3")))

    # The next simulated minute fills it; the ledger's NOTIFY (or the bars) refresh the portfolio.
    def holds_three() -> bool:
        return any(p.symbol == "SPY" and p.qty == 3 for p in window.portfolio.overview.portfolio.positions)

    qtbot.waitUntil(holds_three, timeout=20_000)
    qtbot.waitUntil(lambda: len(window.chart.markers("fill")) == 1, timeout=10_000)
    [marker] = window.chart.markers("fill")
    assert marker.side == "buy" and marker.kind == "fill"
    [fill] = window.portfolio.overview.fills
    assert marker.price == float(fill.price) and marker.timestamp == fill.executed_at
    # The journal follows: the fill opens a campaign, and the Journal panel lists it.
    table = window.journal.findChild(QTableView, "journalFillsTable")
    qtbot.waitUntil(lambda: table.model().rowCount() == 1, timeout=10_000)
    [campaign] = list_campaigns(db.session_factory, window.user.id)
    assert campaign.status == "open" and campaign.symbol == "SPY"


def test_signals_and_backtest_trades_are_marked_on_their_symbol(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.chart_controller.symbol == "SPY" and window.chart.bar_count > 0, timeout=20_000)
    at = window.chart.last_bar().timestamp
    signal = SignalInfo(uuid.uuid4(), uuid.uuid4(), "SPY", "SELL", Decimal(1), "EXECUTED", None, at, at, price=101.5)
    other = SignalInfo(uuid.uuid4(), uuid.uuid4(), "QQQ", "BUY", Decimal(1), "EXECUTED", None, at, at, price=99.0)
    window.sessions.signalRecorded.emit(signal)
    window.sessions.signalRecorded.emit(other)
    [marker] = window.chart.markers("signal")
    assert (marker.side, marker.price, marker.timestamp) == ("sell", 101.5, at)

    t0 = at.timestamp()
    trades = [{"entry_time": t0 - 600, "exit_time": t0 - 60, "entry_price": 100.0, "exit_price": 102.0,
               "exit_reason": "signal"}]  # fmt: skip
    with qtbot.waitSignal(window.chart_controller.loaded, timeout=20_000):
        window.chart_controller.show_backtest("QQQ", "5Min", trades)
    assert (window.chart_controller.symbol, window.chart_controller.timeframe) == ("QQQ", "5Min")
    marked = sorted((m.side, m.price) for m in window.chart.markers("signal"))
    assert marked == [("buy", 99.0), ("buy", 100.0), ("sell", 102.0)]  # QQQ's signal and the backtest's trade


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


def test_the_time_zone_chosen_in_settings_applies_at_once_and_is_kept_for_the_next_start(
    qtbot: QtBot, db: Database, accounts: AccountService, runner: BlockingRunner, workstation: Workstation,
    tmp_path: Path,
) -> None:  # fmt: skip
    store = QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat)  # the preference store
    user = accounts.sign_up("ada@example.com", "ada", STRONG_PASSWORD)
    window = MainWindow(user, db, runner, workstation, layout_settings=store)
    qtbot.addWidget(window)
    window.show()
    window.settings_action.trigger()
    qtbot.waitUntil(lambda: window.settings_dialog is not None and window.settings_dialog.isVisible(), timeout=5000)
    dialog = window.settings_dialog
    qtbot.waitUntil(lambda: dialog.ok_button.isEnabled(), timeout=10_000)
    assert dialog.time_zone is DisplayZone.EXCHANGE  # nothing stored yet: the default
    dialog.time_zone_combo.setCurrentIndex(dialog.time_zone_combo.findData("utc"))
    with qtbot.waitSignal(dialog.accepted, timeout=10_000):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.settings_dialog is None, timeout=5000)
    assert display_time().zone is DisplayZone.UTC  # applied without a restart
    assert window.chart.time_axis.zone is DisplayZone.UTC
    store.sync()
    again = QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat)  # the next start reads it back
    assert stored_zone(again) is DisplayZone.UTC


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


def test_a_bar_queued_before_the_window_closed_is_not_drawn_after(qtbot: QtBot, window: MainWindow) -> None:
    """The feed thread may have queued a bar for the GUI thread just before the close detached the bridge."""
    qtbot.waitUntil(lambda: window.chart.bar_count > 0, timeout=20_000)
    last = window.chart.last_bar()
    assert last is not None
    with qtbot.waitSignal(window.closed, timeout=2000):
        window.close()
    count = window.chart.bar_count
    late = NormalizedBar(symbol=window.chart_controller.symbol, timeframe="1Min",
                         timestamp=last.timestamp + timedelta(minutes=5), open=1.0, high=1.0, low=1.0, close=1.0,
                         volume=1.0)  # fmt: skip
    window.bridge.barArrived.emit(late)  # as the queued signal delivers it
    assert window.chart.bar_count == count
