"""IciciBroker: the Broker protocol (and ModifiableBroker) for one ICICI Direct session, over the broker host.

Every call goes through ``BreezeHost`` (breeze_connect in its own process) with a deadline; see ``host_process``.

Orders: cash equities on NSE and BSE, product ``cash`` (delivery, CNC). Not intraday (``margin``, MIS): ICICI's
regulatory notice for breeze-connect 1.0.69 prohibits placing, modifying or cancelling Margin and Option Plus orders
through the Breeze API, so a link cannot choose it (``PRODUCTS`` keeps the switch for the day ICICI allows it).
MARKET, LIMIT, STOP (a stop-loss with no limit price, SL-M) and STOP_LIMIT (SL); DAY and IOC. Brackets, extended
hours, fractional quantities and GTC/FOK are refused before sending (NotPlaced): the exchanges take none of them
through Breeze. Note: breeze_connect (1.0.69) no longer sends a market order as such; it asks for a quote and
places a limit order 3 % through the last price (clamped to the circuit limits), so a MARKET order reads back from
ICICI as a LIMIT order.

``client_order_id`` travels in Breeze's ``user_remark`` as a 16-character hash tag (``convert.client_tag``), so
``get_order_by_client_id`` works after a restart without a stored mapping.

Updates: ICICI's order notifications arrive over its socket.io channel (when the host could subscribe) and only
wake the poller; the order book is the truth. The poller reads the order book of each exchange that has open orders
(one call per exchange per interval), and on a change in an order's executed quantity reads that order's trade
detail, whose per-execution ``trade_id`` becomes the fill's ``execution_id`` (``icici:<order id>:<trade id>``).
Anything missed while a poll failed, or while the notification channel was down, is seen by the next poll. The
interval is 5 s without notifications and 15 s with them (they wake the poller at once): Breeze allows 100 calls a
minute and 5000 a day, and an order left open all session costs 4500 calls at 5 s, 1500 at 15 s.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from core.adapters.icici import convert
from core.adapters.icici.host_process import BreezeHost, HostError
from core.adapters.icici.master import MasterError, parse_security_master
from core.adapters.icici.pacing import OrderPacer
from core.broker.callbacks import Callbacks
from core.broker.errors import BrokerError, BrokerRejected, BrokerUnavailable, NotPlaced, OrderNotFound
from core.broker.protocol import EventHandler
from core.domain.orders import (
    TERMINAL_STATUSES as TERMINAL,
)
from core.domain.orders import (
    Account,
    Asset,
    BrokerOrder,
    BrokerPosition,
    Clock,
    OrderClass,
    OrderEvent,
    OrderEventType,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from core.market.india import IST, IndianExchange, IndianInstrument, InstrumentBook, InstrumentError, session_times

log = logging.getLogger(__name__)

END_EVENTS = {
    OrderStatus.CANCELED: OrderEventType.CANCELED,
    OrderStatus.REJECTED: OrderEventType.REJECTED,
    OrderStatus.EXPIRED: OrderEventType.EXPIRED,
}
PRODUCTS = {"cash": "delivery (CNC)"}
NOT_OFFERED = {
    "margin": "ICICI Direct does not take intraday (margin) orders through its API; link the account for delivery "
    "(cash) trading.",
}
DEFAULT_POLL_INTERVAL_S = 5.0
NOTIFIED_POLL_INTERVAL_S = 15.0  # with ICICI's notifications waking the poller, polling is only the safety net
MASTER_TIMEOUT_S = 90.0
FINISHED_KEPT = 200


@dataclass
class _Tracked:
    """What the poller last told the handlers about one order."""

    exchange: str
    client_order_id: str
    symbol: str
    status: OrderStatus | None = None
    filled: Decimal = Decimal("0")
    executions: set[str] = field(default_factory=set)
    new_sent: bool = False
    last_event: OrderEvent | None = None


class IciciBroker:
    """One ICICI Direct session. Thread-safe; raises ``core.broker.errors`` only; ``close()`` ends the host."""

    name = "icici"

    def __init__(
        self,
        host: BreezeHost,
        *,
        user_id: str = "",
        product: str = "cash",
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        notified_poll_interval_s: float = NOTIFIED_POLL_INTERVAL_S,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        owns_host: bool = True,
        pacer: OrderPacer | None = None,
    ) -> None:
        if product not in PRODUCTS:
            raise ValueError(NOT_OFFERED.get(product, f"ICICI Direct has no product {product!r} for StratForge."))
        self._host = host
        self._owns_host = owns_host  # False: another broker shares the host and closes it
        self._pacer = pacer or OrderPacer()
        self.user_id = user_id
        self.product = product
        self.poll_interval_s = poll_interval_s
        self.notified_poll_interval_s = notified_poll_interval_s
        self._now = now
        self._lock = threading.RLock()
        self._handlers: Callbacks[OrderEvent] = Callbacks("ICICI order event handler", log)
        self._tracked: dict[str, _Tracked] = {}
        self._tags: dict[str, str] = {}  # user_remark tag -> client order id, for the orders placed here
        self._book: tuple[date, InstrumentBook] | None = None
        self._book_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._swept = False
        self.notifications_subscribed = False
        self._redeliver: str | None = None  # the order a notification named: re-told when nothing else changed
        self._finished: dict[str, OrderEvent] = {}  # the last event of orders that ended (a late redelivery)
        self._poller = threading.Thread(target=self._poll_loop, name="icici-order-poller", daemon=True)
        self._poller.start()

    # --- lifecycle ---------------------------------------------------------------------------------------------
    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._poller.join(timeout=5)
        if self._owns_host:
            self._host.close()

    def on_host_event(self, message: dict[str, Any]) -> None:
        """An order notification from ICICI's socket.io channel: read the book now rather than at the next tick."""
        if message.get("event") == "order":
            data = message.get("data") or {}
            self._redeliver = str(data.get("orderReference") or data.get("order_id") or "") or None
            self._wake.set()

    def subscribe_notifications(self) -> bool:
        """Ask the host for ICICI's order notifications; False (and polling alone) when it cannot have them."""
        try:
            answer = self._host.request("subscribe_orders", timeout_s=15)
        except (HostError, BrokerError) as exc:
            log.warning("ICICI order notifications unavailable, polling only: %s", exc)
            return False
        # subscribe_feeds reports its own failures as a returned string ("Exception while subscribing ..."), not
        # by raising: only its success message counts.
        message = str(answer.get("message", "")) if isinstance(answer, dict) else str(answer)
        if "subscribed successfully" not in message.lower():
            log.warning("ICICI order notifications refused, polling only: %s", message[:200])
            return False
        self.notifications_subscribed = True
        return True

    # --- events ------------------------------------------------------------------------------------------------
    def add_event_handler(self, handler: EventHandler) -> None:
        self._handlers.add(handler)

    def remove_event_handler(self, handler: EventHandler) -> None:
        self._handlers.remove(handler)

    # --- instruments -------------------------------------------------------------------------------------------
    def instruments(self) -> InstrumentBook:
        """ICICI's security master for today (India's date), downloaded once a day and kept in memory."""
        today = self._now().astimezone(IST).date()
        with self._book_lock:
            if self._book is not None and self._book[0] == today:
                return self._book[1]
            try:
                encoded = self._host.request("master", timeout_s=MASTER_TIMEOUT_S)
            except HostError as exc:
                raise BrokerUnavailable("ICICI Direct's instrument list could not be downloaded; try again.") from exc
            try:
                book = parse_security_master(base64.b64decode(encoded))
            except (MasterError, ValueError) as exc:
                raise BrokerUnavailable(str(exc)) from exc
            self._book = (today, book)
            return book

    def _instrument(self, symbol: str) -> IndianInstrument:
        """The instrument an order is for; NotPlaced (nothing was sent) when it is unknown or the list is not here."""
        try:
            return self.instruments().get(symbol)
        except InstrumentError as exc:
            raise NotPlaced(str(exc)) from None
        except BrokerUnavailable as exc:
            raise NotPlaced(f"{exc} The order was not sent.") from None

    def _symbol(self, exchange: str, stock_code: str) -> str:
        try:
            return str(self.instruments().by_token(IndianExchange(exchange.upper()), stock_code.upper()).symbol)
        except (InstrumentError, ValueError):
            return f"{exchange.upper()}:{stock_code.upper()}"

    # --- orders ------------------------------------------------------------------------------------------------
    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        instrument = self._instrument(request.symbol)
        fields = self._order_fields(request, instrument)
        tag = convert.client_tag(request.client_order_id)
        self._refuse_reused_tag(tag, request.client_order_id, instrument.symbol.exchange.value)
        self._pacer.take("the order")
        with self._lock:
            self._tags[tag] = request.client_order_id
        answer = self._call("place_order", "the order", **fields, user_remark=tag)
        order_id = str(convert.success(answer, "the order")["order_id"])
        exchange = instrument.symbol.exchange.value
        with self._lock:
            self._tracked[order_id] = _Tracked(exchange, request.client_order_id, str(instrument.symbol))
        self._wake.set()
        try:
            return self.get_order(order_id)
        except BrokerError:
            now = self._now()
            return BrokerOrder(
                id=order_id,
                client_order_id=request.client_order_id,
                symbol=str(instrument.symbol),
                side=request.side,
                qty=request.qty,
                type=request.type,
                time_in_force=request.time_in_force,
                status=OrderStatus.PENDING_NEW,
                filled_qty=Decimal("0"),
                filled_avg_price=None,
                submitted_at=now,
                updated_at=now,
                limit_price=request.limit_price,
                stop_price=request.stop_price,
            )

    def _refuse_reused_tag(self, tag: str, client_order_id: str, exchange: str) -> None:
        """Breeze does not refuse a second order with the same remark, so StratForge does: the ledger retries an
        unanswered submit under the same client order id, and taking both would place the trader's order twice.
        The day's order book is read when this session has not placed the tag itself (after a restart)."""
        with self._lock:
            used = tag in self._tags
        if not used:
            try:
                book = self._order_book(exchange)
            except BrokerUnavailable:
                raise NotPlaced(
                    "ICICI Direct could not be reached to check the order book; the order was not sent."
                ) from None
            used = any(str(row.get("user_remark") or "") == tag for row in book)
        if used:
            raise BrokerRejected(
                f"ICICI Direct already has an order under client order id {client_order_id} today; "
                "it was not placed again."
            )

    def _order_fields(self, request: OrderRequest, instrument: IndianInstrument) -> dict[str, str]:
        """Breeze's place_order arguments, or NotPlaced naming what the exchanges would refuse."""
        if request.order_class is not OrderClass.SIMPLE:
            raise NotPlaced("ICICI Direct takes no bracket or linked orders through its API; place a simple order.")
        if request.extended_hours:
            raise NotPlaced("NSE and BSE have no extended-hours session; place the order for regular hours.")
        if request.time_in_force not in (TimeInForce.DAY, TimeInForce.IOC):
            raise NotPlaced(
                f"ICICI Direct takes day and IOC orders only, not {request.time_in_force.value.upper()}; "
                "an unfilled order ends with the day."
            )
        try:
            quantity = instrument.check_quantity(request.qty)
            limit = instrument.check_price(request.limit_price, "limit price") if request.limit_price else None
            stop = instrument.check_price(request.stop_price, "stop price") if request.stop_price else None
        except InstrumentError as exc:
            raise NotPlaced(str(exc)) from None
        kind = request.type
        if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) and limit is None:
            raise NotPlaced(f"A {kind.value.replace('_', '-')} order needs a limit price.")
        if kind in (OrderType.STOP, OrderType.STOP_LIMIT) and stop is None:
            raise NotPlaced(f"A {kind.value.replace('_', '-')} order needs a stop price.")
        breeze_type = {
            OrderType.MARKET: "market",
            OrderType.LIMIT: "limit",
            OrderType.STOP: "stoploss",
            OrderType.STOP_LIMIT: "stoploss",
        }[kind]
        return {
            "stock_code": instrument.token,
            "exchange_code": instrument.symbol.exchange.value,
            "product": self.product,
            "action": request.side.value,
            "order_type": breeze_type,
            "quantity": str(quantity),
            "price": str(limit) if limit is not None and kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else "",
            "stoploss": str(stop) if stop is not None and kind in (OrderType.STOP, OrderType.STOP_LIMIT) else "",
            "validity": "ioc" if request.time_in_force is TimeInForce.IOC else "day",
        }

    def cancel_order(self, order_id: str) -> None:
        row = self._order_row(order_id)
        self._pacer.take("the cancellation")
        answer = self._call("cancel_order", "the cancellation", exchange_code=row["exchange_code"], order_id=order_id)
        convert.success(answer, f"the cancellation of order {order_id}")
        self._track(row)
        self._wake.set()

    def modify_order(
        self,
        order_id: str,
        *,
        qty: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> BrokerOrder:
        row = self._order_row(order_id)
        instrument = self.instruments().by_token(IndianExchange(row["exchange_code"]), str(row["stock_code"]))
        try:
            quantity = str(instrument.check_quantity(qty)) if qty is not None else ""
            price = str(instrument.check_price(limit_price, "limit price")) if limit_price is not None else ""
            trigger = str(instrument.check_price(stop_price, "stop price")) if stop_price is not None else ""
        except InstrumentError as exc:
            raise NotPlaced(str(exc)) from None
        self._pacer.take("the change")
        answer = self._call(
            "modify_order",
            "the change",
            order_id=order_id,
            exchange_code=row["exchange_code"],
            order_type="",
            stoploss=trigger,
            quantity=quantity,
            price=price,
            validity="",
            disclosed_quantity="",
            validity_date="",
        )
        convert.success(answer, f"the change to order {order_id}")
        self._wake.set()
        return self.get_order(order_id)

    def get_order(self, order_id: str) -> BrokerOrder:
        return self._to_order(self._order_row(order_id))

    def get_order_by_client_id(self, client_order_id: str) -> BrokerOrder:
        tag = convert.client_tag(client_order_id)
        for exchange in IndianExchange:
            for row in self._order_book(exchange.value):
                if str(row.get("user_remark") or "") == tag:
                    with self._lock:
                        self._tags[tag] = client_order_id  # the hash is one-way: remember what it stood for
                        tracked = self._tracked.get(str(row.get("order_id")))
                        if tracked is not None and tracked.client_order_id == tag:
                            tracked.client_order_id = client_order_id  # adopted before anyone named it
                    return self._to_order(row)
        raise OrderNotFound(f"ICICI Direct has no order for client order id {client_order_id} today.")

    def list_open_orders(self) -> list[BrokerOrder]:
        orders = [self._to_order(row) for exchange in IndianExchange for row in self._order_book(exchange.value)]
        return [order for order in orders if not order.is_terminal]

    def _order_row(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            tracked = self._tracked.get(order_id)
        exchanges = [tracked.exchange] if tracked else [e.value for e in IndianExchange]
        for exchange in exchanges:
            answer = self._call("get_order_detail", "the order", exchange_code=exchange, order_id=order_id)
            found = convert.rows(answer, f"order {order_id}")
            if found:
                return found[0]
        raise OrderNotFound(f"ICICI Direct has no order {order_id}.")

    def _order_book(self, exchange: str) -> list[dict[str, Any]]:
        day = self._now().astimezone(IST).date().isoformat()
        answer = self._call(
            "get_order_list",
            "the order book",
            exchange_code=exchange,
            from_date=f"{day}T00:00:00.000Z",
            to_date=f"{day}T23:59:59.000Z",
        )
        return convert.rows(answer, "orders today")

    def _client_order_id(self, row: dict[str, Any]) -> str:
        tag = str(row.get("user_remark") or "")
        with self._lock:
            tracked = self._tracked.get(str(row.get("order_id")))
            if tracked is not None:
                return tracked.client_order_id
            return self._tags.get(tag, tag or f"icici:{row.get('order_id')}")

    def _to_order(self, row: dict[str, Any]) -> BrokerOrder:
        symbol = self._symbol(str(row.get("exchange_code", "NSE")), str(row.get("stock_code", "")))
        return convert.broker_order(row, symbol, self._client_order_id(row), self._now())

    def _track(self, row: dict[str, Any]) -> None:
        order_id = str(row["order_id"])
        with self._lock:
            if order_id not in self._tracked:
                self._tracked[order_id] = _Tracked(
                    str(row.get("exchange_code", "NSE")).upper(),
                    self._client_order_id(row),
                    self._symbol(str(row.get("exchange_code", "NSE")), str(row.get("stock_code", ""))),
                )

    # --- account -----------------------------------------------------------------------------------------------
    def get_account(self) -> Account:
        funds = convert.success(self._call("get_funds", "the funds"), "the funds")
        cash = convert.decimal(funds.get("total_bank_balance"))
        buying_power = convert.decimal(funds.get("allocated_equity")) - convert.decimal(
            funds.get("block_by_trade_equity")
        )
        held = sum((p.market_value or Decimal("0") for p in self.get_positions()), Decimal("0"))
        return Account(
            id=self.user_id or str(funds.get("bank_account", "")),
            status="ACTIVE",
            cash=cash,
            buying_power=max(buying_power, Decimal("0")),
            equity=cash + held,
        )

    def get_positions(self) -> list[BrokerPosition]:
        """Delivery holdings plus the day's net cash positions, per symbol.

        A holding is what settled in the demat account; a position is what today's trades changed (a delivery buy
        today is not a holding until settlement; an intraday trade never becomes one). A symbol's quantity is the
        holding plus the day's net (buys minus sells); its average price is the quantity-weighted average of the
        holding and today's buys (sells do not change the cost of what is left).
        """
        holdings = convert.rows(
            self._call(
                "get_portfolio_holdings",
                "the holdings",
                exchange_code="NSE",
                from_date="",
                to_date="",
                stock_code="",
                portfolio_type="",
            ),
            "holdings",
        )
        positions = convert.rows(self._call("get_portfolio_positions", "the positions"), "positions")
        merged: dict[str, dict[str, Decimal]] = {}

        def add(symbol: str, qty: Decimal, price: Decimal, last: Decimal) -> None:
            entry = merged.setdefault(
                symbol, {"qty": Decimal(0), "cost_qty": Decimal(0), "cost": Decimal(0), "last": Decimal(0)}
            )
            entry["qty"] += qty
            if qty > 0:
                entry["cost_qty"] += qty
                entry["cost"] += qty * price
            if last > 0:
                entry["last"] = last

        for row in holdings:
            symbol = self._symbol(str(row.get("exchange_code") or "NSE"), str(row.get("stock_code", "")))
            add(
                symbol,
                convert.decimal(row.get("quantity")),
                convert.decimal(row.get("average_price")),
                convert.decimal(row.get("current_market_price")),
            )
        for row in positions:
            if str(row.get("segment", "equity")).lower() not in ("equity", ""):
                continue
            sign = Decimal(1) if str(row.get("action", "")).lower().startswith("b") else Decimal(-1)
            symbol = self._symbol(str(row.get("exchange_code") or "NSE"), str(row.get("stock_code", "")))
            add(
                symbol,
                sign * convert.decimal(row.get("quantity")),
                convert.decimal(row.get("average_price")),
                convert.decimal(row.get("ltp")),
            )
        result = []
        for symbol, entry in sorted(merged.items()):
            if entry["qty"] == 0:
                continue
            average = (entry["cost"] / entry["cost_qty"]).quantize(Decimal("0.01")) if entry["cost_qty"] else Decimal(0)
            value = entry["qty"] * entry["last"] if entry["last"] > 0 else None
            result.append(BrokerPosition(symbol=symbol, qty=entry["qty"], avg_entry_price=average, market_value=value))
        return result

    def get_clock(self) -> Clock:
        now = self._now()
        times = session_times(now)
        return Clock(timestamp=now, is_open=times.is_open, next_open=times.next_open, next_close=times.next_close)

    def get_asset(self, symbol: str) -> Asset:
        try:
            instrument = self.instruments().get(symbol)
        except InstrumentError:
            return Asset(symbol=symbol.strip().upper(), tradable=False, shortable=False, easy_to_borrow=False)
        intraday = self.product == "margin"  # a delivery (CNC) sale needs the shares it sells
        return Asset(
            symbol=str(instrument.symbol),
            tradable=True,
            fractionable=False,
            extra={
                "exchange": instrument.symbol.exchange.value,
                "token": instrument.token,
                "lot_size": str(instrument.lot_size),
                "tick_size": str(instrument.tick_size),
                "name": instrument.name,
                "segment": instrument.segment,
            },
            shortable=intraday,
            easy_to_borrow=intraday,
        )

    # --- the host ----------------------------------------------------------------------------------------------
    def _call(self, method: str, what: str, **kwargs: Any) -> Any:
        try:
            return self._host.call(method, **kwargs)
        except HostError as exc:
            if exc.kind == "usage":
                raise NotPlaced(f"ICICI Direct: {what} was not sent ({exc}).") from None
            log.warning("ICICI %s failed: %s", method, exc)
            raise BrokerUnavailable(f"ICICI Direct could not be reached for {what}; the outcome is unknown.") from None

    # --- updates -----------------------------------------------------------------------------------------------

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.current_poll_interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.poll_once()
            except BrokerError as exc:
                log.info("ICICI order poll failed (next one in %.1f s): %s", self.current_poll_interval_s, exc)
            except Exception:
                log.exception("ICICI order poll failed unexpectedly")

    @property
    def current_poll_interval_s(self) -> float:
        return self.notified_poll_interval_s if self.notifications_subscribed else self.poll_interval_s

    def poll_once(self) -> None:
        """Read the order book of each exchange with open orders and tell the handlers what changed."""
        if not self._swept:
            exchanges = {e.value for e in IndianExchange}  # first poll: adopt the day's open orders
        else:
            with self._lock:
                exchanges = {t.exchange for t in self._tracked.values()}
        redeliver, self._redeliver = self._redeliver, None
        if redeliver is not None:
            with self._lock:
                finished = self._finished.get(redeliver) if redeliver not in self._tracked else None
            if finished is not None:
                self._emit([finished])  # ICICI notified an ended order again: re-tell its last event
        if not exchanges:
            return
        for exchange in sorted(exchanges):
            for row in self._order_book(exchange):
                order_id = str(row.get("order_id"))
                with self._lock:
                    known = order_id in self._tracked
                if not known and not self._swept and convert.order_status(row.get("status")) not in TERMINAL:
                    self._track(row)
                    known = True
                if known:
                    self._update(row, redeliver == order_id)
        self._swept = True

    def _update(self, row: dict[str, Any], redeliver: bool) -> None:
        """The events one order's new state calls for; flags are set only once its events are all built, so a
        failed trade-detail read leaves everything to the next poll."""
        order_id = str(row["order_id"])
        order = self._to_order(row)
        with self._lock:
            tracked = self._tracked.get(order_id)
        if tracked is None:
            return
        now = self._now()
        events: list[OrderEvent] = []
        announce = not tracked.new_sent and order.status in (
            OrderStatus.NEW,
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
        )
        if announce:
            events.append(OrderEvent(OrderEventType.NEW, order, now))
        if order.filled_qty > tracked.filled:
            events.extend(self._fill_events(tracked, order, now))  # raises before any flag changes
        all_fills_told = tracked.filled >= order.filled_qty
        ending = END_EVENTS.get(order.status)
        if ending is not None and all_fills_told and tracked.status is not order.status:
            events.append(OrderEvent(ending, order, now, reason=f"ICICI Direct: {row.get('status')}"))
        if not events and redeliver and tracked.last_event is not None:
            events.append(tracked.last_event)  # ICICI notified the same update again: so do we (same ids)
        tracked.new_sent = tracked.new_sent or announce
        if all_fills_told:
            tracked.status = order.status
        if events:
            tracked.last_event = events[-1]
        self._emit(events)
        if order.is_terminal and all_fills_told:
            with self._lock:
                self._tracked.pop(order_id, None)
                if tracked.last_event is not None:
                    self._finished[order_id] = tracked.last_event
                    while len(self._finished) > FINISHED_KEPT:
                        self._finished.pop(next(iter(self._finished)))

    def _fill_events(self, tracked: _Tracked, order: BrokerOrder, now: datetime) -> list[OrderEvent]:
        exchange = tracked.exchange
        answer = self._call("get_trade_detail", "the order's trades", exchange_code=exchange, order_id=order.id)
        trades = convert.rows(answer, f"trades of order {order.id}")
        events: list[OrderEvent] = []
        cumulative = Decimal("0")
        value = Decimal("0")
        for trade in trades:
            qty = convert.decimal(trade.get("executed_quantity"))
            price = convert.decimal(trade.get("execution_price"))
            cumulative += qty
            value += qty * price
            execution = convert.execution_id(order.id, trade)
            if execution in tracked.executions:
                continue
            tracked.executions.add(execution)
            complete = cumulative >= order.qty
            state = order if complete else _with_fill(order, cumulative, value / cumulative if cumulative else None)
            events.append(
                OrderEvent(
                    OrderEventType.FILL if complete else OrderEventType.PARTIAL_FILL,
                    state,
                    convert.ist_time(trade.get("exchange_trade_time")) or now,
                    execution_id=execution,
                    price=price,
                    qty=qty,
                    fee=convert.decimal(trade.get("brokerage_amount")) + convert.decimal(trade.get("taxes")),
                )
            )
        tracked.filled = max(tracked.filled, cumulative)
        return events

    def _emit(self, events: list[OrderEvent]) -> None:
        self._handlers.call_each(events)


def _with_fill(order: BrokerOrder, filled: Decimal, average: Decimal | None) -> BrokerOrder:
    from dataclasses import replace

    return replace(
        order,
        status=OrderStatus.PARTIALLY_FILLED,
        filled_qty=filled,
        filled_avg_price=average.quantize(Decimal("0.01")) if average is not None else None,
    )
