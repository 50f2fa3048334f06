"""Order updates from Angel One's order and trade books, polled within Angel's rate limits.

Why the books: Angel's order-update websocket sends no fill ids and no replay (and the SDK's own client,
``SmartWebSocketOrderUpdate``, disables TLS certificate checks and gives up after two reconnections, so
``order_stream.py`` speaks it with websocket-client, TLS verified, and each message only nudges this poller).
The trade book is what carries each execution (``fillid``, ``fillsize``, ``fillprice``), and re-reading it after
any outage recovers every fill made meanwhile. So ``OrderBookPoller`` reads both books (each once a second at
most, Angel's limit) while StratForge has orders working, every ``idle_interval_s`` otherwise, and
``OrderTracker`` turns the differences into events:

- NEW once per order when Angel first shows it working;
- PARTIAL_FILL / FILL per trade-book row not seen before, ``execution_id`` ``angel:<orderid>:<fillid>`` (stable:
  a second adapter, or this one after a restart, reports the same id, so booking stays idempotent);
- CANCELED / REJECTED once, with Angel's ``text`` as the reason, after the order's fills.

A failed read (network, rate limit, expired session) is retried on the next tick; nothing is lost because the
next successful read still lists every fill of the day.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from core.adapters.angel import convert
from core.broker.errors import BrokerError, SessionExpired
from core.domain.orders import BrokerOrder, OrderEvent, OrderEventType, OrderStatus

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 1.1  # both books, once a second each at most (Angel's limit), with a margin
IDLE_INTERVAL_S = 15.0  # no order of ours working: look now and then (an order placed before a restart)


@dataclass
class _Seen:
    new_sent: bool = False
    executions: set[str] = field(default_factory=set)
    filled: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    end_sent: bool = False
    reported: list[OrderEvent] = field(default_factory=list)


class OrderTracker:
    """What was already reported per order; ``update`` returns the events the new books imply. Thread-safe."""

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}
        self._lock = threading.Lock()

    def update(
        self,
        orders: list[BrokerOrder],
        trades: list[convert.Json],
        now: datetime,
        reasons: dict[str, str] | None = None,
    ) -> list[OrderEvent]:
        by_order: dict[str, list[convert.Json]] = {}
        for trade in trades:
            by_order.setdefault(str(trade.get("orderid")), []).append(trade)
        events: list[OrderEvent] = []
        with self._lock:
            for order in orders:
                reason = (reasons or {}).get(order.id)
                events.extend(self._order_events(order, by_order.get(order.id, []), now, reason))
        return events

    def reported(self, order_id: str | None = None) -> list[OrderEvent]:
        """Every event already reported (of one order, when given), in the order they were reported."""
        with self._lock:
            chosen = [s for oid, s in self._seen.items() if order_id is None or oid == order_id]
            return [event for seen in chosen for event in seen.reported]

    def has_working(self, orders: list[BrokerOrder]) -> bool:
        return any(not o.is_terminal or not self._done(o.id) for o in orders)

    def _done(self, order_id: str) -> bool:
        with self._lock:
            seen = self._seen.get(order_id)
            return seen is not None and seen.end_sent

    def _order_events(
        self, order: BrokerOrder, trades: list[convert.Json], now: datetime, reason: str | None
    ) -> list[OrderEvent]:
        seen = self._seen.setdefault(order.id, _Seen())
        events: list[OrderEvent] = []
        if not seen.new_sent and order.status not in (OrderStatus.PENDING_NEW, OrderStatus.REJECTED):
            seen.new_sent = True
            working = replace(order, status=OrderStatus.NEW, filled_qty=Decimal(0), filled_avg_price=None)
            events.append(OrderEvent(OrderEventType.NEW, working, now))
        for trade in sorted(trades, key=lambda t: (str(t.get("filltime")), str(t.get("fillid")))):
            exec_id = convert.execution_id(trade)
            if exec_id in seen.executions:
                continue
            qty = convert.decimal(trade.get("fillsize"))
            price = convert.decimal(trade.get("fillprice"))
            if qty <= 0:
                continue
            seen.executions.add(exec_id)
            seen.filled += qty
            seen.cost += qty * price
            complete = seen.filled >= order.qty
            state = replace(
                order,
                status=OrderStatus.FILLED if complete else OrderStatus.PARTIALLY_FILLED,
                filled_qty=seen.filled,
                filled_avg_price=seen.cost / seen.filled,
            )
            kind = OrderEventType.FILL if complete else OrderEventType.PARTIAL_FILL
            events.append(
                OrderEvent(kind, state, convert.fill_time(trade, now), execution_id=exec_id, price=price, qty=qty)
            )
        if not seen.end_sent and order.status in (OrderStatus.CANCELED, OrderStatus.REJECTED):
            seen.end_sent = True
            kind = OrderEventType.CANCELED if order.status is OrderStatus.CANCELED else OrderEventType.REJECTED
            average = seen.cost / seen.filled if seen.filled else None
            final = replace(order, filled_qty=seen.filled, filled_avg_price=average)
            events.append(OrderEvent(kind, final, now, reason=reason or None))
        if order.status is OrderStatus.FILLED and seen.filled >= order.qty:
            seen.end_sent = True
        seen.reported.extend(events)
        return events


@dataclass(frozen=True)
class Books:
    """One read of both books: our orders (already mapped) and the day's trades; ``reasons`` by order id."""

    orders: list[BrokerOrder]
    trades: list[convert.Json]
    reasons: dict[str, str]


class OrderBookPoller:
    """Reads the books on its own thread and hands events to ``emit`` (on that thread, in order)."""

    def __init__(
        self,
        read: Callable[[], Books],
        emit: Callable[[OrderEvent], None],
        *,
        interval_s: float = POLL_INTERVAL_S,
        idle_interval_s: float = IDLE_INTERVAL_S,
    ) -> None:
        self._read = read
        self._emit = emit
        self._interval_s = interval_s
        self._idle_interval_s = idle_interval_s
        self.tracker = OrderTracker()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._working = False
        self.failures = 0  # consecutive failed reads (for a health display)
        self.last_error: str | None = None  # the latest failure's trader message, None once a read succeeds

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="angel-order-poller", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def nudge(self) -> None:
        """Look soon: an order was just placed, changed or cancelled."""
        self._working = True
        self._wake.set()

    def poll_once(self) -> list[OrderEvent]:
        books = self._read()
        events = self.tracker.update(books.orders, books.trades, datetime.now(UTC), books.reasons)
        self._working = self.tracker.has_working(books.orders)
        return events

    def _run(self) -> None:
        while not self._stop.is_set():
            slow = False
            try:
                events = self.poll_once()
                self.failures, self.last_error = 0, None
            except SessionExpired as exc:  # nothing will work until the trader logs in again: look rarely
                self.failures += 1
                self.last_error, slow = str(exc), True
                if self.failures == 1:
                    log.warning("Angel One session ended; order updates wait for a new log-in: %s", exc)
                events = []
            except BrokerError as exc:
                self.last_error = str(exc)
                self.failures += 1
                if self.failures in (1, 10) or self.failures % 100 == 0:
                    log.warning("Angel One order book could not be read (%s failures in a row): %s", self.failures, exc)
                events = []
            except Exception:
                self.failures += 1
                log.exception("Angel One order book poll failed")
                events = []
            for event in events:
                self._emit(event)
            busy = (self._working or self.failures) and not slow
            self._wake.wait(self._interval_s if busy else self._idle_interval_s)
            self._wake.clear()
