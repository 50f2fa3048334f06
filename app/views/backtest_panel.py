"""The Backtest panel: run a saved strategy over stored bars and read what came out.

Everything that touches the database or the sandbox (listing strategies, loading bars, the run itself,
history) goes through the runner's worker threads: a run takes seconds to minutes and the GUI must keep
painting, and the Cancel button must stay clickable. Cancel sets the run's ``threading.Event``; the sandbox
notices within a fifth of a second and kills the strategy's process. Failures are shown in the panel with
the service's own message (written for the trader) and the details one click away, never only logged.
"""

from __future__ import annotations

import logging
import threading
import traceback
import uuid
from collections.abc import Coroutine
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.async_runner import BlockingRunner
from app.display_time import shown_minute
from app.models.metrics_model import MetricsModel
from app.models.trades_model import TradesModel
from app.views.backtest_form import BacktestForm
from app.views.backtest_history import HistoryView
from app.views.equity_chart import EquityChart
from app.views.panel_widgets import named_button, row_table, went_wrong
from core.backtest.service import BacktestCancelled, BacktestError, BacktestRequest, ResultDisplay
from core.services.backtests import Backtests
from core.strategy.library import SavedStrategy

log = logging.getLogger(__name__)

METRICS_TAB, CHART_TAB, TRADES_TAB, HISTORY_TAB, COMPARE_TAB = range(5)


