"""A batch's finished runs as a table: the run index, one column per variable, one per chosen metric.

Sorting happens in the model (not a proxy) because the order must match the database's ranking exactly:
undefined values last in either direction, ties broken by run index, as `query_runs` orders them. A
proxy's generic comparison would put None first in one direction and mix numbers with text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from core.backtest.batch_jobs import RunRow

RAW_ROLE = Qt.ItemDataRole.UserRole  # the value itself (number, text or None), for tests and consumers
RUN_COLUMN = "run"

Index = QModelIndex | QPersistentModelIndex


def shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _key(value: Any) -> tuple[int, Any]:
    """Numbers before text, each kind ordered on its own, so mixed columns never raise TypeError."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


class BatchRunsModel(QAbstractTableModel):
    """Read-only rows of `RunRow`s; `sort` keeps undefined metric values last in both directions."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._runs: list[RunRow] = []
        self._variables: tuple[str, ...] = ()
        self._metrics: tuple[str, ...] = ()

    def set_runs(self, runs: Sequence[RunRow], variables: Sequence[str], metrics: Sequence[str]) -> None:
        """Replace the rows; kept in the given order (the database's ranking) until sorted again."""
        self.beginResetModel()
        self._runs = list(runs)
        self._variables = tuple(variables)
        self._metrics = tuple(dict.fromkeys(metrics))
        self.endResetModel()

    @property
    def columns(self) -> tuple[str, ...]:
        return (RUN_COLUMN, *self._variables, *self._metrics)

    def column_of(self, name: str) -> int:
        """Column of a metric or variable name (metrics win when a name is both)."""
        cols = self.columns
        if name in self._metrics:
            return 1 + len(self._variables) + self._metrics.index(name)
        return cols.index(name)

    def run_at(self, row: int) -> RunRow:
        return self._runs[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._runs)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.columns)

    def _value(self, run: RunRow, column: int) -> Any:
        if column == 0:
            return run.run_index
        if column <= len(self._variables):
            return run.variables.get(self._variables[column - 1])
        return run.metrics.get(self._metrics[column - 1 - len(self._variables)])

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        value = self._value(self._runs[index.row()], index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return shown(value)
        if role == RAW_ROLE:
            return value
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, int | float):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.columns[section] if 0 <= section < len(self.columns) else None
        return str(section + 1)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.columns):
            return
        descending = order == Qt.SortOrder.DescendingOrder
        present = [r for r in self._runs if self._value(r, column) is not None]
        missing = [r for r in self._runs if self._value(r, column) is None]
        present.sort(key=lambda r: r.run_index)  # ties by run index ascending, whichever the direction
        present.sort(key=lambda r: _key(self._value(r, column)), reverse=descending)
        self.layoutAboutToBeChanged.emit()
        self._runs = present + sorted(missing, key=lambda r: r.run_index)
        self.layoutChanged.emit()
