"""ZerodhaBroker: the Broker protocol (and ModifiableBroker) over Kite Connect, for one trader's day session.

Thread-safe: each thread calls Kite through its own SDK client (``client.KiteCalls``), every request bounded by
the SDK's timeout. Orders are checked against Kite's instrument master (tick grid, lot size, known symbol) before
anything is sent. Order updates come from ``order_updates.OrderPoller`` (see there why polling); it starts with the
first event handler (or ``start_updates``) and ``close`` ends it. With a ``stream_root``, Kite's order-update
WebSocket (``order_stream.OrderStream``) wakes the poller at each order change, and polling slows to
``notified_poll_interval_s`` while the socket is up (the books stay the source of truth).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.adapters.zerodha import convert
from core.adapters.zerodha.client import DEFAULT_TIMEOUT_S, KiteCalls, KiteSession, RequestPacer
from core.adapters.zerodha.instruments import DailyInstrumentBook, InstrumentSource
from core.adapters.zerodha.order_stream import OrderStream
from core.adapters.zerodha.order_updates import DEFAULT_POLL_INTERVAL_S, OrderBookTracker, OrderPoller
from core.adapters.zerodha.tags import TagBook
from core.broker.callbacks import Callbacks
from core.broker.errors import BrokerError, BrokerRejected, OrderNotFound, SessionExpired
from core.broker.protocol import EventHandler
from core.domain.orders import (
    TERMINAL_STATUSES,
    Account,
    Asset,
    BrokerOrder,
    BrokerPosition,
    Clock,
    OrderEvent,
    OrderRequest,
    OrderType,
)
from core.market.india import IndianExchange, IndianInstrument, InstrumentError, session_times

log = logging.getLogger(__name__)

NOTIFIED_POLL_INTERVAL_S = 5.0  # with the socket waking the poller, polling is only the safety net


class ZerodhaBroker:
    """One trader's Kite session. REST methods raise ``core.broker.errors`` only.

    ``product``: CNC (delivery, the default) or MIS (intraday: shorts allowed, squared off by Zerodha before the
    close). ``now``: the clock (tests pass a fixed one). ``instruments``: where the instrument master comes from
    (default: downloaded with this session once a day); brokers of one app may share one. ``pacer``: the request
    budget; brokers of one Kite app in one process share one (Kite counts requests per app, not per object).
    ``stream_root``: Kite's WebSocket address (``order_stream.PRODUCTION_STREAM_ROOT``); None: polling only.
    """

    name = "zerodha"

    def __init__(
        self,
        session: KiteSession,
        *,
        product: str = "CNC",
        api_root: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        now: Callable[[], datetime] | None = None,
        on_session_expired: Callable[[SessionExpired], None] | None = None,
        instruments: InstrumentSource | None = None,
        pacer: RequestPacer | None = None,
        stream_root: str | None = None,
        notified_poll_interval_s: float = NOTIFIED_POLL_INTERVAL_S,
    ) -> None:
        product = product.strip().upper() or "CNC"
        if product not in convert.PRODUCTS:
            raise ValueError(f"Zerodha product must be CNC (delivery) or MIS (intraday), not {product!r}")
        self.product = product
        self._session = session
        self._now = now or (lambda: datetime.now(UTC))
        self._calls = KiteCalls(session, api_root=api_root, timeout_s=timeout_s, pacer=pacer)
        self._tags = TagBook()
        self._instruments = instruments or DailyInstrumentBook(self._fetch_instruments, self._now)
        self._closed = False
        self._submit_lock = threading.Lock()
        self._submitting: set[str] = set()  # tags whose place request is in flight
        self._handlers: Callbacks[OrderEvent] = Callbacks("order event handler", log)
        self._session_listeners: Callbacks[SessionExpired] = Callbacks("Zerodha session listener", log)
        if on_session_expired is not None:
            self._session_listeners.add(on_session_expired)
        self.poller = OrderPoller(
            self._calls,
            OrderBookTracker(self._tags.client_order_id),
            self._handlers.call,
            interval_s=poll_interval_s,
            on_session_expired=self._session_expired,
        )
        self._poll_intervals = (self.poller.interval_s, self.poller.idle_interval_s)
        self._notified_poll_interval_s = notified_poll_interval_s
        self._expiry_reported = False
        self._expiry_lock = threading.Lock()
        self.stream: OrderStream | None = None
        if stream_root is not None:
            self.stream = OrderStream(
                session,
                stream_root,
                on_order=lambda _order: self.poller.wake(),
                on_up=self._stream_up,
                on_down=self._stream_down,
                on_refused=self._stream_refused,
                connect_timeout_s=timeout_s,
            )

    def __repr__(self) -> str:
        return f"ZerodhaBroker({self._session!r}, product={self.product})"

    # ---- lifecycle ----

    def start_updates(self) -> None:
        """Begin polling the order and trade books (events go to the handlers). Adding the first event handler
        does it too: the first poll reports the day's events, which must not go out before anyone listens."""
        if not self._closed:
            self.poller.start()
            if self.stream is not None:
                self.stream.start()

    def close(self) -> None:
        self._closed = True
        if self.stream is not None:
            self.stream.close()
        self.poller.stop()

    def _stream_up(self) -> None:
        interval, idle = self._poll_intervals
        self.poller.interval_s = max(interval, self._notified_poll_interval_s)
        self.poller.idle_interval_s = max(idle, self._notified_poll_interval_s)
        self.poller.wake()  # what changed while the socket was down

    def _stream_down(self) -> None:
        self.poller.interval_s, self.poller.idle_interval_s = self._poll_intervals
        self.poller.wake()

    def _stream_refused(self) -> None:
        """Kite answers 403 to the socket for an expired token and for an app whose plan has no WebSocket: the REST
        API tells the two apart (an expired session is reported; otherwise polling alone carries on)."""
        self._stream_down()
        try:
            self._calls.run("check the session", "GET /user/profile", lambda kite: kite.profile())
        except SessionExpired as exc:
            self._session_expired(exc)
        except BrokerError as exc:
            log.info("Zerodha session check after the socket's refusal failed: %s", exc)
        else:
            log.warning("Zerodha refused the order-update socket for a valid session; order updates come by polling")

    def _session_expired(self, error: SessionExpired) -> None:
        """Tell the session listeners once, whether the poller or the socket found out first."""
        with self._expiry_lock:
            if self._expiry_reported:
                return
            self._expiry_reported = True
        self._session_listeners.call(error)

    def report_again(self, order_id: str) -> None:
        """Have the poller report ``order_id``'s events again (same execution ids) from the order and trade books."""
        self.poller.report_again(order_id)

    def remember_client_order_ids(self, client_order_ids: list[str]) -> None:
        """Tell the adapter our ids for orders placed before this process started, so their events carry them
        (Kite's tag holds a digest of the id, not the id; see ``tags``)."""
        for client_order_id in client_order_ids:
            self._tags.remember(client_order_id)

    # ---- orders ----

    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        """Place ``request`` once: Kite accepts any number of orders under one tag, so an order already in today's
        book under this client order id (a retry of a submit whose answer was lost) is refused here instead."""
        instrument = self._instrument(request.symbol)
        tag = self._tags.remember(request.client_order_id)
        try:
            params = convert.place_params(request, instrument, self.product, tag)
        except InstrumentError as exc:
            raise BrokerRejected(str(exc)) from exc
        with self._submit_lock:
            if tag in self._submitting:
                raise BrokerRejected(f"Order {request.client_order_id} is already being sent to Zerodha.")
            self._submitting.add(tag)
        try:
            existing = [row for row in self._order_book() if row.get("tag") == tag]
            if existing:
                raise BrokerRejected(
                    f"Zerodha already has order {existing[0]['order_id']} under client order id "
                    f"{request.client_order_id}; it was not placed again."
                )
            order_id = self._calls.run(
                "place the order", "POST /orders", lambda kite: kite.place_order(**params.kwargs())
            )
        finally:
            with self._submit_lock:
                self._submitting.discard(tag)
        self.poller.wake()
        return convert.placed_order(request, str(order_id), params, self._now())

    def cancel_order(self, order_id: str) -> None:
        self._calls.run("cancel the order", "DELETE /orders", lambda kite: kite.cancel_order(convert.VARIETY, order_id))
        self.poller.wake()

    def modify_order(
        self,
        order_id: str,
        *,
        qty: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> BrokerOrder:
        current = self._history_row(order_id)
        order = self._order(current)
        if order.is_terminal:
            raise BrokerRejected(f"Zerodha cannot change order {order_id}: it is already {order.status.value}.")
        instrument = self._instrument(order.symbol)
        changes: dict[str, Any] = {"order_type": current.get("order_type")}
        try:
            if qty is not None:
                if qty < order.filled_qty:
                    raise BrokerRejected(
                        f"Order {order_id} has already filled {order.filled_qty}; its quantity cannot go below that."
                    )
                changes["quantity"] = instrument.check_quantity(qty)
            if limit_price is not None:
                if order.type not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
                    raise BrokerRejected(f"Order {order_id} is a {order.type.value} order: it has no limit price.")
                changes["price"] = str(instrument.check_price(limit_price, "limit price"))
            if stop_price is not None:
                if order.type not in (OrderType.STOP, OrderType.STOP_LIMIT):
                    raise BrokerRejected(f"Order {order_id} is a {order.type.value} order: it has no trigger price.")
                changes["trigger_price"] = str(instrument.check_price(stop_price, "trigger price"))
        except InstrumentError as exc:
            raise BrokerRejected(str(exc)) from exc
        self._calls.run(
            "change the order", "PUT /orders", lambda kite: kite.modify_order(convert.VARIETY, order_id, **changes)
        )
        self.poller.wake()
        return self.get_order(order_id)

    def get_order(self, order_id: str) -> BrokerOrder:
        return self._order(self._history_row(order_id))

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder:
        tag = self._tags.remember(client_order_id)
        rows = [row for row in self._order_book() if row.get("tag") == tag]
        if not rows:
            raise OrderNotFound(f"Zerodha has no order today for client order id {client_order_id!r}")
        latest = max(rows, key=lambda r: (convert.kite_time(r.get("order_timestamp")) or self._now(), r["order_id"]))
        return replace(self._order(latest), client_order_id=client_order_id)

    def list_open_orders(self) -> list[BrokerOrder]:
        orders = [self._order(row) for row in self._order_book()]
        return [order for order in orders if order.status not in TERMINAL_STATUSES]

    def _order_book(self) -> list[convert.Row]:
        rows: list[convert.Row] = self._calls.run("read the order book", "GET /orders", lambda kite: kite.orders())
        return rows

    def _history_row(self, order_id: str) -> convert.Row:
        history: list[convert.Row] = self._calls.run(
            "read the order", "GET /orders/id", lambda kite: kite.order_history(order_id)
        )
        if not history:
            raise OrderNotFound(f"Zerodha has no order {order_id!r}")
        return history[-1]

    def _order(self, row: convert.Row) -> BrokerOrder:
        return convert.to_broker_order(row, self._tags.client_order_id(row.get("tag")), self._now())

    # ---- account ----

    def get_account(self) -> Account:
        margins = self._calls.run("read the funds", "GET /user/margins", lambda kite: kite.margins("equity"))
        return convert.to_account(self._session.user_id, margins, self.get_positions())

    def get_positions(self) -> list[BrokerPosition]:
        """Delivery holdings merged with the day's net positions (see ``convert.merge_positions``)."""
        positions = self._calls.run("read the positions", "GET /portfolio/positions", lambda kite: kite.positions())
        holdings = self._calls.run("read the holdings", "GET /portfolio/holdings", lambda kite: kite.holdings())
        return convert.merge_positions(list(positions.get("net") or []), list(holdings))

    def get_clock(self) -> Clock:
        now = self._now()
        times = session_times(now)
        return Clock(timestamp=now, is_open=times.is_open, next_open=times.next_open, next_close=times.next_close)

    def get_asset(self, symbol: str) -> Asset:
        instrument = self._instrument(symbol)
        intraday = self.product == "MIS"  # CNC sells need shares held; only intraday may sell short
        return Asset(
            symbol=str(instrument.symbol),
            tradable=True,
            fractionable=False,
            shortable=intraday,
            easy_to_borrow=intraday,
            extra={
                "exchange": instrument.symbol.exchange.value,
                "instrument_token": instrument.token,
                "tick_size": str(instrument.tick_size),
                "lot_size": str(instrument.lot_size),
                "name": instrument.name,
                "product": self.product,
            },
        )

    def _instrument(self, symbol: str) -> IndianInstrument:
        try:
            return self._instruments.book().get(symbol)
        except InstrumentError as exc:
            raise BrokerRejected(f"Zerodha cannot trade {symbol}: {exc}") from exc

    def _fetch_instruments(self, exchange: IndianExchange) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._calls.run(
            "download the instrument list", "GET /instruments", lambda kite: kite.instruments(exchange.value)
        )
        return rows

    # ---- order updates ----

    def add_event_handler(self, handler: EventHandler) -> None:
        self._handlers.add(handler)
        self.start_updates()

    def remove_event_handler(self, handler: EventHandler) -> None:
        self._handlers.remove(handler)

    def add_session_listener(self, listener: Callable[[SessionExpired], None]) -> None:
        """``listener(error)`` when Kite refuses the session while polling (the trader must log in again)."""
        self._session_listeners.add(listener)