class BacktestPanel(QWidget):
    """Runs and reads through ``backtests`` (``core.services.backtests``: each run opens its bar store on the
    worker thread and closes it after). Emits ``resultShown(ResultDisplay)`` whenever a result is displayed and
    ``showTradesOnChart(list[dict])`` when the trader asks to see the shown result's trades on the chart."""

    resultShown = Signal(object)
    showTradesOnChart = Signal(object)

    def __init__(
        self,
        backtests: Backtests,
        user_id: uuid.UUID,
        runner: BlockingRunner,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("backtestPanel")
        self._backtests = backtests
        self._user_id = user_id
        self._runner = runner
        self._cancel: threading.Event | None = None
        self._shown: ResultDisplay | None = None
        live_runs: set[threading.Event] = set()
        self._live_runs = live_runs
        # A panel destroyed mid-run (the app closing) stops its runs; the lambda holds the set, not the panel.
        self.destroyed.connect(lambda *_: [event.set() for event in list(live_runs)])

        self.form = BacktestForm()
        self.run_button = _button("Run", "runButton", self._run_clicked)
        self.run_button.setDefault(True)
        self.cancel_button = _button("Cancel", "cancelButton", self.cancel_run)
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar(objectName="runProgress")
        self.progress.setRange(0, 0)  # indeterminate: the sandbox reports no progress
        self.progress.setVisible(False)
        self.status_label = QLabel(objectName="statusLabel", wordWrap=True)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.form, 1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.progress)
        left_layout.addWidget(self.status_label)
        left_layout.addWidget(self._build_error_box())

        self.metrics_model = MetricsModel(self)
        self.metrics_table = _table("metricsTable", self.metrics_model)
        self.chart = EquityChart()
        self.trades_model = TradesModel(self)
        self.trades_table = _table("tradesTable", self.trades_model)
        self.trades_table.setSortingEnabled(True)
        self.trades_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.chart_button = _button("Show trades on chart", "showOnChartButton", self._show_on_chart)
        self.chart_button.setEnabled(False)
        trades_page = QWidget()
        trades_layout = QVBoxLayout(trades_page)
        trades_layout.addWidget(self.trades_table, 1)
        trades_layout.addWidget(self.chart_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.history = HistoryView()
        self.history.openRequested.connect(self.open_result)
        self.history.compareRequested.connect(lambda ids: self.compare(*ids))
        self.history.refreshRequested.connect(self.reload)
        self.compare_model = MetricsModel(self)
        self.compare_table = _table("compareTable", self.compare_model)

        self.tabs = QTabWidget(objectName="resultTabs")
        self.tabs.addTab(self.metrics_table, "Metrics")
        self.tabs.addTab(self.chart, "Equity")
        self.tabs.addTab(trades_page, "Trades")
        self.tabs.addTab(self.history, "History")
        self.tabs.addTab(self.compare_table, "Compare")

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.reload()

    def _build_error_box(self) -> QFrame:
        self.error_box = QFrame(objectName="errorBox", frameShape=QFrame.Shape.StyledPanel)
        self.error_label = QLabel(objectName="errorLabel", wordWrap=True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setStyleSheet("color: #d32f2f;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = QToolButton(objectName="errorDetailsButton", text="Details", checkable=True)
        self.error_details = QPlainTextEdit(objectName="errorDetails", readOnly=True)
        self.error_details.setVisible(False)
        self.details_button.toggled.connect(self.error_details.setVisible)
        top = QHBoxLayout()
        top.addWidget(self.error_label, 1)
        top.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        box = QVBoxLayout(self.error_box)
        box.addLayout(top)
        box.addWidget(self.error_details)
        self.error_box.setVisible(False)
        return self.error_box

    # --- public ---
    @property
    def running(self) -> bool:
        return self._cancel is not None

    @property
    def shown_result(self) -> ResultDisplay | None:
        return self._shown

    def set_strategy(self, saved: SavedStrategy) -> None:
        """Preselect ``saved`` (the strategy editor calls this after a save); its history is one click away."""
        self.form.select_strategy(saved)

    def reload(self) -> None:
        """Reload the strategy list and the history (on a worker thread)."""
        self._spawn(self._reload(), "backtest-reload")

    def show_error(self, message: str, details: str = "") -> None:
        """Show ``message`` in the panel (empty hides the box); ``details`` behind the Details button."""
        self.error_box.setVisible(bool(message))
        self.error_label.setText(message)
        self.error_details.setPlainText(details)
        self.details_button.setVisible(bool(details))
        self.details_button.setChecked(False)

    def cancel_run(self) -> None:
        """Stop the running backtest (the sandbox kills the strategy's process)."""
        if self._cancel is not None:
            self._cancel.set()
            self.status_label.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def open_result(self, result_id: uuid.UUID) -> None:
        self._spawn(self._open(result_id), "backtest-open")

    def compare(self, first: uuid.UUID, second: uuid.UUID) -> None:
        self._spawn(self._compare(first, second), "backtest-compare")

    def show_result(self, result: ResultDisplay) -> None:
        """Fill the metrics, the curves and the trades with ``result`` and emit ``resultShown``."""
        self._shown = result
        self.metrics_model.set_results([(result.name, result.metrics)])
        self.metrics_table.resizeColumnsToContents()
        self.chart.set_curves(result.times, result.equity, result.drawdown)
        self.trades_model.set_trades(result.trades)
        self.trades_table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.chart_button.setEnabled(bool(result.trades))
        self.resultShown.emit(result)

    # --- behaviour ---
    def _run_clicked(self) -> None:
        if self.running:
            return
        try:
            request = self.form.build_request(self._user_id)
        except ValueError as exc:
            self.show_error(str(exc))
            return
        cancel = threading.Event()
        self._cancel = cancel
        self._live_runs.add(cancel)
        self._set_running(True)
        strategy = self.form.strategy_combo.currentText()
        self.status_label.setText(f"Running {strategy} on {request.symbol} {request.timeframe}…")
        self.show_error("")
        self._spawn(self._run(request, cancel), "backtest-run")

    async def _run(self, request: BacktestRequest, cancel: threading.Event) -> None:
        try:
            run = await self._runner.call(self._backtests.run, request, cancel)
        except BacktestCancelled:
            if self._alive():
                self.status_label.setText("Backtest cancelled.")
        except BacktestError as exc:
            if self._alive():
                self.status_label.setText("The backtest failed." if exc.result_id else "")
                self.show_error(str(exc), exc.details)
                if exc.result_id:
                    self.reload()
        else:
            if self._alive():
                seconds = (run.display.duration_ms or 0) / 1000
                self.status_label.setText(f"Done: {run.bar_count:,} bars in {seconds:,.1f} s.")
                self.show_result(run.display)
                self.tabs.setCurrentIndex(METRICS_TAB)
                self.reload()
        finally:
            self._live_runs.discard(cancel)
            if self._alive():
                self._cancel = None
                self._set_running(False)

    async def _reload(self) -> None:
        strategies = await self._runner.call(self._backtests.strategies, self._user_id)
        results = await self._runner.call(self._backtests.past_results, self._user_id)
        if self._alive():
            self.form.set_strategies(strategies)
            self.history.set_results(results)

    async def _open(self, result_id: uuid.UUID) -> None:
        result = await self._runner.call(self._backtests.result, self._user_id, result_id)
        if not self._alive():
            return
        self.show_result(result)
        self.tabs.setCurrentIndex(METRICS_TAB)
        if result.status == "failed":
            self.show_error(f"This run failed: {result.error_message or 'no message was stored'}")
        else:
            self.show_error("")

    async def _compare(self, first: uuid.UUID, second: uuid.UUID) -> None:
        results = [await self._runner.call(self._backtests.result, self._user_id, i) for i in (first, second)]
        if not self._alive():
            return
        self.compare_model.set_results([(_title(r), r.metrics) for r in results])
        self.compare_table.resizeColumnsToContents()
        self.tabs.setCurrentIndex(COMPARE_TAB)
        self.show_error("")

    def _show_on_chart(self) -> None:
        if self._shown is not None:
            self.showTradesOnChart.emit(list(self._shown.trades))

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        self.form.setEnabled(not running)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._runner.spawn(self._guard(coro), name=name)

    async def _guard(self, coro: Coroutine[Any, Any, None]) -> None:
        """Shows a service error's own message and anything unexpected as a short line with the trace as
        details: a failure in the panel is never only a log line."""
        try:
            await coro
        except BacktestError as exc:
            if self._alive():
                self.show_error(str(exc), exc.details)
        except Exception as exc:
            log.exception("backtest panel call failed")
            if self._alive():
                self.show_error(went_wrong(exc), traceback.format_exc())

    def _alive(self) -> bool:
        """False once Qt has deleted the panel (a call may finish after the app closed it)."""
        return shiboken6.isValid(self)


def _title(result: ResultDisplay) -> str:
    when = shown_minute(result.created_at, label=True)
    return f"{result.name}\n{when}".strip()


_button = named_button
_table = row_table
