"""The portfolio's open positions as a table, and the small table machinery the order and fill models share.

Models only format what the ledger computed: money to two decimals, quantities as given, P&L green or red. The
raw value of each cell is also offered under ``SORT_ROLE`` (numbers as floats, times as epoch seconds), so a
``QSortFilterProxyModel`` with ``setSortRole(SORT_ROLE)`` sorts numerically rather than by display text.

Times are shown in the zone the trader chose (``app.display_time``): a ``time_column`` names that zone in its header
("Time (ET)") and formats in it, and every model re-renders its headers and cells when the choice changes.

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

from app.display_time import DisplayTime, display_time
from core.domain.display_time import DEFAULT_ZONE, DisplayZone, format_stamp
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


def format_time(value: datetime | None, zone: DisplayZone = DEFAULT_ZONE) -> str:
    """An aware time as "YYYY-MM-DD HH:MM:SS" in `zone`; a dash for None (a naive time is refused)."""
    return DASH if value is None else format_stamp(value, zone)


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
    zoned: bool = False  # a time: shown in the display zone, which the header names (see `time_column`)
    seconds: bool = True
    empty: str = DASH  # a zoned column's text for None


def time_column[R](
    header: str, value: Callable[[R], datetime | None], *, seconds: bool = True, empty: str = DASH
) -> Column[R]:
    """A column of aware times shown in the trader's zone: `header` is the bare name ("Time"), the model adds the
    zone ("Time (ET)")."""
    return Column(header, value, zoned=True, seconds=seconds, empty=empty)


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

    def __init__(self, parent: Any = None, display: DisplayTime | None = None) -> None:
        super().__init__(parent)
        self._rows: list[R] = []
        self._display = display if display is not None else display_time()
        self._display.zoneChanged.connect(self._zone_changed)

    @property
    def display(self) -> DisplayTime:
        """Whose zone the time columns are shown in."""
        return self._display

    def _zone_changed(self, _zone: object) -> None:
        """Headers and times read differently now; rows, selection and sorting stay as they are."""
        zoned = [n for n, column in enumerate(self.columns) if column.zoned]
        if not zoned:
            return
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, min(zoned), max(zoned))
        if self._rows:
            self.dataChanged.emit(self.index(0, min(zoned)), self.index(len(self._rows) - 1, max(zoned)))

    def header_text(self, section: int) -> str:
        """Column `section`'s header as shown (a time column's names the display zone)."""
        column = self.columns[section]
        return self._display.header(column.header) if column.zoned else column.header

    def column_named(self, header: str) -> int:
        """The index of the column whose bare header (without a zone) or shown header is `header`."""
        return next(n for n, c in enumerate(self.columns) if header in (c.header, self.header_text(n)))

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
            return self.header_text(section)
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        column = self.columns[index.column()]
        value = column.value(self._rows[index.row()])
        if role == Qt.ItemDataRole.DisplayRole:
            if column.zoned:
                return self._display.stamp(value, seconds=column.seconds, empty=column.empty)
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
