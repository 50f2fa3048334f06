"""The Sessions panel's tables: the trader's paper sessions, and the signals of the one selected.

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

from core.paper.types import PaperSessionInfo, SignalInfo

_FAILED = QColor("#d32f2f")
_GOOD = QColor("#2e7d32")
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


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
    def __init__(self, header: str, raw: Callable[[R], Any], show: Callable[[Any], str] = str) -> None:
        self.header, self.raw, self.show = header, raw, show


SESSION_COLUMNS: tuple[_Column[PaperSessionInfo], ...] = (
    _Column("Strategy", lambda s: s.strategy_name),
    _Column("Symbols", lambda s: ", ".join(s.symbols)),
    _Column("Timeframe", lambda s: s.timeframe),
    _Column("Status", lambda s: s.status),
    _Column("Started (UTC)", lambda s: s.started_at, _time),
    _Column("P&L", lambda s: s.pnl, _money),
    _Column("Signals", lambda s: s.signal_count, lambda n: f"{n:,}"),
    _Column("Error / note", _note),
)

SIGNAL_COLUMNS: tuple[_Column[SignalInfo], ...] = (
    _Column("Bar (UTC)", lambda s: s.bar_timestamp, _time),
    _Column("Symbol", lambda s: s.symbol),
    _Column("Action", lambda s: s.action),
    _Column("Qty", lambda s: s.quantity, _qty),
    _Column("Price", lambda s: s.price, lambda p: "" if p is None else f"{p:,.4f}"),
    _Column("Status", lambda s: s.status),
    _Column("Reason", lambda s: s.reason or ""),
)


class _RecordsModel[R: (PaperSessionInfo, SignalInfo)](QAbstractTableModel):
    columns: tuple[_Column[R], ...] = ()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[R] = []

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
            return column.show(value)
        if role == Qt.ItemDataRole.UserRole:
            return value
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(record, column.show(value))
        if role == Qt.ItemDataRole.ForegroundRole:
            color = self._color(record, column.header)
            return QBrush(color) if color is not None else None
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, int | float | Decimal):
            return _RIGHT
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section].header
        return None

    def column_named(self, header: str) -> int:
        return next(i for i, c in enumerate(self.columns) if c.header == header)

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
