"""A batch's results: runs ranked by a chosen metric, the summary, the failed runs, and the heatmap.

The widget only displays what the panel loaded on a worker thread (`BatchResults`); changing the metric
asks the panel for a new ranking, because the ranking and the summary are SQL queries over all runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.models.batch_runs_model import BatchRunsModel, shown
from app.views.heatmap import Heatmap, metric_grid
from core.backtest.batch_jobs import METRIC_NAMES, SUMMARY_METRIC
from core.services.batches import BatchResults

# Shown next to the ranking metric: the numbers a trader compares first.
EXTRA_METRICS = ("total_return", "sharpe", "max_drawdown", "win_rate", "trade_count")


def _assignment(variables: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={shown(v)}" for k, v in (variables or {}).items())


def summary_text(summary: dict[str, Any] | None) -> str:
    if not summary or summary.get("best") is None:
        return "No finished run has this metric yet."
    best, worst = summary["best"], summary["worst"]
    return (
        f"{summary['metric']}: best {shown(best['value'])} ({_assignment(best['variables'])}) · "
        f"worst {shown(worst['value'])} ({_assignment(worst['variables'])}) · average {shown(summary['average'])} "
        f"over {summary['runs_with_metric']:,} runs; {summary['failed_runs']:,} failed"
    )


class BatchResultsView(QWidget):
    """Emits `metric_changed(name)` when the trader picks another ranking metric."""

    metric_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("batchResults")
        self.results: BatchResults | None = None
        self.variable_names: tuple[str, ...] = ()

        self.metric_combo = QComboBox()
        self.metric_combo.setObjectName("metricCombo")
        self.metric_combo.addItems(sorted(METRIC_NAMES))
        self.metric_combo.setCurrentText(SUMMARY_METRIC)
        self.metric_combo.currentTextChanged.connect(self.metric_changed)
        self.summary_label = QLabel("No batch open.")
        self.summary_label.setObjectName("summaryLabel")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.model = BatchRunsModel(self)
        self.table = QTableView()
        self.table.setObjectName("runsTable")
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)

        self.failed = QTableWidget(0, 3)
        self.failed.setObjectName("failedTable")
        self.failed.setHorizontalHeaderLabels(["run", "variables", "error"])
        self.failed.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.failed.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.failed.verticalHeader().setVisible(False)

        self.x_combo, self.y_combo = QComboBox(), QComboBox()
        self.x_combo.setObjectName("heatmapX")
        self.y_combo.setObjectName("heatmapY")
        self.x_combo.currentTextChanged.connect(lambda _t: self.redraw_heatmap())
        self.y_combo.currentTextChanged.connect(lambda _t: self.redraw_heatmap())
        self.heatmap = Heatmap()
        heat_page = QWidget()
        heat_layout = QVBoxLayout(heat_page)
        axes = QHBoxLayout()
        for text, combo in (("x", self.x_combo), ("y", self.y_combo)):
            axes.addWidget(QLabel(text))
            axes.addWidget(combo, 1)
        heat_layout.addLayout(axes)
        heat_layout.addWidget(self.heatmap, 1)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("resultsTabs")
        self.tabs.addTab(self.table, "Runs")
        self.tabs.addTab(self.failed, "Failed")
        self.tabs.addTab(heat_page, "Heatmap")

        top = QHBoxLayout()
        top.addWidget(QLabel("Rank by"))
        top.addWidget(self.metric_combo)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.tabs, 1)

    @property
    def metric(self) -> str:
        return self.metric_combo.currentText()

    def show_results(self, results: BatchResults, variable_names: Sequence[str]) -> None:
        """Display a loaded ranking; the table shows the database's order (the metric, best first)."""
        self.results = results
        self.variable_names = tuple(variable_names)
        metrics = (results.metric, *(m for m in EXTRA_METRICS if m != results.metric))
        self.model.set_runs(results.runs, self.variable_names, metrics)
        header = self.table.horizontalHeader()
        header.blockSignals(True)  # only the indicator: the rows are already in this order
        header.setSortIndicator(self.model.column_of(results.metric), Qt.SortOrder.DescendingOrder)
        header.blockSignals(False)
        self.summary_label.setText(summary_text(results.summary))
        self._show_failed(results)
        self._fill_axes()

    def _show_failed(self, results: BatchResults) -> None:
        self.failed.setRowCount(len(results.failed))
        for row, run in enumerate(results.failed):
            for col, text in enumerate((str(run.run_index), json.dumps(run.variables), run.error or "")):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.failed.setItem(row, col, item)
        self.tabs.setTabText(1, f"Failed ({len(results.failed)})")

    def _fill_axes(self) -> None:
        names = list(self.variable_names)
        for combo, default in ((self.x_combo, 0), (self.y_combo, 1)):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            if current in names:
                combo.setCurrentText(current)
            elif default < len(names):
                combo.setCurrentIndex(default)
            combo.blockSignals(False)
        self.redraw_heatmap()

    def redraw_heatmap(self) -> None:
        x, y = self.x_combo.currentText(), self.y_combo.currentText()
        if self.results is None or not x or not y or x == y:
            self.heatmap.clear_grid("Choose two different variables" if self.results else "No batch open.")
            return
        self.heatmap.show_grid(metric_grid(self.results.runs, x, y, self.results.metric))

    def clear(self) -> None:
        self.results = None
        self.model.set_runs([], (), ())
        self.summary_label.setText("No batch open.")
        self.failed.setRowCount(0)
        self.heatmap.clear_grid("No batch open.")
