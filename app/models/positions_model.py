"""The portfolio's open positions as a table, and the small table machinery the order and fill models share.

Models only format what the ledger computed: money to two decimals, quantities as given, P&L green or red. The
raw value of each cell is also offered under ``SORT_ROLE`` (numbers as floats, times as epoch seconds), so a
``QSortFilterProxyModel`` with ``setSortRole(SORT_ROLE)`` sorts numerically rather than by display text.

``set_rows`` keeps rows in place when the same records come back (a refresh every second only changes prices):
it then emits ``dataChanged`` instead of resetting, so the trader's selection and scroll position survive.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from core.ledger.views import PositionView

SORT_ROLE = int(Qt.ItemDataRole.UserRole)
UP = QColor("#26a69a")
DOWN = QColor("#ef5350")
DASH = "—"
AnyIndex = QModelIndex | QPersistentModelIndex


def format_money(value: Decimal | None, *, currency: bool = False, signed: bool = False) -> str:
    """Two decimals with thousands separators; ``signed`` shows + on gains (P&L), ``currency`` a dollar sign."""
    if value is None:
        return DASH
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    return f"{sign}{'$' if currency else ''}{abs(value):,.2f}"


def format_qty(value: Decimal | None) -> str:
    """Shares as given, without trailing zeros (fractional quantities keep their digits)."""
    if value is None:
        return DASH
    return f"{value.normalize():,f}"


def format_time(value: datetime | None) -> str:
    return DASH if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def pnl_color(value: Decimal | None) -> QColor | None:
    """Green for a gain, red for a loss, default for zero or unknown."""
    if value is None or value == 0:
        return None
    return UP if value > 0 else DOWN


@dataclass(frozen=True)
class Column[R]:
    header: str
    value: Callable[[R], Any]
    text: Callable[[Any], str] = str
    pnl: bool = False  # coloured green/red by sign


def _sort_key(value: Any) -> Any:
    if value is None:
        return float("-inf")
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return str(value)


class RecordTableModel[R](QAbstractTableModel):
    """Rows are frozen records; subclasses give ``columns`` and ``key`` (a record's identity)."""

    columns: Sequence[Column[Any]] = ()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[R] = []

    @staticmethod
    def key(row: Any) -> Hashable:
        raise NotImplementedError

    def set_rows(self, rows: Sequence[R]) -> None:
        rows = list(rows)
        if [self.key(r) for r in rows] == [self.key(r) for r in self._rows]:
            if rows != self._rows:
                self._rows = rows
                self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(self.columns) - 1))
            return
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def rows(self) -> list[R]:
        return list(self._rows)

    def row_at(self, row: int) -> R:
        return self._rows[row]

    def row_of(self, key: Hashable) -> int | None:
        for n, record in enumerate(self._rows):
            if self.key(record) == key:
                return n
        return None

    # --- QAbstractTableModel ---
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section].header
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        column = self.columns[index.column()]
        value = column.value(self._rows[index.row()])
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(value)
        if role == SORT_ROLE:
            return _sort_key(value)
        if role == Qt.ItemDataRole.ForegroundRole and column.pnl:
            return pnl_color(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, Decimal):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def _money(value: Decimal | None) -> str:
    return format_money(value)


def _pnl(value: Decimal | None) -> str:
    return format_money(value, signed=True)


POSITION_COLUMNS: tuple[Column[PositionView], ...] = (
    Column("Symbol", lambda p: p.symbol),
    Column("Qty", lambda p: p.qty, format_qty),
    Column("Avg price", lambda p: p.avg_entry_price, _money),
    Column("Last", lambda p: p.last_price, _money),
    Column("Market value", lambda p: p.market_value, _money),
    Column("Cost basis", lambda p: p.cost_basis, _money),
    Column("Unrealized P&L", lambda p: p.unrealized_pnl, _pnl, pnl=True),
    Column("Realized P&L", lambda p: p.realized_pnl, _pnl, pnl=True),
)


class PositionsModel(RecordTableModel[PositionView]):
    """One row per open position, as ``Ledger.portfolio`` valued it (last price, or at cost before one)."""

    columns = POSITION_COLUMNS

    @staticmethod
    def key(row: PositionView) -> Hashable:
        return row.symbol

    def symbol_at(self, row: int) -> str:
        return self._rows[row].symbol
