"""The ledger's broker when the club routes: it accepts virtual orders and hands them to the router.

The ledger is written against the Broker protocol; composing it with this desk instead of a real broker is
what makes every order virtual until the router sends it (no monkey-patching: the ledger does not know). The
desk answers at once (a virtual order is accepted when the ledger has checked and reserved it); fills, cancels
and rejections are booked by the router, straight into the ledger's tables with the ledger's booking function.

Account data (assets, the clock, positions) comes from ``reference``: the street broker when this process runs
the router, or None on a trader's app that leaves routing to the club service (assets are then assumed
tradable; the router refuses what the street refuses).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.broker.errors import OrderNotFound
from core.broker.protocol import Broker, EventHandler
from core.club.virtual_orders import CLUB_BROKER, book_end, lock_symbol, virtual_order
from core.db.models import Order
from core.db.raw import engine_of, raw_connection
from core.domain.clock import utc_now
from core.domain.orders import (
    OPEN_LEDGER_STATUSES,
    Account,
    Asset,
    BrokerOrder,
    BrokerPosition,
    Clock,
    OrderClass,
    OrderEventType,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)

_STATUS = {  # the ledger's status -> what a broker would say
    "pending": OrderStatus.NEW,
    "submitted": OrderStatus.NEW,
    "accepted": OrderStatus.NEW,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "pending_cancel": OrderStatus.PENDING_CANCEL,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
    "expired": OrderStatus.EXPIRED,
}


class ClubDesk:
    """A Broker for the ledger whose orders stay virtual until the club router nets and sends them."""

    name = CLUB_BROKER

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        wake_router: Callable[[], None],
        reference: Broker | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._sessions = session_factory
        self._engine = engine_of(session_factory)
        self._wake = wake_router
        self._reference = reference
        self._now = clock

    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        now = self._now()
        legs: tuple[BrokerOrder, ...] = ()
        if request.order_class is OrderClass.BRACKET:
            legs = self._bracket_legs(request, now)
        self._wake()
        return BrokerOrder(
            id=f"club-{uuid.uuid4().hex}",
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            qty=request.qty,
            type=request.type,
            time_in_force=request.time_in_force,
            status=OrderStatus.NEW,
            filled_qty=Decimal(0),
            filled_avg_price=None,
            submitted_at=now,
            updated_at=now,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            order_class=request.order_class,
            legs=legs,
        )

    def _bracket_legs(self, request: OrderRequest, now: datetime) -> tuple[BrokerOrder, ...]:
        """The exits the router holds for a bracket entry: they work once it has filled, one cancels the other."""
        exit_side = OrderSide.SELL if request.side is OrderSide.BUY else OrderSide.BUY
        stop_type = OrderType.STOP_LIMIT if request.stop_loss_limit_price is not None else OrderType.STOP
        specs = (
            ("tp", OrderType.LIMIT, request.take_profit_limit_price, None),
            ("sl", stop_type, request.stop_loss_limit_price, request.stop_loss_stop_price),
        )
        return tuple(
            BrokerOrder(
                id=f"club-{uuid.uuid4().hex}",
                client_order_id=f"{request.client_order_id}-{suffix}",
                symbol=request.symbol,
                side=exit_side,
                qty=request.qty,
                type=kind,
                time_in_force=TimeInForce.GTC if request.time_in_force is TimeInForce.GTC else TimeInForce.DAY,
                status=OrderStatus.HELD,
                filled_qty=Decimal(0),
                filled_avg_price=None,
                submitted_at=now,
                updated_at=now,
                limit_price=limit,
                stop_price=stop,
                parent_id=None,
            )
            for suffix, kind, limit, stop in specs
        )

    def cancel_order(self, order_id: str) -> None:
        """Cancel now when nothing of the order is on its way to the street (a resting order, or a market order
        between steps): its reservation is free before the caller sizes its next order, as with a broker that
        answers a cancel at once. Otherwise the ledger marks it pending_cancel and the router closes the rest when
        its step is done."""
        with raw_connection(self._engine) as conn:
            order = virtual_order(conn, order_id)
            if order is not None:
                lock_symbol(conn, order.symbol)
                order = virtual_order(conn, order_id)  # read again under the lock: a step may have taken it
            if order is not None and order.in_flight == 0:
                book_end(conn, order, OrderEventType.CANCELED, "Canceled at the trader's request.", self._now())
            conn.commit()
        self._wake()

    def get_order(self, order_id: str) -> BrokerOrder:
        return self._read(Order.broker_order_id == order_id)

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder:
        return self._read(Order.client_order_id == client_order_id)

    def _read(self, where: object) -> BrokerOrder:
        with self._sessions() as s:
            row = s.scalar(select(Order).where(where, Order.broker == CLUB_BROKER))  # type: ignore[arg-type]
        if row is None:
            raise OrderNotFound("No such order at the club router.")
        return _as_broker_order(row)

    def list_open_orders(self) -> list[BrokerOrder]:
        with self._sessions() as s:
            rows = s.scalars(
                select(Order).where(
                    Order.broker == CLUB_BROKER,
                    Order.status.in_(OPEN_LEDGER_STATUSES),
                )
            ).all()
        return [_as_broker_order(r) for r in rows]

    def get_account(self) -> Account:
        return self._need_reference().get_account()

    def get_positions(self) -> list[BrokerPosition]:
        return self._need_reference().get_positions()

    def get_clock(self) -> Clock:
        return self._need_reference().get_clock()

    def get_asset(self, symbol: str) -> Asset:
        if self._reference is None:
            return Asset(symbol)
        return self._reference.get_asset(symbol)

    def _need_reference(self) -> Broker:
        if self._reference is None:
            raise OrderNotFound("The club service holds the account; this app does not.")
        return self._reference

    def add_event_handler(self, handler: EventHandler) -> None:
        """The router books events itself; nothing is pushed to the ledger's handler."""

    def remove_event_handler(self, handler: EventHandler) -> None:
        """See add_event_handler."""


def _as_broker_order(row: Order) -> BrokerOrder:
    when = row.submitted_at or row.created_at
    return BrokerOrder(
        id=row.broker_order_id or f"club-{row.id.hex}",
        client_order_id=row.client_order_id,
        symbol=row.symbol,
        side=OrderSide(row.side),
        qty=row.quantity,
        type=OrderType(row.order_type),
        time_in_force=TimeInForce(row.time_in_force),
        status=_STATUS[row.status],
        filled_qty=row.filled_quantity,
        filled_avg_price=row.filled_avg_price,
        submitted_at=when,
        updated_at=when,
        limit_price=row.limit_price,
        stop_price=row.stop_price,
    )
