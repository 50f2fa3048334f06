"""Reading the traders' virtual orders the router works on, and booking what happens to them.

Virtual orders are rows of ``orders`` with ``broker = 'club'``. Their fills, cancels and rejections are booked
with the ledger's own booking function (``sf_apply_event`` through core.ledger.booking), so the money rules
(cash, reservation release, positions, realized P&L, exactly-once execution ids) are the ledger's, unchanged:
the router only decides *what* happened and at which price.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg

from core.db.advisory import advisory_key
from core.domain.orders import (
    BrokerOrder,
    OrderEvent,
    OrderEventType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from core.ledger.booking import Outcome, book_event

CLUB_BROKER = "club"
OPEN = ("pending", "submitted", "accepted", "partially_filled", "pending_cancel")


@dataclass(frozen=True)
class VirtualOrder:
    id: uuid.UUID
    user_id: uuid.UUID
    client_order_id: str
    broker_order_id: str | None
    symbol: str
    side: OrderSide
    type: OrderType
    time_in_force: TimeInForce
    qty: Decimal
    filled: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    status: str
    created_at: datetime
    parent_id: uuid.UUID | None
    leg_role: str | None
    in_flight: Decimal  # quantity in routing steps not finished yet
    stop_triggered: bool

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled

    @property
    def due(self) -> Decimal:
        """What may join a new step: not filled, not already on its way."""
        return self.qty - self.filled - self.in_flight

    @property
    def resting(self) -> bool:
        return self.type is not OrderType.MARKET


_OPEN_ORDERS = """
SELECT o.id, o.user_id, o.client_order_id, o.broker_order_id, o.symbol, o.side, o.order_type, o.time_in_force,
       o.quantity, o.filled_quantity, o.limit_price, o.stop_price, o.status, o.created_at, o.parent_order_id,
       o.leg_role,
       coalesce((SELECT sum(a.qty - a.filled) FROM club_route_allocations a
                   JOIN club_route_steps s ON s.id = a.step_id
                  WHERE a.order_id = o.id AND a.kind <> 'follow' AND s.status IN ('planned', 'open')), 0),
       EXISTS (SELECT 1 FROM club_stop_triggers t WHERE t.order_id = o.id)
  FROM orders o
 WHERE o.broker = 'club' AND o.status IN ('pending', 'submitted', 'accepted', 'partially_filled', 'pending_cancel')
"""


def open_virtual_orders(conn: psycopg.Connection, symbol: str | None = None) -> list[VirtualOrder]:
    sql = _OPEN_ORDERS + (" AND o.symbol = %s" if symbol is not None else "") + " ORDER BY o.created_at, o.id"
    rows = conn.execute(sql, (symbol,) if symbol is not None else ()).fetchall()
    return [_virtual(r) for r in rows]


def _virtual(r: tuple[Any, ...]) -> VirtualOrder:
    return VirtualOrder(*r[:5], OrderSide(r[5]), OrderType(r[6]), TimeInForce(r[7]), *r[8:18])  # type: ignore[call-arg]


def lock_symbol(conn: psycopg.Connection, symbol: str) -> None:
    """Serialise, per symbol, what changes which virtual orders are on their way: a routing step, the fills of a
    bar, and a trader's cancel (a cancel checks that nothing of the order is in a step, then books it)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(f"stratforge.club.route.{symbol}"),))


def virtual_order(conn: psycopg.Connection, broker_order_id: str) -> VirtualOrder | None:
    """The open virtual order with this (virtual) broker id, or None when it is closed or unknown."""
    rows = conn.execute(_OPEN_ORDERS + " AND o.broker_order_id = %s", (broker_order_id,)).fetchall()
    return _virtual(rows[0]) if rows else None


def still_open(conn: psycopg.Connection, order_ids: list[uuid.UUID]) -> bool:
    """True when every one of these orders is still open and not being canceled (checked under the symbol lock)."""
    count = conn.execute(
        "SELECT count(*) FROM orders WHERE id = ANY(%s) "
        "AND status IN ('pending', 'submitted', 'accepted', 'partially_filled')",
        (order_ids,),
    ).fetchone()
    return count is not None and count[0] == len(set(order_ids))


def parent_statuses(
    conn: psycopg.Connection, parent_ids: set[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, Decimal, datetime | None]]:
    """Bracket entries' (status, filled quantity, when filled): a leg works only once its entry has filled."""
    if not parent_ids:
        return {}
    rows = conn.execute(
        "SELECT id, status, filled_quantity, filled_at FROM orders WHERE id = ANY(%s)", (list(parent_ids),)
    ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def as_broker_order(order: VirtualOrder, filled: Decimal, status: OrderStatus, now: datetime) -> BrokerOrder:
    return BrokerOrder(
        id=order.broker_order_id or f"club-{order.id.hex}",
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        qty=order.qty,
        type=order.type,
        time_in_force=order.time_in_force,
        status=status,
        filled_qty=filled,
        filled_avg_price=None,
        submitted_at=order.created_at,
        updated_at=now,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
    )


def book_fill(
    conn: psycopg.Connection, order: VirtualOrder, already: Decimal, qty: Decimal, price: Decimal,
    execution_id: str, now: datetime, *, fee: Decimal = Decimal(0),
) -> uuid.UUID | None:  # fmt: skip
    """Book ``qty`` more of ``order`` at ``price`` and ``fee`` (``already`` being what is booked before it)."""
    cumulative = already + qty
    done = cumulative >= order.qty
    status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
    kind = OrderEventType.FILL if done else OrderEventType.PARTIAL_FILL
    event = OrderEvent(
        kind,
        as_broker_order(order, cumulative, status, now),
        now,
        execution_id=execution_id,
        price=price,
        qty=qty,
        fee=fee,
    )
    outcome, user_id = book_event(conn, event)
    return user_id if outcome in (Outcome.CHANGED, Outcome.ACCEPTED) else None


def book_end(
    conn: psycopg.Connection, order: VirtualOrder, kind: OrderEventType, reason: str | None, now: datetime
) -> uuid.UUID | None:
    """Close ``order`` (canceled, rejected or expired): the booking function releases what it still holds."""
    status = {
        OrderEventType.CANCELED: OrderStatus.CANCELED,
        OrderEventType.REJECTED: OrderStatus.REJECTED,
        OrderEventType.EXPIRED: OrderStatus.EXPIRED,
    }[kind]
    event = OrderEvent(kind, as_broker_order(order, order.filled, status, now), now, reason=reason)
    outcome, user_id = book_event(conn, event)
    return user_id if outcome in (Outcome.CHANGED, Outcome.ACCEPTED) else None
