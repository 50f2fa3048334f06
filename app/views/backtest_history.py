"""The Backtest panel's history: past results newest first; open one, or pick two and compare them.

Only summaries are listed (the service leaves curves and trades in the database); opening or comparing
asks the panel, which loads the full results on a worker thread.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.display_time import display_time
from app.models.metrics_model import format_metric
from core.backtest.service import ResultSummary
from core.domain.display_time import DisplayZone, format_minute

HEADERS = ("Run at", "Name", "Range", "Status", "Return", "Max DD", "Trades")  # "Run at" names the display zone


class HistoryView(QWidget):
    """Emits ``openRequested(uuid)`` and ``compareRequested((uuid, uuid))``; ``refreshRequested`` for a reload."""

    openRequested = Signal(object)
    compareRequested = Signal(object)
    refreshRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("historyView")
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setObjectName("historyTable")
        self._display = display_time()
        self._results: list[ResultSummary] = []
        self._show_headers(self._display.zone)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.itemDoubleClicked.connect(lambda _item: self._open_clicked())
        self._display.zoneChanged.connect(self._zone_changed)

        self.open_button = QPushButton("Open")
        self.open_button.setObjectName("openResultButton")
        self.open_button.clicked.connect(self._open_clicked)
        self.compare_button = QPushButton("Compare two")
        self.compare_button.setObjectName("compareButton")
        self.compare_button.setToolTip("Select two results (Ctrl+click) to see their metrics side by side")
        self.compare_button.clicked.connect(self._compare_clicked)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setObjectName("refreshHistoryButton")
        self.refresh_button.clicked.connect(self.refreshRequested)
        buttons = QHBoxLayout()
        for button in (self.open_button, self.compare_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self._selection_changed()

    def _show_headers(self, zone: DisplayZone) -> None:
        self.table.setHorizontalHeaderLabels([f"{HEADERS[0]} ({zone.label})", *HEADERS[1:]])

    def _zone_changed(self, zone: DisplayZone) -> None:
        """Run times read in the new zone; the selection is kept."""
        selected = set(self.selected_ids())
        self._show_headers(zone)
        self.set_results(self._results)
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) in selected:
                self.table.selectionModel().select(self.table.model().index(row, 0), flags)

    def set_results(self, results: list[ResultSummary]) -> None:
        self._results = list(results)
        zone = self._display.zone
        self.table.setRowCount(0)
        for summary in results:
            row = self.table.rowCount()
            self.table.insertRow(row)
            cells = (
                format_minute(summary.created_at, zone),
                summary.name,
                f"{summary.start:%Y-%m-%d} to {summary.end - timedelta(seconds=1):%Y-%m-%d}",  # the end is exclusive
                summary.status,
                format_metric("pct", summary.total_return),
                format_metric("pct", summary.max_drawdown),
                format_metric("int", summary.trade_count),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, summary.id)
                if summary.error_message:
                    item.setToolTip(summary.error_message)
                self.table.setItem(row, column, item)
        self._selection_changed()

    def result_ids(self) -> list[uuid.UUID]:
        """Every listed result, top to bottom."""
        return [self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in range(self.table.rowCount())]

    def selected_ids(self) -> list[uuid.UUID]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in rows]

    def _selection_changed(self) -> None:
        count = len(self.selected_ids())
        self.open_button.setEnabled(count == 1)
        self.compare_button.setEnabled(count == 2)

    def _open_clicked(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 1:
            self.openRequested.emit(ids[0])

    def _compare_clicked(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 2:
            self.compareRequested.emit((ids[0], ids[1]))
