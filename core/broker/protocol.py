"""The Broker protocol the ledger is written against.

Calls are synchronous and thread-safe: the ledger runs in worker threads (never
on the GUI thread) and every implementation bounds each call with a timeout,
raising BrokerUnavailable when it expires. Order events are pushed to handlers
registered with ``add_event_handler``; a handler may be called from any thread
and must be idempotent, because brokers may deliver an event more than once.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Protocol, runtime_checkable

from core.domain.orders import Account, Asset, BrokerOrder, BrokerPosition, Clock, OrderEvent, OrderRequest

# What a handler returns is ignored (the ledger's apply_event says whether it booked the event, for its callers).
EventHandler = Callable[[OrderEvent], object]


@runtime_checkable
class Broker(Protocol):
    name: str  # "alpaca" | "sim": stored on each order row

    def submit_order(self, request: OrderRequest) -> BrokerOrder: ...

    def cancel_order(self, order_id: str) -> None: ...

    def get_order(self, order_id: str) -> BrokerOrder: ...

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder: ...

    def list_open_orders(self) -> list[BrokerOrder]: ...

    def get_account(self) -> Account: ...

    def get_positions(self) -> list[BrokerPosition]: ...

    def get_clock(self) -> Clock: ...

    def get_asset(self, symbol: str) -> Asset: ...

    def add_event_handler(self, handler: EventHandler) -> None: ...

    def remove_event_handler(self, handler: EventHandler) -> None: ...


@runtime_checkable
class ModifiableBroker(Broker, Protocol):
    """A broker that changes an open order in place (Kite's modify, Angel's modifyOrder, Breeze's modify_order).

    The order keeps its id; only the fields given change. A broker that cannot (or an order already filled or
    cancelled) raises BrokerRejected with the broker's reason.
    """

    def modify_order(
        self,
        order_id: str,
        *,
        qty: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> BrokerOrder: ...
