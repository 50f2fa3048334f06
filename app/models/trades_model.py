"""A backtest's closed trades as a sortable table (sorted on the raw values, not on the display text).

Entry and exit times are epoch seconds (the engine's unit) shown in the trader's display zone, which their headers
name; the table re-renders when that choice changes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from app.display_time import DisplayTime, display_time
from app.models.metrics_model import format_duration, format_money
from core.domain.display_time import format_epoch

TIME_HEADERS = ("Entry", "Exit")  # shown with the display zone: "Entry (ET)"


def _side(trade: dict[str, Any]) -> str:
    return "Long" if float(trade["size"]) >= 0 else "Short"


# (header, raw value of a trade, display text of that value)
COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], Any], Callable[[Any], str]], ...] = (
    ("#", lambda t: t["_n"], str),
    ("Side", _side, str),
    ("Entry", lambda t: float(t["entry_time"]), str),  # shown by TradesModel in the display zone
    ("Exit", lambda t: float(t["exit_time"]), str),
    ("Held", lambda t: float(t["exit_time"]) - float(t["entry_time"]), format_duration),
    ("Size", lambda t: abs(float(t["size"])), lambda v: f"{v:,.4g}"),
    ("Entry price", lambda t: float(t["entry_price"]), lambda v: f"{v:,.4f}"),
    ("Exit price", lambda t: float(t["exit_price"]), lambda v: f"{v:,.4f}"),
    ("P&L", lambda t: float(t["pnl"]), format_money),
    ("Return", lambda t: float(t["return_pct"]), lambda v: f"{v * 100:,.2f} %"),
    ("Fees", lambda t: float(t.get("fees", 0.0)), format_money),
    ("Exit reason", lambda t: str(t.get("exit_reason", "")), str),
)


class TradesModel(QAbstractTableModel):
    """Rows are trades (numbered in the order they closed); ``sort`` reorders by a column's raw value."""

    def __init__(self, parent: Any = None, display: DisplayTime | None = None) -> None:
        super().__init__(parent)
        self._trades: list[dict[str, Any]] = []
        self._display = display if display is not None else display_time()
        self._display.zoneChanged.connect(self._zone_changed)

    def _zone_changed(self, _zone: object) -> None:
        columns = [n for n, column in enumerate(COLUMNS) if column[0] in TIME_HEADERS]
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, min(columns), max(columns))
        if self._trades:
            self.dataChanged.emit(self.index(0, min(columns)), self.index(len(self._trades) - 1, max(columns)))

    def set_trades(self, trades: Sequence[dict[str, Any]]) -> None:
        self.beginResetModel()
        self._trades = [{**t, "_n": n} for n, t in enumerate(trades, start=1)]
        self.endResetModel()

    def trades(self) -> list[dict[str, Any]]:
        """The trades in the current order, as given (without the row number)."""
        return [{k: v for k, v in t.items() if k != "_n"} for t in self._trades]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._trades)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        _, raw, show = COLUMNS[index.column()]
        value = raw(self._trades[index.row()])
        if role == Qt.ItemDataRole.DisplayRole:
            if COLUMNS[index.column()][0] in TIME_HEADERS:
                return format_epoch(value, self._display.zone)
            return show(value)
        if role == Qt.ItemDataRole.UserRole:
            return value
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, int | float):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            name = COLUMNS[section][0]
            return self._display.header(name) if name in TIME_HEADERS else name
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        raw = COLUMNS[column][1]
        self.layoutAboutToBeChanged.emit()
        before = self.persistentIndexList()
        numbers = [self._trades[i.row()]["_n"] for i in before]
        self._trades.sort(key=raw, reverse=order == Qt.SortOrder.DescendingOrder)
        row_of = {t["_n"]: row for row, t in enumerate(self._trades)}
        after = [self.index(row_of[n], i.column()) for n, i in zip(numbers, before, strict=True)]
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()
