"""The trader's fills, newest first: the Trade history tab (and the fills the chart marks)."""

from __future__ import annotations

from collections.abc import Hashable
from decimal import Decimal

from app.models.positions_model import Column, RecordTableModel, format_money, format_qty, time_column
from core.ledger.history import FillRow


def _pnl(value: Decimal | None) -> str:
    return format_money(value, signed=True)


def _short(value: object) -> str:
    """First block of a UUID: enough to tell orders and sessions apart at a glance."""
    return "" if value is None else str(value).split("-")[0]


FILL_COLUMNS: tuple[Column[FillRow], ...] = (
    time_column("Time", lambda f: f.executed_at),
    Column("Symbol", lambda f: f.symbol),
    Column("Side", lambda f: f.side.capitalize()),
    Column("Qty", lambda f: f.qty, format_qty),
    Column("Price", lambda f: f.price, format_money),
    Column("Fees", lambda f: f.fees, format_money),
    Column("Realized P&L", lambda f: f.realized_pnl, _pnl, pnl=True),
    Column("Order", lambda f: f.order_id, _short),
    Column("Session", lambda f: f.session_id, _short),
)


class FillsModel(RecordTableModel[FillRow]):
    columns = FILL_COLUMNS

    @staticmethod
    def key(row: FillRow) -> Hashable:
        return row.id
