"""The batch's variables: rows of (name, comma-separated values), saved lists, and the live run count.

Checking happens as the trader types, with the core's own rules (`Variable`, `expand`), so a duplicate
value or a bad name is reported here, by its message, before anything is stored. The editor itself does
no database work: saving a row as a list is a request the panel carries out on a worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.backtest.assignments import DEFAULT_CAP, MAX_CAP, Variable, VariableError, parse_values, product_size
from core.backtest.variable_lists import SavedList
from core.services.batches import list_type_for

NAME_COL, VALUES_COL = 0, 1
TYPED_ROLE = Qt.ItemDataRole.UserRole  # (text, values) of a row filled from a saved list: keeps their types


class VariablesEditor(QWidget):
    """Emits `changed` on every edit, and `save_requested(list_name, kind, values)` for "Save as list"."""

    changed = Signal()
    save_requested = Signal(str, str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("variablesEditor")
        self._lists: list[SavedList] = []
        self.error: str | None = None

        self.table = QTableWidget(0, 2)
        self.table.setObjectName("variablesTable")
        self.table.setHorizontalHeaderLabels(["variable", "values (comma-separated)"])
        self.table.horizontalHeader().setSectionResizeMode(VALUES_COL, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.itemChanged.connect(lambda _item: self.revalidate())
        add = self._button("Add variable", "addVariableButton", lambda: self.add_row())
        remove = self._button("Remove", "removeVariableButton", self.remove_current_row)

        self.list_combo = QComboBox()
        self.list_combo.setObjectName("savedListCombo")
        self.use_list_button = self._button("Fill row from list", "useListButton", self.fill_from_list)
        self.list_name = QLineEdit()
        self.list_name.setObjectName("listNameEdit")
        self.list_name.setPlaceholderText("list name (default: the variable's)")
        self.save_list_button = self._button("Save row as list", "saveListButton", self._request_save)

        self.cap = QSpinBox()
        self.cap.setObjectName("capSpin")
        self.cap.setRange(1, MAX_CAP)
        self.cap.setValue(DEFAULT_CAP)
        self.cap.setPrefix("cap ")
        self.cap.valueChanged.connect(lambda _v: self.revalidate())
        self.count_label = QLabel()
        self.count_label.setObjectName("assignmentCount")
        self.error_label = QLabel()
        self.error_label.setObjectName("variablesError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d9534f;")

        rows = QHBoxLayout()
        for w in (add, remove, self.cap, self.count_label):
            rows.addWidget(w)
        rows.addStretch(1)
        lists = QHBoxLayout()
        for w in (self.list_combo, self.use_list_button, self.list_name, self.save_list_button):
            lists.addWidget(w)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(rows)
        layout.addLayout(lists)
        layout.addWidget(self.error_label)
        self.add_row()

    def _button(self, text: str, name: str, slot: Any) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.clicked.connect(slot)
        return button

    # rows -------------------------------------------------------------------------------------------

    def add_row(self, name: str = "", values: str = "") -> int:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, NAME_COL, QTableWidgetItem(name))
        self.table.setItem(row, VALUES_COL, QTableWidgetItem(values))
        self.table.setCurrentCell(row, NAME_COL)
        self.revalidate()
        return row

    def remove_current_row(self) -> None:
        row = self.table.currentRow()
        if row >= 0:
            self.table.removeRow(row)
            self.revalidate()

    def set_row(self, row: int, name: str, values: str) -> None:
        while self.table.rowCount() <= row:
            self.add_row()
        self.table.item(row, NAME_COL).setText(name)
        self.table.item(row, VALUES_COL).setText(values)

    def set_rows(self, rows: Sequence[tuple[str, str]]) -> None:
        """Replace every row (programmatic setup, and reopening a batch's variables)."""
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        self.table.blockSignals(False)
        for name, values in rows:
            self.add_row(name, values)
        if not rows:
            self.add_row()

    def _text(self, row: int, col: int) -> str:
        item = self.table.item(row, col)
        return item.text().strip() if item is not None else ""

    def _row_values(self, row: int) -> tuple[Any, ...]:
        item = self.table.item(row, VALUES_COL)
        typed = item.data(TYPED_ROLE) if item is not None else None
        if typed and typed[0] == item.text():
            return tuple(typed[1])
        return parse_values(self._text(row, VALUES_COL))

    # checking ---------------------------------------------------------------------------------------

    def variables(self) -> tuple[Variable, ...]:
        """The rows as core Variables (empty rows skipped); raises VariableError with the core's message."""
        out: list[Variable] = []
        for row in range(self.table.rowCount()):
            name, values = self._text(row, NAME_COL), self._row_values(row)
            if not name and not values:
                continue
            out.append(Variable(name, values))
        names = [v.name for v in out]
        if len(set(names)) != len(names):
            raise VariableError("a variable is listed twice")
        return tuple(out)

    def revalidate(self) -> None:
        """Recount the assignments, or show why the rows cannot be expanded."""
        try:
            count = product_size(self.variables())
        except VariableError as exc:
            self.error = str(exc)
            self.count_label.setText("—")
        else:
            self.error = None
            cap = self.cap.value()
            self.count_label.setText(f"{count:,} runs" + (f" (capped at {cap:,})" if count > cap else ""))
        self.error_label.setText(self.error or "")
        self.changed.emit()

    @property
    def valid(self) -> bool:
        return self.error is None

    # saved lists ------------------------------------------------------------------------------------

    def set_lists(self, lists: Sequence[SavedList]) -> None:
        self._lists = list(lists)
        self.list_combo.clear()
        for saved in self._lists:
            owner = "" if saved.owned else ", shared"
            self.list_combo.addItem(f"{saved.name} ({saved.type}, {len(saved.values)}{owner})")
        self.use_list_button.setEnabled(bool(self._lists))

    @property
    def lists(self) -> list[SavedList]:
        return list(self._lists)

    def fill_from_list(self) -> None:
        """Put the chosen list's values in the current row (its own typed values, not a re-parse)."""
        index = self.list_combo.currentIndex()
        if not 0 <= index < len(self._lists):
            return
        saved = self._lists[index]
        row = self.table.currentRow()
        if row < 0:
            row = self.add_row()
        text = ", ".join(str(v) for v in saved.values)
        item = self.table.item(row, VALUES_COL)
        item.setData(TYPED_ROLE, (text, list(saved.values)))
        item.setText(text)
        if not self._text(row, NAME_COL) and saved.name.isidentifier():
            self.table.item(row, NAME_COL).setText(saved.name)

    def _request_save(self) -> None:
        row = self.table.currentRow()
        if row < 0:
            self.error_label.setText("select the row to save as a list")
            return
        name, values = self._text(row, NAME_COL), self._row_values(row)
        list_name = self.list_name.text().strip() or name
        self.save_requested.emit(list_name, list_type_for(name, values), list(values))
