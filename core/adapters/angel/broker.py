"""AngelBroker: the Broker protocol (and ModifiableBroker) over smartapi-python, for one Angel One session.

Calls are synchronous and thread-safe (the SDK's calls share no mutable state after log-in); each is bounded by
the SDK's ``timeout`` (per socket wait) and spaced within Angel's per-API limits by ``RouteGate``. Orders are read
from the order book (Angel's single-order call ignores ``root`` and has no timeout); the book is cached briefly
and shared with the poller, because Angel allows one order-book read a second.

``client_order_id`` travels as ``ordertag`` (``convert.order_tag``: derived, so a restarted adapter finds the same
order); the tag -> client id map is learned as orders are placed or looked up by client id. Orders read from the
book without a known tag keep the tag as their client order id.

Positions: ``get_positions`` merges the delivery holdings (``getHolding``) with the day's net positions
(``getPosition``, every product) per symbol: quantities add; the average entry is the holdings' average, moved by
today's net buying (today's sells do not change it); a symbol netting to zero is left out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.adapters.angel import convert, sdk
from core.adapters.angel.gate import RouteGate
from core.adapters.angel.instruments import DEFAULT_CACHE, AngelInstrument, AngelInstruments, MasterCache, master_url
from core.adapters.angel.order_stream import OrderStream
from core.adapters.angel.updates import Books, OrderBookPoller
from core.broker.callbacks import Callbacks
from core.broker.errors import BrokerError, BrokerRejected, NotPlaced, OrderNotFound
from core.broker.protocol import EventHandler
from core.domain.orders import (
    Account,
    Asset,
    BrokerOrder,
    BrokerPosition,
    Clock,
    OrderClass,
    OrderEvent,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from core.market.india import IndianSymbol, InstrumentError, session_times

log = logging.getLogger(__name__)

# An order-book read this recent, and made after our last place/modify/cancel, answers get_order and
# list_open_orders (Angel allows one read a second; the poller reads it that often while orders work).
BOOK_FRESH_S = 1.2


class AngelBroker:
    """One Angel One trading session. Thread-safe; methods raise ``core.broker.errors`` only."""

    name = "angel"

    def __init__(
        self,
        connect: Any,
        *,
        client_code: str,
        product: str = "CNC",
        api_root: str | None = None,
        timeout_s: float = sdk.DEFAULT_TIMEOUT_S,
        masters: MasterCache = DEFAULT_CACHE,
        gate: RouteGate | None = None,
        poll_interval_s: float | None = None,
        start_polling: bool = True,
        stream_url: str | None = None,
    ) -> None:
        """``connect``: a logged-in SmartConnect (``sdk.new_connect``); ``product``: "CNC" (delivery) or "MIS";
        ``stream_url``: Angel's order-update WebSocket (``order_stream.stream_url``), whose messages make the poller
        read the books at once; None polls alone."""
        if product not in convert.PRODUCTS:
            raise ValueError(f"Angel One product must be CNC (delivery) or MIS (intraday), not {product!r}")
        self._connect = connect
        self._client_code = client_code
        self._product = product
        self._timeout_s = timeout_s
        self._master_url = master_url(api_root)
        self._masters = masters
        self._gate = gate or RouteGate()
        self._lock = threading.Lock()
        self._client_ids: dict[str, str] = {}  # ordertag -> client_order_id
        self._varieties: dict[str, str] = {}  # order id -> variety (cancel needs it)
        self._book_rows: list[convert.Json] = []
        self._book_at = float("-inf")
        self._book_lock = threading.Lock()
        self._handlers: Callbacks[OrderEvent] = Callbacks("order event handler", log)
        kwargs = {"interval_s": poll_interval_s} if poll_interval_s else {}
        self._poller = OrderBookPoller(self._read_books, self._handlers.call, **kwargs)
        self._stream: OrderStream | None = None
        if stream_url:
            self._stream = OrderStream(stream_url, str(connect.access_token), self._poller.nudge)
        if start_polling:
            self._poller.start()
            if self._stream is not None:
                self._stream.start()

    def close(self) -> None:
        """Stop the order-update socket and the polling (the session stays valid until Angel expires it)."""
        if self._stream is not None:
            self._stream.stop()
        self._poller.stop()

    # ---- the SDK, gated and translated ----

    def _call(self, route: str, what: str, fn: Callable[[], Any], *, sending: bool = False) -> Any:
        self._gate.wait(route, self._timeout_s)
        return sdk.call(what, fn, sending=sending)

    def instruments(self) -> AngelInstruments:
        try:
            return self._masters.get(self._master_url)
        except BrokerError as exc:
            raise NotPlaced(str(exc)) from exc

    def _instrument(self, symbol: str) -> AngelInstrument:
        try:
            return self.instruments().get(symbol)
        except InstrumentError as exc:
            raise BrokerRejected(str(exc)) from exc

    # ---- orders ----

    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        _refuse_unsupported(request)
        item = self._instrument(request.symbol)
        instrument = item.instrument
        try:
            qty = instrument.check_quantity(request.qty)
            if request.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
                instrument.check_price(_required(request.limit_price, "limit price"), "limit price")
            if request.type in (OrderType.STOP, OrderType.STOP_LIMIT):
                instrument.check_price(_required(request.stop_price, "stop price"), "stop price")
        except InstrumentError as exc:
            raise BrokerRejected(str(exc)) from exc
        tag = convert.order_tag(request.client_order_id)
        with self._lock:
            if tag in self._client_ids:
                raise BrokerRejected(f"client order id {request.client_order_id!r} was already sent to Angel One")
            self._client_ids[tag] = request.client_order_id
        variety, order_type = convert.ORDER_TYPES[request.type]
        params = {
            "variety": variety,
            "tradingsymbol": item.angel_symbol,
            "symboltoken": instrument.token,
            "transactiontype": request.side.value.upper(),
            "exchange": instrument.symbol.exchange.value,
            "ordertype": order_type,
            "producttype": convert.PRODUCTS[self._product],
            "duration": "IOC" if request.time_in_force is TimeInForce.IOC else "DAY",
            "price": convert.price_text(request.limit_price if order_type in ("LIMIT", "STOPLOSS_LIMIT") else None),
            "triggerprice": convert.price_text(request.stop_price) if variety == "STOPLOSS" else None,
            "quantity": str(qty),
            "ordertag": tag,
        }
        try:
            data = self._call(
                "place", "the order", lambda: self._connect.placeOrderFullResponse(dict(params)), sending=True
            )
        except (BrokerRejected, NotPlaced):
            with self._lock:  # certainly not placed: the client id may be used again
                self._client_ids.pop(tag, None)
            raise
        order_id = str((data or {}).get("orderid") or "")
        if not order_id:
            raise BrokerRejected("Angel One accepted the order but returned no order id")
        with self._lock:
            self._varieties[order_id] = variety
        self._invalidate_book()
        self._poller.nudge()
        now = datetime.now(UTC)
        return BrokerOrder(
            id=order_id,
            client_order_id=request.client_order_id,
            symbol=str(instrument.symbol),
            side=request.side,
            qty=Decimal(qty),
            type=request.type,
            time_in_force=request.time_in_force,
            status=OrderStatus.PENDING_NEW,
            filled_qty=Decimal(0),
            filled_avg_price=None,
            submitted_at=now,
            updated_at=now,
            limit_price=request.limit_price if request.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
            stop_price=request.stop_price if request.type in (OrderType.STOP, OrderType.STOP_LIMIT) else None,
        )

    def cancel_order(self, order_id: str) -> None:
        row = self._row(order_id)
        order = self._to_order(row)
        if order.is_terminal:
            raise BrokerRejected(f"Angel One order {order_id} is already {order.status.value}; it cannot be cancelled")
        variety = str(row.get("variety") or self._varieties.get(order_id) or "NORMAL")
        self._call("cancel", "the cancellation", lambda: self._connect.cancelOrder(order_id, variety), sending=True)
        self._invalidate_book()
        self._poller.nudge()

    def modify_order(
        self,
        order_id: str,
        *,
        qty: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> BrokerOrder:
        row = self._row(order_id)
        order = self._to_order(row)
        if order.is_terminal:
            raise BrokerRejected(f"Angel One order {order_id} is already {order.status.value}; it cannot be changed")
        instrument = self._instrument(order.symbol).instrument
        try:
            new_qty = instrument.check_quantity(qty) if qty is not None else int(order.qty)
            if new_qty < order.filled_qty:
                raise BrokerRejected(
                    f"Angel One order {order_id} already filled {order.filled_qty}; it cannot be cut to {new_qty}"
                )
            if limit_price is not None:
                if order.type not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
                    raise BrokerRejected(f"Angel One order {order_id} is a {order.type.value} order: it has no limit")
                instrument.check_price(limit_price, "limit price")
            if stop_price is not None:
                if order.type not in (OrderType.STOP, OrderType.STOP_LIMIT):
                    raise BrokerRejected(f"Angel One order {order_id} is a {order.type.value} order: it has no stop")
                instrument.check_price(stop_price, "stop price")
        except InstrumentError as exc:
            raise BrokerRejected(str(exc)) from exc
        price = limit_price if limit_price is not None else order.limit_price
        trigger = stop_price if stop_price is not None else order.stop_price
        params = {
            "variety": str(row.get("variety") or "NORMAL"),
            "orderid": order_id,
            "ordertype": str(row.get("ordertype")),
            "producttype": str(row.get("producttype")),
            "duration": str(row.get("duration") or "DAY"),
            "price": convert.price_text(price),
            "triggerprice": convert.price_text(trigger) if trigger is not None else None,
            "quantity": str(new_qty),
            "tradingsymbol": str(row.get("tradingsymbol")),
            "symboltoken": str(row.get("symboltoken")),
            "exchange": str(row.get("exchange")),
        }
        self._call("modify", "the change", lambda: self._connect.modifyOrder(dict(params)), sending=True)
        self._invalidate_book()
        self._poller.nudge()
        return replace(
            order,
            qty=Decimal(new_qty),
            limit_price=price if order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
            stop_price=trigger if order.type in (OrderType.STOP, OrderType.STOP_LIMIT) else None,
            updated_at=datetime.now(UTC),
        )

    def get_order(self, order_id: str) -> BrokerOrder:
        return self._to_order(self._row(order_id))

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder:
        tag = convert.order_tag(client_order_id)
        with self._lock:
            self._client_ids.setdefault(tag, client_order_id)
        rows = [r for r in self._order_rows() if str(r.get("ordertag") or "") == tag]
        if not rows:
            raise OrderNotFound(f"Angel One has no order today for client order id {client_order_id!r}")
        return self._to_order(rows[-1])

    def list_open_orders(self) -> list[BrokerOrder]:
        orders = [self._to_order(r) for r in self._order_rows()]
        return [o for o in orders if not o.is_terminal]

    def _row(self, order_id: str) -> convert.Json:
        for fresh in (BOOK_FRESH_S, 0.0):  # a recent read first; an order placed since then needs a new one
            for row in self._order_rows(max_age_s=fresh):
                if str(row.get("orderid")) == str(order_id):
                    return row
        raise OrderNotFound(f"Angel One has no order {order_id} today")

    def _order_rows(self, max_age_s: float = BOOK_FRESH_S) -> list[convert.Json]:
        with self._book_lock:
            if time.monotonic() - self._book_at <= max_age_s:
                return list(self._book_rows)
            started = time.monotonic()
            rows = self._call("orders", "reading the order book", self._connect.orderBook) or []
            self._book_rows = [r for r in rows if isinstance(r, dict)]
            self._book_at = started
            return list(self._book_rows)

    def _invalidate_book(self) -> None:
        with self._book_lock:
            self._book_at = float("-inf")

    def _to_order(self, row: convert.Json) -> BrokerOrder:
        tag = str(row.get("ordertag") or "")
        with self._lock:
            client_id = self._client_ids.get(tag, tag)
        symbol = self._symbol_of(row)
        return convert.to_broker_order(row, symbol=symbol, client_order_id=client_id, now=datetime.now(UTC))

    def _symbol_of(self, row: convert.Json) -> str:
        exchange, angel_symbol = str(row.get("exchange") or ""), str(row.get("tradingsymbol") or "")
        try:
            return self.instruments().symbol_for(exchange, angel_symbol)
        except BrokerError:
            return f"{exchange}:{angel_symbol}"

    # ---- order updates ----

    def _read_books(self) -> Books:
        rows = self._order_rows(max_age_s=0.0)
        ours = [r for r in rows if convert.is_our_tag(r.get("ordertag"))]
        trades: list[Any] = []
        if ours:  # no order of ours today: no need to spend the trade book's one read a second
            trades = self._call("trades", "reading the trade book", self._connect.tradeBook) or []
        orders = [self._to_order(r) for r in ours]
        reasons = {str(r.get("orderid")): str(r.get("text") or "") for r in ours if r.get("text")}
        return Books(orders, [t for t in trades if isinstance(t, dict)], reasons)

    def add_event_handler(self, handler: EventHandler) -> None:
        self._handlers.add(handler)

    def remove_event_handler(self, handler: EventHandler) -> None:
        self._handlers.remove(handler)

    @property
    def updates_error(self) -> str | None:
        """Why the order updates are not coming or are late (the poller's latest failure, else the order-update
        socket's, e.g. a refused session), or None while they work."""
        if self._poller.last_error:
            return self._poller.last_error
        return self._stream.last_error if self._stream is not None else None

    @property
    def order_stream(self) -> OrderStream | None:
        """The order-update socket, when there is one (for a health display and tests)."""
        return self._stream

    def poll_now(self) -> int:
        """Read both books now and hand out what changed, on the caller's thread; how many events.

        For a "refresh" (and tests): the poller does the same on its own thread while orders work.
        """
        events = self._poller.poll_once()
        self._handlers.call_each(events)
        return len(events)

    def replay(self, order_id: str | None = None) -> None:
        """Hand the events already reported again (all of today's, or one order's), on the caller's thread.

        For a handler attached after they were reported (the ledger restarting while the session lives on); the
        events keep their execution ids, so booking them again changes nothing that was booked.
        """
        self._handlers.call_each(self._poller.tracker.reported(order_id))

    # ---- account ----

    def get_account(self) -> Account:
        funds = self._call("rms", "reading funds", self._connect.rmsLimit) or {}
        holdings = self._holdings()
        holdings_value = sum(
            (convert.decimal(h.get("quantity")) + convert.decimal(h.get("t1quantity"))) * convert.decimal(h.get("ltp"))
            for h in holdings
        )
        cash = convert.decimal(funds.get("availablecash"))
        net = convert.decimal(funds.get("net"))
        return Account(id=self._client_code, status="ACTIVE", cash=cash, buying_power=net, equity=net + holdings_value)

    def _holdings(self) -> list[convert.Json]:
        rows = self._call("holdings", "reading holdings", self._connect.holding) or []
        return [r for r in rows if isinstance(r, dict)]

    def get_positions(self) -> list[BrokerPosition]:
        holdings = self._holdings()
        positions = self._call("positions", "reading positions", self._connect.position) or []
        merged: dict[str, list[Decimal]] = {}  # symbol -> [holding qty, holding avg, day net qty, day buy avg, ltp]
        for h in holdings:
            symbol = self._symbol_of(h)
            entry = merged.setdefault(symbol, [Decimal(0)] * 5)
            qty = convert.decimal(h.get("quantity")) + convert.decimal(h.get("t1quantity"))
            if qty:
                entry[1] = (entry[0] * entry[1] + qty * convert.decimal(h.get("averageprice"))) / (entry[0] + qty)
            entry[0] += qty
            entry[4] = convert.decimal(h.get("ltp"))
        for p in (r for r in positions if isinstance(r, dict)):
            symbol = self._symbol_of(p)
            entry = merged.setdefault(symbol, [Decimal(0)] * 5)
            net = convert.decimal(p.get("netqty"))
            if net > 0:
                avg = convert.decimal(p.get("buyavgprice")) or convert.decimal(p.get("avgnetprice"))
                entry[3] = (entry[2] * entry[3] + net * avg) / (entry[2] + net) if entry[2] >= 0 else avg
            elif net < 0 and entry[0] == 0:
                entry[3] = convert.decimal(p.get("sellavgprice")) or convert.decimal(p.get("avgnetprice"))
            entry[2] += net
            entry[4] = convert.decimal(p.get("ltp")) or entry[4]
        result = []
        for symbol, (held, held_avg, day, day_avg, ltp) in sorted(merged.items()):
            total = held + day
            if total == 0:
                continue
            if held > 0 and day > 0:
                average = (held * held_avg + day * day_avg) / total
            elif held > 0:
                average = held_avg
            else:
                average = day_avg
            result.append(BrokerPosition(symbol, total, average, total * ltp if ltp else None))
        return result

    def get_clock(self) -> Clock:
        now = datetime.now(UTC)
        times = session_times(now)
        return Clock(timestamp=now, is_open=times.is_open, next_open=times.next_open, next_close=times.next_close)

    def get_asset(self, symbol: str) -> Asset:
        item = self._instrument(symbol)
        instrument = item.instrument
        intraday = self._product == "MIS"  # Indian cash equities are shorted intraday only
        return Asset(
            symbol=str(instrument.symbol),
            tradable=True,
            fractionable=False,
            extra={
                "exchange": instrument.symbol.exchange.value,
                "token": instrument.token,
                "angel_symbol": item.angel_symbol,
                "tick_size": str(instrument.tick_size),
                "lot_size": str(instrument.lot_size),
                "name": instrument.name,
            },
            shortable=intraday,
            easy_to_borrow=intraday,
        )


def _required(value: Decimal | None, what: str) -> Decimal:
    if value is None:
        raise BrokerRejected(f"this order type needs a {what}")
    return value


def _refuse_unsupported(request: OrderRequest) -> None:
    """What NSE/BSE do not take through Angel's order API: refused before anything is sent."""
    if request.order_class is not OrderClass.SIMPLE:
        raise NotPlaced("Angel One's API takes simple orders only: brackets and other linked orders are not sent")
    if request.extended_hours:
        raise NotPlaced("Angel One's API has no extended-hours orders (NSE/BSE trade 09:15-15:30 IST)")
    if request.time_in_force not in (TimeInForce.DAY, TimeInForce.IOC):
        raise NotPlaced(f"Angel One takes day and IOC orders only, not {request.time_in_force.value.upper()}")
    if request.qty != request.qty.to_integral_value():
        raise NotPlaced(f"NSE/BSE trade whole shares only: {request.qty} is not a whole number")
    try:
        IndianSymbol.parse(request.symbol)
    except InstrumentError as exc:
        raise BrokerRejected(str(exc)) from exc
