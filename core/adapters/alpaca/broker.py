"""AlpacaBroker: the Broker protocol over alpaca-py, for one Alpaca paper account.

REST calls are synchronous (the ledger calls from worker threads), each bounded by
``timeout_s`` (see ``alpaca_calls``). Trade updates come from a stream that runs as a
task on an asyncio loop the caller owns (``await run_stream()`` or
``start_stream(loop)``), and reach handlers on a dispatch thread (see ``trade_stream``).

Replaced orders: Alpaca's ``replaced`` event names only the new order's id, so the new order is
read over REST (one GET, outside the club's budget: replacements are rare) and handed on as a
REPLACED event carrying both orders. ``get_order_by_client_id`` follows ``replaced_by`` too: the
client order id is ours, the order that now carries it is the newest replacement, reported under
our client order id so the ledger books it against the same row.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest

from core.adapters.alpaca import convert
from core.adapters.alpaca.calls import DEFAULT_TIMEOUT_S, DeadlineRunner
from core.adapters.alpaca.stream_health import StreamStatus
from core.adapters.alpaca.trade_stream import TradeUpdateStream
from core.broker.callbacks import Callbacks
from core.broker.errors import BrokerRejected, OrderNotFound
from core.broker.protocol import EventHandler
from core.domain.orders import Account, Asset, BrokerOrder, BrokerPosition, Clock, OrderEvent, OrderRequest

log = logging.getLogger(__name__)

OPEN_ORDERS_LIMIT = 500  # Alpaca's maximum page size for GET /v2/orders
MAX_REPLACEMENTS_FOLLOWED = 10  # a chain longer than this is Alpaca misbehaving, not a trader editing an order


class AlpacaBroker:
    """One Alpaca paper account. Thread-safe; REST methods raise ``core.broker.errors`` only."""

    name = "alpaca"

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        url_override: str | None = None,
        stream_url_override: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        """``url_override``: REST base without ``/v2``; ``stream_url_override``: full ws URL (tests).

        Always paper: StratForge trades Alpaca's paper environment only.
        """
        self._client = TradingClient(api_key, secret_key, paper=True, raw_data=True, url_override=url_override)
        # alpaca-py retries 429/504 three times with 3 s sleeps, which would outlast our
        # deadline and hide the 429 we must report as RateLimited. Its constructor does not
        # expose the knob (RESTClient's retry_attempts ignores 0), so set the attribute the
        # retry loop reads; if a future alpaca-py renames it, we only lose this shortcut.
        if hasattr(self._client, "_retry"):
            self._client._retry = 0
        else:
            log.warning("alpaca-py has no _retry attribute: HTTP 429 may be retried inside alpaca-py")
        self._runner = DeadlineRunner(timeout_s)
        self._parents: dict[str, str] = {}  # bracket leg id -> parent id, learned from orders we saw
        self._handlers: Callbacks[OrderEvent] = Callbacks("order event handler", log)
        self._connection_listeners: Callbacks[int] = Callbacks("stream connection listener", log)
        self._status_listeners: Callbacks[StreamStatus] = Callbacks("stream status listener", log)
        self._stream = TradeUpdateStream(
            api_key, secret_key, self._on_trade_update, stream_url_override,
            on_connected=self._connection_listeners.call, on_status=self._status_listeners.call,
        )  # fmt: skip

    # ---- orders ----

    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        try:
            alpaca_request = convert.to_alpaca_request(request)
        except ValueError as exc:  # pydantic's ValidationError included
            raise BrokerRejected(f"invalid order: {exc}") from exc
        data = self._runner.run("submit order", lambda: self._client.submit_order(alpaca_request))
        return self._order(data)

    def cancel_order(self, order_id: str) -> None:
        oid = _order_uuid(order_id)
        self._runner.run("cancel order", lambda: self._client.cancel_order_by_id(oid))

    def get_order(self, order_id: str) -> BrokerOrder:
        return self._order(self._order_json(order_id))

    def _order_json(self, order_id: str) -> convert.Json:
        oid = _order_uuid(order_id)
        return cast(convert.Json, self._runner.run("get order", lambda: self._client.get_order_by_id(oid)))

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder:
        """The order now carrying ``client_order_id``: a replaced order's newest replacement, under our id."""
        data = cast(
            convert.Json, self._runner.run("get order", lambda: self._client.get_order_by_client_id(client_order_id))
        )
        for _ in range(MAX_REPLACEMENTS_FOLLOWED):
            newer = data.get("replaced_by") if data.get("status") == "replaced" else None
            if not newer:
                break
            data = self._order_json(str(newer))
        order = self._order(data)
        return order if order.client_order_id == client_order_id else replace(order, client_order_id=client_order_id)

    def list_open_orders(self) -> list[BrokerOrder]:
        """Open orders, bracket legs nested in their parents (held legs count as open)."""
        query = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=OPEN_ORDERS_LIMIT, nested=True)
        rows = self._runner.run("list orders", lambda: self._client.get_orders(query))
        return [self._order(row) for row in rows]

    def _order(self, data: Any) -> BrokerOrder:
        return convert.to_broker_order(data, parents=self._parents)

    # ---- account ----
    # The client is built with raw_data=True, so it answers with the API's JSON: alpaca-py types its answers as
    # "model or dict", decided by that flag at run time, which its annotations cannot say (hence the casts).

    def get_account(self) -> Account:
        return convert.to_account(cast(convert.Json, self._runner.run("get account", self._client.get_account)))

    def get_positions(self) -> list[BrokerPosition]:
        rows = cast(list[convert.Json], self._runner.run("get positions", self._client.get_all_positions))
        return [convert.to_position(p) for p in rows]

    def get_clock(self) -> Clock:
        return convert.to_clock(cast(convert.Json, self._runner.run("get clock", self._client.get_clock)))

    def get_asset(self, symbol: str) -> Asset:
        try:
            data = self._runner.run("get asset", lambda: self._client.get_asset(symbol))
        except OrderNotFound as exc:
            raise BrokerRejected(f"Alpaca does not know the symbol {symbol!r}") from exc
        return convert.to_asset(cast(convert.Json, data))

    # ---- trade updates ----

    def add_event_handler(self, handler: EventHandler) -> None:
        self._handlers.add(handler)

    def remove_event_handler(self, handler: EventHandler) -> None:
        self._handlers.remove(handler)

    async def run_stream(self) -> None:
        """Receive trade updates until ``stop_stream()``; run it as a task on the app's loop."""
        await self._stream.run()

    def start_stream(self, loop: asyncio.AbstractEventLoop) -> concurrent.futures.Future[None]:
        """Schedule ``run_stream()`` on ``loop`` from any thread (the loop's own included)."""
        return asyncio.run_coroutine_threadsafe(self.run_stream(), loop)

    async def stop_stream(self, timeout: float = 5.0) -> None:
        """Close the stream (on its loop); events already received are still handed out."""
        await self._stream.stop(timeout)

    @property
    def stream_running(self) -> bool:
        return self._stream.running

    @property
    def stream_status(self) -> StreamStatus:
        """The trade stream's health as a trader should see it (OK unless it keeps being refused)."""
        return self._stream.health.status

    def add_connection_listener(self, listener: Callable[[int], None]) -> None:
        """``listener(count)`` after each (re)connection of the stream, on the dispatch thread, after the events
        received before it: count 1 is the first connection of a ``run_stream()``, more is a reconnection (Alpaca
        does not replay what it sent in between: re-read open orders over REST)."""
        self._connection_listeners.add(listener)

    def add_stream_status_listener(self, listener: Callable[[StreamStatus], None]) -> None:
        """``listener(status)`` when the stream's health changes (on the loop's thread: keep it short)."""
        self._status_listeners.add(listener)

    def wait_for_dispatch(self, timeout: float = 5.0) -> bool:
        """After ``stop_stream``: block until every received event reached the handlers (not on the loop)."""
        return self._stream.join_dispatch(timeout)

    def _on_trade_update(self, data: dict[str, Any]) -> None:
        """Dispatch thread: convert and hand to each handler; nothing dropped, deduped or reordered."""
        event = convert.to_order_event(data, parents=self._parents, fetch_order=self._order_json)
        if event is None:
            return
        self._handlers.call(event)


def _order_uuid(order_id: str) -> uuid.UUID:
    """Alpaca order ids are UUIDs and alpaca-py refuses anything else: no such order, then."""
    try:
        return uuid.UUID(str(order_id))
    except ValueError as exc:
        raise OrderNotFound(f"no Alpaca order {order_id!r}") from exc
