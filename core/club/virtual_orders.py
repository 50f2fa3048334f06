"""Reading the traders' virtual orders the router works on, and booking what happens to them.

Virtual orders are rows of ``orders`` with ``broker = 'club'``. Their fills, cancels and rejections are booked
with the ledger's own booking function (``sf_apply_event`` through core.ledger.booking), so the money rules
(cash, reservation release, positions, realized P&L, exactly-once execution ids) are the ledger's, unchanged:
the router only decides *what* happened and at which price.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg

from core.db.advisory import advisory_key
from core.domain.orders import (
    OPEN_LEDGER_STATUSES,
    BrokerOrder,
    LedgerOrderStatus,
    OrderEvent,
    OrderEventType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from core.ledger.booking import Outcome, book_event, book_events
from core.ledger.errors import LedgerError

log = logging.getLogger(__name__)

CLUB_BROKER = "club"
_CHANGED = (Outcome.CHANGED, Outcome.ACCEPTED)
# The ledger's open statuses, as SQL: one list for every query here and in open_symbols.py.
OPEN_SQL = ", ".join(f"'{s.value}'" for s in OPEN_LEDGER_STATUSES)
# Open and not being canceled: what a routing step may still take.
WORKING_SQL = ", ".join(f"'{s.value}'" for s in OPEN_LEDGER_STATUSES if s is not LedgerOrderStatus.PENDING_CANCEL)


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


_OPEN_ORDERS = f"""
SELECT o.id, o.user_id, o.client_order_id, o.broker_order_id, o.symbol, o.side, o.order_type, o.time_in_force,
       o.quantity, o.filled_quantity, o.limit_price, o.stop_price, o.status, o.created_at, o.parent_order_id,
       o.leg_role,
       coalesce((SELECT sum(a.qty - a.filled) FROM club_route_allocations a
                   JOIN club_route_steps s ON s.id = a.step_id
                  WHERE a.order_id = o.id AND a.kind <> 'follow' AND s.status IN ('planned', 'open')), 0),
       EXISTS (SELECT 1 FROM club_stop_triggers t WHERE t.order_id = o.id)
  FROM orders o
 WHERE o.broker = 'club' AND o.status IN ({OPEN_SQL})
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
        f"SELECT count(*) FROM orders WHERE id = ANY(%s) AND status IN ({WORKING_SQL})",
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


def fill_event(
    order: VirtualOrder, already: Decimal, qty: Decimal, price: Decimal, execution_id: str, now: datetime,
    fee: Decimal = Decimal(0),
) -> OrderEvent:  # fmt: skip
    """``qty`` more of ``order`` at ``price`` and ``fee`` (``already`` being what is booked before it)."""
    cumulative = already + qty
    done = cumulative >= order.qty
    status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
    kind = OrderEventType.FILL if done else OrderEventType.PARTIAL_FILL
    broker_order = as_broker_order(order, cumulative, status, now)
    return OrderEvent(kind, broker_order, now, execution_id=execution_id, price=price, qty=qty, fee=fee)


def end_event(order: VirtualOrder, kind: OrderEventType, reason: str | None, now: datetime) -> OrderEvent:
    """``order`` closed (canceled, rejected or expired): the booking function releases what it still holds."""
    status = {
        OrderEventType.CANCELED: OrderStatus.CANCELED,
        OrderEventType.REJECTED: OrderStatus.REJECTED,
        OrderEventType.EXPIRED: OrderStatus.EXPIRED,
    }[kind]
    return OrderEvent(kind, as_broker_order(order, order.filled, status, now), now, reason=reason)


def book_end(
    conn: psycopg.Connection, order: VirtualOrder, kind: OrderEventType, reason: str | None, now: datetime
) -> set[uuid.UUID]:
    """Close one order now (a trader's cancel at the desk); the user, when their books changed."""
    return Bookings([end_event(order, kind, reason, now)]).book(conn)


class Bookings:
    """The virtual events of one transaction, booked together: one statement for the set (the ledger's
    ``book_events``), inside the caller's transaction, so they commit with what the router wrote beside them (a
    step's fill watermark). Each event is still applied exactly once by ``sf_apply_event``'s rules."""

    def __init__(self, events: list[OrderEvent] | None = None) -> None:
        self.events: list[OrderEvent] = list(events or [])

    def add(self, event: OrderEvent) -> None:
        self.events.append(event)

    def book(self, conn: psycopg.Connection) -> set[uuid.UUID]:
        """Book the set; the users whose books changed."""
        events, self.events = self.events, []
        if not events:
            return set()
        try:
            with conn.transaction():  # a savepoint: a refused set leaves the step's own writes alone
                results = book_events(conn, events)
        except psycopg.Error as exc:
            log.warning("booking %d virtual events one by one: %s", len(events), exc)
            results = []
            for event in events:
                try:
                    with conn.transaction():
                        results.append(book_event(conn, event))
                except (LedgerError, psycopg.Error) as one:
                    log.error("virtual %s of %s refused: %s", event.type.value, event.order.client_order_id, one)
                    results.append((Outcome.REFUSED, None))
        return {user for outcome, user in results if user is not None and outcome in _CHANGED}
