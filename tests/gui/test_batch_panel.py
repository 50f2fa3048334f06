"""The Batch panel on a real database: variables checked as typed, a batch run off the GUI thread with
progress, cancel and resume, saved lists, and results (ranking, summary, failures, heatmap) that agree
with the core's queries."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import numpy as np
import pytest
from PySide6.QtCore import QDate, Qt
from pytestqt.qtbot import QtBot

from app.async_runner import BlockingRunner
from app.models.batch_runs_model import RAW_ROLE, BatchRunsModel
from app.views.batch_panel import BatchPanel
from app.views.heatmap import Heatmap, metric_grid
from core.accounts import AccountService
from core.backtest.assignments import Variable, VariableError
from core.backtest.batch_jobs import RunRow, batch_state, query_runs, summarize
from core.backtest.variable_lists import save_list
from core.db.database import Database
from core.market.store import BarStore
from core.services.batches import Batches
from core.strategy.library import StrategyDraft, save_strategy
from tests.backtest.test_sandboxed_backtest import SIGNALS
from tests.gui.conftest import STRONG_PASSWORD
from tests.market.test_store import minutes

T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
RUN_TIMEOUT = 120_000  # strategy hosts on a busy 2-core machine: generous, never asserted on


@pytest.fixture
def user_id(db: Database, accounts: AccountService) -> uuid.UUID:
    user = accounts.sign_up("ada@example.com", "ada", STRONG_PASSWORD).id
    store = BarStore(db.engine)
    store.insert("ACME", "1Min", minutes(3_000, start=T0, seed=4), source="csv_import")
    store.close()
    save_strategy(db.session_factory, user, StrategyDraft("Sig", SIGNALS))
    return user


def make_panel(qtbot: QtBot, db: Database, user_id: uuid.UUID, runner: BlockingRunner) -> BatchPanel:
    panel = BatchPanel(Batches(db.session_factory, lambda: BarStore(db.engine)), user_id, runner)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: panel.form.strategy.count() == 1 and panel.loading == 0, timeout=10_000)
    panel.form.symbol.setText("acme")
    panel.form.set_range(QDate(2025, 3, 3), QDate(2025, 3, 10))
    panel.form.workers.setValue(1)
    return panel


@pytest.fixture
def panel(qtbot: QtBot, db: Database, user_id: uuid.UUID, runner: BlockingRunner) -> BatchPanel:
    return make_panel(qtbot, db, user_id, runner)


def run_and_wait(qtbot: QtBot, panel: BatchPanel) -> None:
    with qtbot.waitSignal(panel.results_loaded, timeout=RUN_TIMEOUT):
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
        assert panel.busy  # the click returned while the batch runs on a worker thread
    qtbot.waitUntil(lambda: panel.loading == 0, timeout=10_000)


def table_column(model: BatchRunsModel, name: str) -> list[object]:
    col = model.column_of(name)
    return [model.index(row, col).data(RAW_ROLE) for row in range(model.rowCount())]


def test_the_count_follows_the_variables_and_bad_values_disable_run(panel: BatchPanel) -> None:
    editor = panel.variables
    editor.set_row(0, "fast", "4,8,12")
    editor.add_row("slow", "30,60")
    assert editor.count_label.text() == "6 runs"
    assert editor.variables() == (Variable("fast", (4, 8, 12)), Variable("slow", (30, 60)))
    assert panel.run_button.isEnabled()

    editor.set_row(1, "slow", "30,60,30")
    with pytest.raises(VariableError) as expected:
        Variable("slow", (30, 60, 30))
    assert editor.error_label.text() == str(expected.value)
    assert not panel.run_button.isEnabled()

    editor.set_row(1, "slow", "30,60")
    editor.cap.setValue(4)
    assert editor.count_label.text() == "6 runs (capped at 4)"
    assert panel.run_button.isEnabled()
    editor.add_row("fast", "1")
    assert editor.error_label.text() == "a variable is listed twice" and not panel.run_button.isEnabled()


def test_run_ranks_summarises_and_maps_the_runs(
    qtbot: QtBot, panel: BatchPanel, db: Database, user_id: uuid.UUID
) -> None:
    panel.variables.set_row(0, "fast", "4,8,12")
    panel.variables.add_row("slow", "30,60")
    seen: list[tuple[int, int]] = []
    panel.progress.connect(lambda done, total: seen.append((done, total)))
    run_and_wait(qtbot, panel)

    assert seen and seen[-1] == (6, 6) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert (panel.progress_bar.value(), panel.progress_bar.maximum()) == (6, 6)
    assert panel.state is not None and panel.state.status == "finished"
    assert panel.status_label.text() == "finished: 6 of 6 runs"
    assert not panel.errors.isVisible() and not panel.busy
    assert batch_state(db.session_factory, panel.current.id, user_id).completed == 6

    ranked = query_runs(db.session_factory, panel.current.id, user_id, metric="total_return")
    model = panel.results.model
    assert model.rowCount() == 6
    assert table_column(model, "run") == [r.run_index for r in ranked]
    assert table_column(model, "total_return") == [r.metrics["total_return"] for r in ranked]
    assert table_column(model, "fast") == [r.variables["fast"] for r in ranked]
    summary = summarize(db.session_factory, panel.current.id, user_id, "total_return")
    assert summary["best"]["run_index"] == table_column(model, "run")[0]
    assert f"best {model.index(0, model.column_of('total_return')).data()}" in panel.results.summary_label.text()
    assert panel.results.failed.rowCount() == 0

    grid = panel.results.heatmap.grid
    assert grid is not None and (grid.x_name, grid.y_name) == ("fast", "slow")
    assert grid.x_values == (4, 8, 12) and grid.y_values == (30, 60)
    expected = np.empty((3, 2))
    for r in ranked:
        expected[(4, 8, 12).index(r.variables["fast"]), (30, 60).index(r.variables["slow"])] = r.metrics["total_return"]
    np.testing.assert_allclose(panel.results.heatmap.image_item.image, expected)
    panel.results.tabs.setCurrentIndex(2)
    assert not panel.grab().isNull()  # the whole panel, heatmap shown, renders offscreen

    # Sorting by a header click reorders in the model; sorting back by the metric restores the ranking.
    panel.results.table.sortByColumn(model.column_of("fast"), Qt.SortOrder.AscendingOrder)
    assert table_column(model, "fast") == sorted(table_column(model, "fast"))
    panel.results.table.sortByColumn(model.column_of("total_return"), Qt.SortOrder.DescendingOrder)
    assert table_column(model, "run") == [r.run_index for r in ranked]

    # Another ranking metric is a new query, and the batch shows up among the past batches.
    with qtbot.waitSignal(panel.results_loaded, timeout=10_000):
        panel.results.metric_combo.setCurrentText("trade_count")
    by_trades = query_runs(db.session_factory, panel.current.id, user_id, metric="trade_count")
    assert table_column(model, "run") == [r.run_index for r in by_trades]
    assert panel.batches_table.rowCount() == 1
    assert panel.batches_table.item(0, 1).text() == "finished"
    assert panel.batches_table.item(0, 2).text() == "6 / 6"


def test_cancel_then_resume_finishes_every_run(
    qtbot: QtBot, panel: BatchPanel, db: Database, user_id: uuid.UUID
) -> None:
    panel.variables.set_row(0, "fast", ",".join(str(v) for v in range(3, 23)))
    panel.variables.add_row("slow", "30,60")
    assert panel.variables.count_label.text() == "40 runs"
    first: list[int] = []

    def cancel_on_first(done: int) -> None:  # the bar moves on the GUI thread when `progress` arrives
        if done > 0 and not first:
            first.append(done)
            qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)

    panel.progress_bar.valueChanged.connect(cancel_on_first)
    with qtbot.waitSignal(panel.batch_finished, timeout=RUN_TIMEOUT) as finished:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    panel.progress_bar.valueChanged.disconnect(cancel_on_first)
    state = finished.args[0]
    assert state.status == "canceled" and first[0] <= state.completed < 40
    qtbot.waitUntil(lambda: panel.loading == 0, timeout=10_000)
    assert panel.status_label.text() == f"canceled: {state.completed} of 40 runs"
    assert panel.resume_button.isEnabled() and panel.run_button.isEnabled()
    assert panel.results.model.rowCount() == state.completed
    assert panel.batches_table.item(0, 1).text() == "canceled"

    with qtbot.waitSignal(panel.batch_finished, timeout=RUN_TIMEOUT) as resumed:
        qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    assert (resumed.args[0].status, resumed.args[0].completed) == ("finished", 40)
    assert resumed.args[0].id == state.id  # the same job, not a new one
    qtbot.waitUntil(lambda: panel.loading == 0 and panel.results.model.rowCount() == 40, timeout=10_000)
    assert not panel.resume_button.isEnabled()
    assert sorted(table_column(panel.results.model, "run")) == list(range(40))


def test_saved_lists_fill_a_row_and_a_row_saves_as_a_list(
    qtbot: QtBot, db: Database, user_id: uuid.UUID, runner: BlockingRunner
) -> None:
    save_list(db.session_factory, user_id, "fast grid", "number", [5, 10, 15])
    save_list(db.session_factory, user_id, "tickers", "ticker", ["acme", "spy"])
    panel = make_panel(qtbot, db, user_id, runner)
    editor = panel.variables
    assert [saved.name for saved in editor.lists] == ["fast grid", "tickers"]
    assert editor.list_combo.itemText(0) == "fast grid (number, 3)"

    editor.set_row(0, "fast", "")
    editor.table.setCurrentCell(0, 1)
    editor.list_combo.setCurrentIndex(0)
    qtbot.mouseClick(editor.use_list_button, Qt.MouseButton.LeftButton)
    assert editor.table.item(0, 1).text() == "5, 10, 15"
    assert editor.variables() == (Variable("fast", (5, 10, 15)),)
    assert editor.count_label.text() == "3 runs"

    editor.add_row("slow", "30, 45")
    editor.list_name.setText("slow grid")
    qtbot.mouseClick(editor.save_list_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(editor.lists) == 3 and panel.loading == 0, timeout=10_000)
    assert [saved.name for saved in editor.lists] == ["fast grid", "slow grid", "tickers"]
    slow = editor.lists[1]
    assert (slow.type, slow.values) == ("number", (30, 45))


def test_a_bad_list_and_missing_bars_are_reported_in_the_panel(
    qtbot: QtBot, panel: BatchPanel, db: Database, user_id: uuid.UUID
) -> None:
    panel.variables.set_row(0, "fast", "1, nan")
    qtbot.mouseClick(panel.variables.save_list_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.errors.isVisible() and panel.loading == 0, timeout=10_000)
    assert panel.errors.message == "Could not save the list: nan is not a finite number"
    assert "VariableListError" in panel.errors.details.toPlainText()  # the details hold the traceback

    panel.variables.set_rows([("ticker", "ACME,ZZZ"), ("fast", "5")])
    run_and_wait(qtbot, panel)
    assert panel.state is not None and panel.state.status == "finished" and panel.state.failed_runs == 1
    failed = panel.results.failed
    assert failed.rowCount() == 1 and json.loads(failed.item(0, 1).text()) == {"ticker": "ZZZ", "fast": 5}
    assert failed.item(0, 2).text().startswith("no bars for ZZZ: no 1Min bars stored for ZZZ")
    assert panel.results.model.rowCount() == 1

    panel.form.end.setDate(QDate(2025, 3, 1))
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert panel.errors.message == "the end date must be after the start date" and not panel.busy


def test_a_past_batch_reopens_from_the_list(
    qtbot: QtBot, db: Database, user_id: uuid.UUID, runner: BlockingRunner, panel: BatchPanel
) -> None:
    panel.variables.set_row(0, "fast", "4,8")
    run_and_wait(qtbot, panel)
    job = panel.current.id
    other = make_panel(qtbot, db, user_id, runner)
    assert other.current is None and other.batches_table.rowCount() == 1
    other.batches_table.setCurrentCell(0, 0)
    with qtbot.waitSignal(other.results_loaded, timeout=10_000):
        qtbot.mouseClick(other.open_button, Qt.MouseButton.LeftButton)
    assert other.current.id == job and other.status_label.text() == "finished: 2 of 2 runs"
    assert table_column(other.results.model, "run") == table_column(panel.results.model, "run")
    assert other.results.heatmap.grid is None  # one variable: nothing to map


def test_the_model_keeps_undefined_values_last_in_both_directions() -> None:
    rows = [
        RunRow(0, {"a": 1}, {"sharpe": None}, "finished", None),
        RunRow(1, {"a": 2}, {"sharpe": 0.5}, "finished", None),
        RunRow(2, {"a": 3}, {"sharpe": 1.5}, "finished", None),
        RunRow(3, {"a": 4}, {"sharpe": 0.5}, "finished", None),
    ]
    model = BatchRunsModel()
    model.set_runs(rows, ["a"], ["sharpe"])
    assert model.columns == ("run", "a", "sharpe")
    model.sort(2, Qt.SortOrder.DescendingOrder)
    assert table_column(model, "run") == [2, 1, 3, 0]
    model.sort(2, Qt.SortOrder.AscendingOrder)
    assert table_column(model, "run") == [1, 3, 2, 0]
    assert model.index(3, 2).data() == "—"


def test_the_heatmap_averages_over_other_variables_and_leaves_uncovered_cells_blank(qtbot: QtBot) -> None:
    rows = [
        RunRow(0, {"fast": 4, "slow": 30, "size": 1}, {"sharpe": 1.0}, "finished", None),
        RunRow(1, {"fast": 4, "slow": 30, "size": 2}, {"sharpe": 3.0}, "finished", None),
        RunRow(2, {"fast": 8, "slow": 30, "size": 1}, {"sharpe": -1.0}, "finished", None),
        RunRow(3, {"fast": 4, "slow": 60, "size": 1}, {"sharpe": None}, "finished", None),
        RunRow(4, {"fast": 8, "slow": 60, "size": 1}, {"sharpe": 0.5}, "finished", None),
        RunRow(5, {"fast": 4, "slow": 90, "size": 1}, {"sharpe": 2.0}, "finished", None),
    ]
    grid = metric_grid(rows, "fast", "slow", "sharpe")
    assert (grid.x_values, grid.y_values) == ((4, 8), (30, 60, 90))
    np.testing.assert_array_equal(grid.values, [[2.0, np.nan, 2.0], [-1.0, 0.5, np.nan]])

    heatmap = Heatmap()
    qtbot.addWidget(heatmap)
    heatmap.resize(400, 300)
    heatmap.show()
    heatmap.show_grid(grid)
    assert heatmap.image_item.image.shape == (2, 3)
    assert heatmap.color_bar.levels() == (-1.0, 2.0)
    bottom = heatmap.plot.getPlotItem().getAxis("bottom")
    assert [label for _pos, label in bottom._tickLevels[0]] == ["4", "8"]
    assert heatmap.message.text() == "mean sharpe by fast x slow (2 cells without runs)"
    assert not heatmap.grab().isNull()  # renders offscreen with the blank (NaN) cells
