"""The Backtest panel runs saved strategies on stored bars through the real service, offscreen: results,
errors, cancelling, history and comparing, with every blocking call on the runner's worker threads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from PySide6.QtCore import QDate, QItemSelectionModel, Qt
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.async_runner import BlockingRunner
from app.models.trades_model import COLUMNS
from app.views.backtest_panel import BacktestPanel
from core.backtest.bar_source import NoBarsError, stored_bars
from core.backtest.service import BacktestRequest, run_and_store
from core.db.database import Database
from core.db.models import BacktestResult
from core.market.store import BarStore
from core.services.backtests import Backtests
from core.strategy.library import SavedStrategy, StrategyDraft, save_strategy
from tests.backtest.test_sandboxed_backtest import CROSS, SPINS
from tests.gui.conftest import STRONG_PASSWORD
from tests.market.test_store import minutes
from tests.strategy.test_sandbox import _sandbox_children

T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
RUN_TIMEOUT = 60_000


@pytest.fixture
def user(accounts) -> uuid.UUID:
    return accounts.sign_up("ada@example.com", "ada", STRONG_PASSWORD).id


@pytest.fixture
def bars(db: Database) -> None:
    store = BarStore(db.engine)
    store.insert("ACME", "1Min", minutes(1_500, start=T0, seed=4), source="csv_import")
    store.close()


@pytest.fixture
def cross(db: Database, user: uuid.UUID) -> SavedStrategy:
    return save_strategy(db.session_factory, user, StrategyDraft("Cross", CROSS))


@pytest.fixture
def make_panel(qtbot: QtBot, db: Database, runner: BlockingRunner, user: uuid.UUID):
    def make(strategies: int) -> BacktestPanel:
        panel = BacktestPanel(Backtests(db.session_factory, lambda: BarStore(db.engine)), user, runner)
        qtbot.addWidget(panel)
        panel.show()
        qtbot.waitUntil(lambda: panel.form.strategy_combo.count() == strategies, timeout=10_000)
        return panel

    return make


def button(panel: BacktestPanel, name: str) -> QPushButton:
    found = panel.findChild(QPushButton, name)
    assert found is not None, name
    return found


def fill_form(qtbot: QtBot, panel: BacktestPanel, strategy: str, symbol: str) -> None:
    combo = panel.form.strategy_combo
    combo.setCurrentIndex(combo.findText(strategy))
    panel.form.symbol_edit.clear()
    qtbot.keyClicks(panel.form.symbol_edit, symbol)
    panel.form.start_date.setDate(QDate(2025, 3, 3))
    panel.form.end_date.setDate(QDate(2025, 3, 7))


def newest_row(db: Database) -> BacktestResult:
    with db.session_factory() as s:
        return s.scalars(select(BacktestResult).order_by(BacktestResult.created_at.desc())).first()


def test_a_run_shows_the_stored_metrics_curves_and_trades(qtbot, db, bars, cross, make_panel):
    panel = make_panel(1)
    fill_form(qtbot, panel, "Cross", "acme")
    assert panel.form.symbol_edit.text() == "ACME"
    panel.form.add_param("fast", "5")

    with qtbot.waitSignal(panel.resultShown, timeout=RUN_TIMEOUT) as shown:
        qtbot.mouseClick(button(panel, "runButton"), Qt.MouseButton.LeftButton)
        assert panel.running and not button(panel, "runButton").isEnabled()  # the click returned at once
        assert button(panel, "cancelButton").isEnabled() and panel.progress.isVisible()
    qtbot.waitUntil(lambda: not panel.running, timeout=10_000)

    row = newest_row(db)
    assert shown.args[0].id == row.id and row.parameters == {"fast": 5, "slow": 30}
    model = panel.metrics_model
    trades = row.metrics["trade_count"]
    assert trades > 0
    assert model.index(model.row_of("trade_count"), 0).data(Qt.ItemDataRole.UserRole) == trades
    assert model.index(model.row_of("trade_count"), 0).data() == f"{trades:,}"
    total = row.metrics["total_return"]
    assert model.index(model.row_of("total_return"), 0).data() == f"{total * 100:,.2f} %"
    assert model.index(model.row_of("final_equity"), 0).data().startswith("$")
    assert panel.chart.point_count() == row.metrics["bar_count"] == 1_500
    assert panel.trades_model.rowCount() == len(row.trades) == trades
    assert "Done: 1,500 bars" in panel.status_label.text() and not panel.error_box.isVisible()
    assert button(panel, "runButton").isEnabled() and not panel.progress.isVisible()
    qtbot.waitUntil(lambda: panel.history.result_ids() == [row.id], timeout=10_000)

    pnl = [name for name, _, _ in COLUMNS].index("P&L")
    panel.trades_table.sortByColumn(pnl, Qt.SortOrder.DescendingOrder)
    values = [panel.trades_model.index(r, pnl).data(Qt.ItemDataRole.UserRole) for r in range(trades)]
    assert values == sorted((t["pnl"] for t in row.trades), reverse=True)

    with qtbot.waitSignal(panel.showTradesOnChart, timeout=1_000) as sent:
        qtbot.mouseClick(button(panel, "showOnChartButton"), Qt.MouseButton.LeftButton)
    assert sent.args[0] == row.trades


def test_a_symbol_without_bars_shows_the_no_bars_message(qtbot, db, bars, cross, make_panel):
    panel = make_panel(1)
    fill_form(qtbot, panel, "Cross", "zzz")
    qtbot.mouseClick(button(panel, "runButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.error_box.isVisible() and not panel.running, timeout=RUN_TIMEOUT)

    store = BarStore(db.engine)
    with pytest.raises(NoBarsError) as expected:
        stored_bars(store, "1Min", datetime(2025, 3, 3, tzinfo=UTC), datetime(2025, 3, 8, tzinfo=UTC))("ZZZ")
    store.close()
    assert panel.error_label.text() == str(expected.value)
    assert panel.details_button.isVisible() and not panel.error_details.isVisible()
    panel.details_button.click()
    assert panel.error_details.isVisible() and "strategy: Cross" in panel.error_details.toPlainText()
    assert button(panel, "runButton").isEnabled() and panel.metrics_model.rowCount() == 0
    assert newest_row(db).status == "failed"  # kept for the history


def test_missing_input_is_refused_in_the_panel(qtbot, db, bars, cross, make_panel):
    panel = make_panel(1)
    qtbot.mouseClick(button(panel, "runButton"), Qt.MouseButton.LeftButton)
    assert panel.error_label.text() == "Enter a symbol." and not panel.running


def test_cancel_kills_a_runaway_strategy_and_reenables_run(qtbot, db, bars, user, make_panel):
    save_strategy(db.session_factory, user, StrategyDraft("Spin", SPINS))
    panel = make_panel(1)
    fill_form(qtbot, panel, "Spin", "ACME")
    qtbot.mouseClick(button(panel, "runButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _sandbox_children() != [], timeout=RUN_TIMEOUT)  # the strategy is looping now

    qtbot.mouseClick(button(panel, "cancelButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.running, timeout=RUN_TIMEOUT)

    assert "cancelled" in panel.status_label.text()
    assert button(panel, "runButton").isEnabled() and not button(panel, "cancelButton").isEnabled()
    assert not panel.error_box.isVisible()
    assert _sandbox_children() == []  # the child was killed and reaped
    assert newest_row(db) is None  # a cancelled run is not stored


def test_history_reopens_a_result_and_compares_two(qtbot, db, bars, cross, user, make_panel):
    store = BarStore(db.engine)
    base = {"user_id": user, "symbol": "ACME", "timeframe": "1Min", "strategy_id": cross.id,
            "start": datetime(2025, 3, 3, tzinfo=UTC), "end": datetime(2025, 3, 8, tzinfo=UTC)}  # fmt: skip
    first = run_and_store(db.session_factory, store, BacktestRequest(**base, params={"fast": 5}))
    second = run_and_store(db.session_factory, store, BacktestRequest(**base, params={"fast": 8}))
    store.close()
    panel = make_panel(1)
    qtbot.waitUntil(lambda: panel.history.result_ids() == [second.result_id, first.result_id], timeout=10_000)

    table = panel.history.table
    table.selectRow(1)
    with qtbot.waitSignal(panel.resultShown, timeout=10_000) as shown:
        qtbot.mouseClick(button(panel, "openResultButton"), Qt.MouseButton.LeftButton)
    with db.session_factory() as s:
        stored = s.get(BacktestResult, first.result_id)
    assert shown.args[0].id == first.result_id and shown.args[0].metrics == stored.metrics
    model = panel.metrics_model
    assert model.value("trade_count") == stored.metrics["trade_count"] == panel.trades_model.rowCount()
    assert panel.chart.point_count() == len(stored.equity_curve)

    assert not button(panel, "compareButton").isEnabled()
    table.selectionModel().select(
        table.model().index(0, 0),
        QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
    )
    assert button(panel, "compareButton").isEnabled()
    qtbot.mouseClick(button(panel, "compareButton"), Qt.MouseButton.LeftButton)
    compare = panel.compare_model
    qtbot.waitUntil(lambda: compare.columnCount() == 2, timeout=10_000)
    assert panel.tabs.currentWidget() is panel.compare_table
    for column, run in enumerate((second, first)):  # the history's order, newest first
        assert compare.value("total_return", column) == run.detail["metrics"]["total_return"]
        assert compare.value("trade_count", column) == run.detail["metrics"]["trade_count"]
    assert compare.headerData(0, Qt.Orientation.Horizontal).startswith("Cross ACME 1Min")


def test_reopening_a_failed_result_shows_its_error(qtbot, db, bars, cross, make_panel):
    panel = make_panel(1)
    fill_form(qtbot, panel, "Cross", "ACME")
    panel.form.add_param("fast", "13")  # Cross raises on 13
    qtbot.mouseClick(button(panel, "runButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.error_box.isVisible() and not panel.running, timeout=RUN_TIMEOUT)
    assert "thirteen is unlucky" in panel.error_label.text()
    failed = newest_row(db)
    qtbot.waitUntil(lambda: panel.history.result_ids() == [failed.id], timeout=10_000)

    panel.show_error("")
    panel.history.table.selectRow(0)
    qtbot.mouseClick(button(panel, "openResultButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(panel.error_box.isVisible, timeout=10_000)
    assert panel.error_label.text() == f"This run failed: {failed.error_message}"


def test_set_strategy_preselects_it_with_its_classes_and_parameters(qtbot, db, cross, user, make_panel):
    other = save_strategy(db.session_factory, user, StrategyDraft("Another", CROSS, parameters={"fast": 7}))
    panel = make_panel(2)
    assert panel.form.selected_strategy().id == other.id  # listed by name: "Another" first
    panel.set_strategy(cross)
    assert panel.form.strategy_combo.currentText() == "Cross" and panel.form.selected_strategy().id == cross.id
    assert panel.form.class_combo.currentText() == "Cross" and panel.form.params() == {}
    panel.set_strategy(other)
    assert panel.form.params() == {"fast": 7}
    newer = save_strategy(db.session_factory, user, StrategyDraft("Spin", SPINS))
    panel.set_strategy(newer)  # saved after the list was loaded: added
    assert panel.form.strategy_combo.count() == 3 and panel.form.class_combo.currentText() == "Spin"
