"""The Journal's Fills tab: every fill of the trader (ledger and imported), a symbol filter, importing a broker's
CSV export with a row-by-row report, and the selected fill's decision context.

The file dialog is opened with ``open()``, not ``exec()``: a modal loop inside the qasync loop would stall every
running task. The import itself runs on a worker thread; its report says what was imported, which rows were
duplicates and which were rejected and why. A refused file (unreadable, a required column missing) stores
nothing and its reason shows in red.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PySide6.QtCore import QItemSelection, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.models.journal_models import JournalFillsModel
from app.views.journal_context_form import ContextForm
from app.views.journal_tab import JournalHost, JournalTab, Loader
from app.views.panel_widgets import named_button, row_table
from core.domain.symbols import normalize_symbol
from core.journal import DecisionContextView, FillImportReport, JournalFillRow
from core.services.journal import FillDetail, Journal
from core.strategy.library import SavedStrategy

FILLS_SHOWN = 500
FILTER_DELAY_MS = 250
REASONS_SHOWN = 20


@dataclass(frozen=True)
class FillsData:
    fills: list[JournalFillRow]
    strategies: list[SavedStrategy]  # to link from a decision context


def load_fills_tab(journal: Journal, user_id: uuid.UUID, symbol: str | None) -> FillsData:
    return FillsData(journal.fills(user_id, symbol=symbol, limit=FILLS_SHOWN), journal.strategies(user_id))


def row_ranges(rows: Iterable[int]) -> str:
    """``1, 2, 3, 5`` -> ``1-3, 5``: a long duplicate list stays one line."""
    out: list[str] = []
    ordered = sorted(set(rows))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ", ".join(out)


def report_text(name: str, report: FillImportReport) -> str:
    lines = [f"{name}: {report.summary()}."]
    if report.duplicate_rows:
        lines.append(f"Already in your journal (or repeated in the file): rows {row_ranges(report.duplicate_rows)}.")
    for rejected in report.rejected_rows[:REASONS_SHOWN]:
        lines.append(f"Row {rejected.row} rejected: {rejected.reason}")
    if report.rejected > REASONS_SHOWN:
        lines.append(f"… and {report.rejected - REASONS_SHOWN} more rejected rows.")
    return "\n".join(lines)


class FillsTab(JournalTab):
    """``fillSelected(JournalFillRow | None)`` when the trader selects a fill (entries can link to it)."""

    fillSelected = Signal(object)

    def __init__(self, host: JournalHost, parent: QWidget | None = None) -> None:
        super().__init__(host, parent)
        self.setObjectName("journalFillsTab")
        self._selected: uuid.UUID | None = None
        self._restoring = False
        self._detail_seq = 0
        self.import_dialog: QFileDialog | None = None

        self.symbol_filter = QLineEdit(objectName="fillsSymbolFilter", placeholderText="Symbol (all)")
        self.symbol_filter.setClearButtonEnabled(True)
        self.symbol_filter.setMaximumWidth(160)
        self._filter_timer = QTimer(self, singleShot=True, interval=FILTER_DELAY_MS)
        self._filter_timer.timeout.connect(lambda: self.host.reload(self))
        self.symbol_filter.textChanged.connect(lambda *_: self._filter_timer.start())
        self.import_button = named_button("Import CSV…", "importCsvButton", self.open_import_dialog)
        self.import_button.setToolTip(
            "Add a broker's fills export to the journal (never to the virtual account). "
            "Importing the same file again adds nothing."
        )
        self.report_label = QLabel(objectName="importReport", wordWrap=True)
        self.report_label.setTextFormat(Qt.TextFormat.PlainText)
        self.report_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report_label.hide()

        self.model = JournalFillsModel(self)
        self.table = row_table("journalFillsTable", self.model)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.form = ContextForm()
        self.form.saveRequested.connect(self.save_context)
        form_area = QScrollArea(objectName="contextFormArea", widgetResizable=True)
        form_area.setWidget(self.form)

        toolbar = QHBoxLayout()
        toolbar.addWidget(QLabel("Symbol"))
        toolbar.addWidget(self.symbol_filter)
        toolbar.addStretch(1)
        toolbar.addWidget(self.import_button)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(form_area)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(toolbar)
        layout.addWidget(self.report_label)
        layout.addWidget(splitter, 1)

    # --- loading ---
    def loader(self) -> Loader:
        symbol = normalize_symbol(self.symbol_filter.text()) or None
        return lambda journal, user_id: load_fills_tab(journal, user_id, symbol)

    def show_data(self, data: FillsData) -> None:
        self.form.set_strategies(data.strategies)
        selected = self._selected
        self._restoring = True
        try:
            self.model.set_rows(data.fills)
            row = self.model.row_of(selected) if selected is not None else None
            if row is not None:
                self.table.selectRow(row)
            else:
                self.table.clearSelection()
        finally:
            self._restoring = False
        if selected is not None and row is not None:
            self._load_detail()  # it may have changed (a check linked, a context created by the follower)
        elif selected is not None:
            self._select(None)

    # --- public ---
    def selected_fill(self) -> JournalFillRow | None:
        row = self.model.row_of(self._selected) if self._selected is not None else None
        return self.model.row_at(row) if row is not None else None

    def select_fill(self, fill_id: uuid.UUID) -> bool:
        row = self.model.row_of(fill_id)
        if row is not None:
            self.table.selectRow(row)
        return row is not None

    def open_import_dialog(self) -> QFileDialog:
        """A non-modal file dialog; choosing a file imports it."""
        if self.import_dialog is None:
            self.import_dialog = QFileDialog(self, "Import fills from a broker's CSV export")
            self.import_dialog.setObjectName("importDialog")
            self.import_dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
            self.import_dialog.setNameFilters(["CSV files (*.csv *.txt)", "All files (*)"])
            self.import_dialog.fileSelected.connect(self.import_file)
        self.import_dialog.open()
        return self.import_dialog

    def import_file(self, path: str | Path) -> None:
        path = Path(path)
        self.import_button.setEnabled(False)
        self._show_report(f"Importing {path.name}…")
        self.host.run("import the file", Journal.import_fills_csv, path, done=partial(self._imported, path.name),
                      failed=self._import_failed)  # fmt: skip

    def save_context(self) -> None:
        fill_id = self.form.fill_id
        if fill_id is None:
            return
        self.form.save_button.setEnabled(False)
        self.host.run("save the decision context", Journal.save_context, fill_id, self.form.context_id,
                      self.form.values(), done=self._saved,
                      failed=lambda _: self.form.save_button.setEnabled(True))  # fmt: skip

    # --- behaviour ---
    def _imported(self, name: str, report: FillImportReport) -> None:
        self.import_button.setEnabled(True)
        self._show_report(report_text(name, report))
        self.host.show_status(f"{name}: {report.summary()}")
        if report.imported:
            self.host.refresh()

    def _import_failed(self, _exc: Exception) -> None:
        self.import_button.setEnabled(True)
        self._show_report("Nothing was imported.")

    def _saved(self, view: DecisionContextView) -> None:
        self.form.save_button.setEnabled(True)
        self.form.set_saved(view)
        self.host.show_status("Decision context saved.")
        self.host.refresh()

    def _show_report(self, text: str) -> None:
        self.report_label.setText(text)
        self.report_label.setVisible(bool(text))

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        if self._restoring:
            return
        rows = self.table.selectionModel().selectedRows()
        fill_id = self.model.row_at(rows[0].row()).fill.id if rows else None
        if fill_id != self._selected:
            self._select(fill_id)

    def _select(self, fill_id: uuid.UUID | None) -> None:
        self._selected = fill_id
        row = self.selected_fill()
        self.form.set_fill(row)
        self.fillSelected.emit(row)
        if row is not None:
            self._load_detail()

    def _load_detail(self) -> None:
        row = self.selected_fill()
        if row is None:
            return
        self._detail_seq += 1
        self.host.run("load the fill's context", Journal.fill_detail, row.fill,
                      done=partial(self._detail_loaded, self._detail_seq), action=False)  # fmt: skip

    def _detail_loaded(self, seq: int, detail: FillDetail) -> None:
        if seq == self._detail_seq:
            self.form.set_detail(detail)
