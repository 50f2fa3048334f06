"""The trader's working orders as a table (what the Open orders tab lists and cancels from)."""

from __future__ import annotations

from collections.abc import Hashable
from decimal import Decimal

from app.models.positions_model import Column, RecordTableModel, format_money, format_qty, time_column
from core.ledger.history import OrderRow

_TYPES = {"market": "Market", "limit": "Limit", "stop": "Stop", "stop_limit": "Stop limit"}
_LEGS = {"take_profit": " (take-profit)", "stop_loss": " (stop-loss)"}


def _status(order: OrderRow) -> str:
    return order.status.replace("_", " ")


def _type(order: OrderRow) -> str:
    return _TYPES.get(order.order_type, order.order_type) + _LEGS.get(order.leg_role or "", "")


def _price(value: Decimal | None) -> str:
    return format_money(value) if value is not None else ""


ORDER_COLUMNS: tuple[Column[OrderRow], ...] = (
    time_column("Placed", lambda o: o.created_at),
    Column("Symbol", lambda o: o.symbol),
    Column("Side", lambda o: o.side.capitalize()),
    Column("Type", _type),
    Column("Qty", lambda o: o.qty, format_qty),
    Column("Filled", lambda o: o.filled_qty, format_qty),
    Column("Limit", lambda o: o.limit_price, _price),
    Column("Stop", lambda o: o.stop_price, _price),
    Column("TIF", lambda o: o.time_in_force.upper()),
    Column("Status", _status),
    Column("Reserved", lambda o: o.reserved, format_money),
)


class OrdersModel(RecordTableModel[OrderRow]):
    columns = ORDER_COLUMNS

    @staticmethod
    def key(row: OrderRow) -> Hashable:
        return row.id

    def order_at(self, row: int) -> OrderRow:
        return self._rows[row]
