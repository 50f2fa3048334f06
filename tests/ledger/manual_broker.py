"""A broker the test drives by hand: it accepts orders and emits exactly the events the test asks for.

Unlike SimBroker it has no market: fills, rejections, duplicates and reordering happen when and how
a test says, which is what the ledger's exactly-once tests need.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from core.broker.errors import BrokerRejected, BrokerUnavailable, OrderNotFound
from core.broker.protocol import EventHandler
from core.domain.orders import (
    Account,
    Asset,
    BrokerOrder,
    BrokerPosition,
    Clock,
    OrderEvent,
    OrderEventType,
    OrderRequest,
    OrderStatus,
)

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


class ManualBroker:
    name = "sim"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._orders: dict[str, BrokerOrder] = {}
        self._by_client: dict[str, str] = {}
        self._handlers: list[EventHandler] = []
        self._exec = itertools.count(1)
        self.assets: dict[str, Asset] = {}
        self.submitted: list[OrderRequest] = []
        self.fail_submit: Exception | None = None
        self.lose_submit = False  # the broker accepts the order but the answer never arrives

    # -- protocol --
    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        if self.fail_submit is not None:
            raise self.fail_submit
        with self._lock:
            if request.client_order_id in self._by_client:
                raise BrokerRejected("client_order_id must be unique")
            order = BrokerOrder(
                id=str(uuid.uuid4()),
                client_order_id=request.client_order_id,
                symbol=request.symbol,
                side=request.side,
                qty=request.qty,
                type=request.type,
                time_in_force=request.time_in_force,
                status=OrderStatus.NEW,
                filled_qty=Decimal(0),
                filled_avg_price=None,
                submitted_at=T0,
                updated_at=T0,
                limit_price=request.limit_price,
                stop_price=request.stop_price,
                order_class=request.order_class,
            )
            self._orders[order.id] = order
            self._by_client[request.client_order_id] = order.id
            self.submitted.append(request)
        if self.lose_submit:
            raise BrokerUnavailable("timed out")
        return order

    def cancel_order(self, order_id: str) -> None:
        self.cancel(self.get_order(order_id).client_order_id)

    def get_order(self, order_id: str) -> BrokerOrder:
        with self._lock:
            if order_id not in self._orders:
                raise OrderNotFound(order_id)
            return self._orders[order_id]

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder:
        with self._lock:
            if client_order_id not in self._by_client:
                raise OrderNotFound(client_order_id)
            return self._orders[self._by_client[client_order_id]]

    def list_open_orders(self) -> list[BrokerOrder]:
        with self._lock:
            return [o for o in self._orders.values() if not o.is_terminal]

    def get_account(self) -> Account:
        return Account("acct", "ACTIVE", Decimal(0), Decimal(0), Decimal(0))

    def get_positions(self) -> list[BrokerPosition]:
        return []

    def get_clock(self) -> Clock:
        return Clock(T0, True, T0, T0)

    def get_asset(self, symbol: str) -> Asset:
        return self.assets.get(symbol, Asset(symbol, tradable=True, fractionable=True))

    def add_event_handler(self, handler: EventHandler) -> None:
        self._handlers.append(handler)

    def remove_event_handler(self, handler: EventHandler) -> None:
        self._handlers.remove(handler)

    # -- test controls: each builds the event, updates the broker's order, and (by default) delivers it --
    def fill(self, client_order_id: str, qty: Decimal | str, price: Decimal | str, *, deliver: bool = True,
             fee: Decimal | str = "0", at: datetime = T0) -> OrderEvent:  # fmt: skip
        qty, price = Decimal(qty), Decimal(price)
        with self._lock:
            order = self._orders[self._by_client[client_order_id]]
            total = order.filled_qty + qty
            avg = ((order.filled_avg_price or 0) * order.filled_qty + price * qty) / total
            status = OrderStatus.FILLED if total >= order.qty else OrderStatus.PARTIALLY_FILLED
            order = replace(order, filled_qty=total, filled_avg_price=avg, status=status)
            self._orders[order.id] = order
        kind = OrderEventType.FILL if status is OrderStatus.FILLED else OrderEventType.PARTIAL_FILL
        event = OrderEvent(kind, order, at, execution_id=f"x{next(self._exec)}", price=price, qty=qty, fee=Decimal(fee))
        if deliver:
            self.deliver(event)
        return event

    def cancel(self, client_order_id: str, *, deliver: bool = True) -> OrderEvent:
        return self._finish(client_order_id, OrderStatus.CANCELED, OrderEventType.CANCELED, None, deliver)

    def reject(self, client_order_id: str, reason: str, *, deliver: bool = True) -> OrderEvent:
        return self._finish(client_order_id, OrderStatus.REJECTED, OrderEventType.REJECTED, reason, deliver)

    def _finish(self, client_order_id: str, status: OrderStatus, kind: OrderEventType, reason: str | None,
                deliver: bool) -> OrderEvent:  # fmt: skip
        with self._lock:
            order = replace(self._orders[self._by_client[client_order_id]], status=status)
            self._orders[order.id] = order
        event = OrderEvent(kind, order, T0, reason=reason)
        if deliver:
            self.deliver(event)
        return event

    def deliver(self, event: OrderEvent) -> None:
        for handler in list(self._handlers):
            handler(event)
