"""The Sessions panel's tables: the trader's paper sessions, and the signals of the one selected.

Times are shown in the trader's display zone (``app.display_time``), which their headers name ("Started (ET)").
Rows are keyed by id and updated in place (``upsert``), so an event from a running session changes its row
without disturbing the selection. Each column keeps the raw value under ``UserRole`` for tests and sorting.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from app.display_time import DisplayTime, display_time
from core.domain.display_time import format_stamp
from core.paper.types import PaperSessionInfo, SignalInfo

_FAILED = QColor("#d32f2f")
_GOOD = QColor("#2e7d32")
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


def _money(value: Decimal | None) -> str:
    if value is None:
        return ""
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def _qty(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():,f}"


def _note(info: PaperSessionInfo) -> str:
    return info.error_message or info.stop_reason or ""


class _Column[R: (PaperSessionInfo, SignalInfo)]:
    def __init__(
        self, header: str, raw: Callable[[R], Any], show: Callable[[Any], str] = str, *, zoned: bool = False
    ) -> None:
        self.header, self.raw, self.show, self.zoned = header, raw, show, zoned  # zoned: a time, in the display zone


def _time_column[R: (PaperSessionInfo, SignalInfo)](header: str, raw: Callable[[R], datetime | None]) -> _Column[R]:
    return _Column(header, raw, zoned=True)


SESSION_COLUMNS: tuple[_Column[PaperSessionInfo], ...] = (
    _Column("Strategy", lambda s: s.strategy_name),
    _Column("Symbols", lambda s: ", ".join(s.symbols)),
    _Column("Timeframe", lambda s: s.timeframe),
    _Column("Status", lambda s: s.status),
    _time_column("Started", lambda s: s.started_at),
    _Column("P&L", lambda s: s.pnl, _money),
    _Column("Signals", lambda s: s.signal_count, lambda n: f"{n:,}"),
    _Column("Error / note", _note),
)

SIGNAL_COLUMNS: tuple[_Column[SignalInfo], ...] = (
    _time_column("Bar", lambda s: s.bar_timestamp),
    _Column("Symbol", lambda s: s.symbol),
    _Column("Action", lambda s: s.action),
    _Column("Qty", lambda s: s.quantity, _qty),
    _Column("Price", lambda s: s.price, lambda p: "" if p is None else f"{p:,.4f}"),
    _Column("Status", lambda s: s.status),
    _Column("Reason", lambda s: s.reason or ""),
)


class _RecordsModel[R: (PaperSessionInfo, SignalInfo)](QAbstractTableModel):
    columns: tuple[_Column[R], ...] = ()

    def __init__(self, parent: Any = None, display: DisplayTime | None = None) -> None:
        super().__init__(parent)
        self._rows: list[R] = []
        self._display = display if display is not None else display_time()
        self._display.zoneChanged.connect(self._zone_changed)

    def _zone_changed(self, _zone: object) -> None:
        zoned = [n for n, column in enumerate(self.columns) if column.zoned]
        if zoned:
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, min(zoned), max(zoned))
            if self._rows:
                self.dataChanged.emit(self.index(0, min(zoned)), self.index(len(self._rows) - 1, max(zoned)))

    def _text(self, column: _Column[R], value: Any) -> str:
        if column.zoned:
            return format_stamp(value, self._display.zone, seconds=False) if value else ""
        return column.show(value)

    def header_text(self, section: int) -> str:
        column = self.columns[section]
        return self._display.header(column.header) if column.zoned else column.header

    # --- contents ---
    def set_records(self, records: Sequence[R]) -> None:
        self.beginResetModel()
        self._rows = list(records)
        self.endResetModel()

    def records(self) -> list[R]:
        return list(self._rows)

    def record_at(self, row: int) -> R:
        return self._rows[row]

    def row_of(self, record_id: uuid.UUID) -> int:
        return next((i for i, r in enumerate(self._rows) if r.id == record_id), -1)

    def upsert(self, record: R, *, first: bool = True) -> int:
        """Replace the record with the same id in place, or add it (at the top when ``first``); returns its row."""
        row = self.row_of(record.id)
        if row >= 0:
            self._rows[row] = record
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.columns) - 1))
            return row
        row = 0 if first else len(self._rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.insert(row, record)
        self.endInsertRows()
        return row

    # --- Qt ---
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        column, record = self.columns[index.column()], self._rows[index.row()]
        value = column.raw(record)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(column, value)
        if role == Qt.ItemDataRole.UserRole:
            return value
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(record, self._text(column, value))
        if role == Qt.ItemDataRole.ForegroundRole:
            color = self._color(record, column.header)
            return QBrush(color) if color is not None else None
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, int | float | Decimal):
            return _RIGHT
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.header_text(section)
        return None

    def column_named(self, header: str) -> int:
        """The column whose bare header ("Started") or shown header ("Started (ET)") is `header`."""
        return next(i for i, c in enumerate(self.columns) if header in (c.header, self.header_text(i)))

    def _tooltip(self, record: R, text: str) -> str | None:
        return text or None

    def _color(self, record: R, header: str) -> QColor | None:
        return None


class PaperSessionsModel(_RecordsModel[PaperSessionInfo]):
    columns = SESSION_COLUMNS

    def upsert(self, record: PaperSessionInfo, *, first: bool = True) -> int:
        """As the base, except that an older report never replaces a newer one (``PaperSessionInfo.as_of``), and an
        ended session never shows as running again: reports reach the panel by two paths (the manager's events,
        the answers to start and stop) and a late one may be older."""
        row = self.row_of(record.id)
        shown = self._rows[row] if row >= 0 else None
        if shown is not None and (record.as_of < shown.as_of or (record.active and not shown.active)):
            return row
        return super().upsert(record, first=first)

    def _color(self, record: PaperSessionInfo, header: str) -> QColor | None:
        if header in ("Status", "Error / note") and record.status == "FAILED":
            return _FAILED
        if header == "Status" and record.status == "RUNNING":
            return _GOOD
        if header == "P&L" and record.pnl:
            return _GOOD if record.pnl > 0 else _FAILED
        return None


class SignalsModel(_RecordsModel[SignalInfo]):
    columns = SIGNAL_COLUMNS

    def _color(self, record: SignalInfo, header: str) -> QColor | None:
        if header in ("Status", "Reason") and record.status == "REJECTED":
            return _FAILED
        return None
