"""Order updates from Kite's order book and trade book, polled, and woken by Kite's WebSocket.

Why the books, measured (kiteconnect 5.2.2): Kite pushes order updates two ways. Postbacks need a public HTTPS URL,
which a desktop app does not have. The WebSocket's order messages come through the SDK's ``KiteTicker``, which runs
on Twisted's global reactor: it can be started once per process and, once stopped, ``reactor.run()`` raises
``ReactorNotRestartable`` (tried: start on a thread, stop, run again), so a ticker cannot be stopped and started
again inside the app (a log-out and log-in, a test per stand-in). ``order_stream.py`` therefore speaks Kite's
documented WebSocket with websocket-client, and each order message only wakes this poller (fills in ~0.1 s instead
of at the next poll): either push carries the order's state without the trade ids, so fills need the trade book
anyway, and the books are the one source of truth and of execution ids. This module reads
``GET /orders`` (one request a poll) and, only when an order's filled quantity grew, ``GET /trades`` (one more):
every 1 s while an order is working and every 5 s otherwise, at most 2 requests a second, inside Kite's documented
~10 a second per endpoint; the session's ``RequestPacer`` keeps the poller and the ledger's calls under it together,
and a 429 backs the poller off.

What handlers get: NEW once an order is working, one PARTIAL_FILL/FILL per trade in the trade book (``execution_id``
``zerodha:<order id>:<trade id>``: Kite's trade ids are the exchange's, which restart, the order id does not), and
CANCELED / REJECTED / EXPIRED once its fills are all reported. Every poll reads the whole day's books, so what
happened while the poller could not reach Kite (or before the app started) is reported when it next can; the
first poll of a new poller reports the day's events again, with the same execution ids (handlers are idempotent).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from core.adapters.zerodha.client import KiteCalls
from core.adapters.zerodha.convert import Row, kite_time, to_broker_order
from core.adapters.zerodha.instruments import to_decimal
from core.broker.errors import BrokerError, RateLimited, SessionExpired
from core.domain.orders import OrderEvent, OrderEventType, OrderStatus

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL_S = 1.0
# With no order working, the books change only when someone places one: ours wake the poller at once, and one
# placed on Kite's own apps shows within 5 intervals. That is one request every 5 s for the idle hours of the day.
IDLE_FACTOR = 5
MAX_BACKOFF_S = 10.0
EXECUTION_PREFIX = "zerodha"

_TERMINAL_EVENTS = {
    OrderStatus.CANCELED: OrderEventType.CANCELED,
    OrderStatus.REJECTED: OrderEventType.REJECTED,
    OrderStatus.EXPIRED: OrderEventType.EXPIRED,
}


def execution_id(order_id: str, trade_id: str) -> str:
    return f"{EXECUTION_PREFIX}:{order_id}:{trade_id}"


class OrderBookTracker:
    """Turns successive readings of the order and trade books into the events not reported yet. Not thread-safe
    (the poller owns it)."""

    def __init__(self, client_order_id: Callable[[str | None], str]) -> None:
        self._client_order_id = client_order_id
        self._announced: set[str] = set()
        self._ended: set[str] = set()
        self._executions: set[str] = set()
        self._filled: dict[str, tuple[Decimal, Decimal]] = {}  # order id -> (qty, cost) of the fills reported
        self.working = False  # whether the last reading had an order that may still change (or a fill to report)

    def forget(self, order_id: str) -> None:
        """Report ``order_id`` afresh at the next update: its events again, with the same execution ids."""
        self._announced.discard(order_id)
        self._ended.discard(order_id)
        self._filled.pop(order_id, None)
        prefix = execution_id(order_id, "")
        self._executions = {e for e in self._executions if not e.startswith(prefix)}

    def needs_trades(self, orders: Iterable[Row]) -> bool:
        """Whether some order filled more than the fills already reported (then the trade book is worth a read)."""
        return any(
            to_decimal(row.get("filled_quantity") or 0) > self._filled.get(str(row["order_id"]), (Decimal(0),))[0]
            for row in orders
        )

    def update(self, orders: list[Row], trades: list[Row], now: datetime | None = None) -> list[OrderEvent]:
        now = now or datetime.now(UTC)
        by_order: dict[str, list[Row]] = {}
        for trade in trades:
            by_order.setdefault(str(trade["order_id"]), []).append(trade)
        events: list[OrderEvent] = []
        working = False
        for row in sorted(orders, key=lambda r: (kite_time(r.get("order_timestamp")) or now, str(r["order_id"]))):
            oid = str(row["order_id"])
            if oid in self._ended:
                continue
            events.extend(self._order_events(row, by_order.get(oid, []), now))
            working = working or oid not in self._ended
        self.working = working
        return events

    def _order_events(self, row: Row, trades: list[Row], now: datetime) -> list[OrderEvent]:
        oid = str(row["order_id"])
        order = to_broker_order(row, self._client_order_id(row.get("tag")), now)
        events: list[OrderEvent] = []
        if oid not in self._announced and order.status not in (OrderStatus.PENDING_NEW, OrderStatus.REJECTED):
            self._announced.add(oid)
            new = replace(order, status=OrderStatus.NEW, filled_qty=Decimal(0), filled_avg_price=None)
            events.append(OrderEvent(OrderEventType.NEW, new, new.submitted_at))
        qty, cost = self._filled.get(oid, (Decimal(0), Decimal(0)))
        for trade in sorted(trades, key=lambda t: (kite_time(t.get("fill_timestamp")) or now, str(t["trade_id"]))):
            exec_id = execution_id(oid, str(trade["trade_id"]))
            if exec_id in self._executions:
                continue
            self._executions.add(exec_id)
            fill_qty, price = to_decimal(trade["quantity"]), to_decimal(trade["average_price"])
            qty, cost = qty + fill_qty, cost + fill_qty * price
            self._filled[oid] = (qty, cost)
            done = qty >= order.qty
            at = kite_time(trade.get("fill_timestamp")) or kite_time(trade.get("exchange_timestamp")) or now
            snapshot = replace(
                order,
                status=OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED,
                filled_qty=qty,
                filled_avg_price=cost / qty,
                updated_at=max(at, order.submitted_at),
            )
            kind = OrderEventType.FILL if done else OrderEventType.PARTIAL_FILL
            events.append(OrderEvent(kind, snapshot, at, execution_id=exec_id, price=price, qty=fill_qty))
        all_fills_reported = qty >= order.filled_qty
        if order.status == OrderStatus.FILLED and all_fills_reported:
            self._ended.add(oid)
        elif order.status in _TERMINAL_EVENTS and all_fills_reported:
            self._ended.add(oid)
            final = replace(order, filled_qty=qty, filled_avg_price=cost / qty if qty else None)
            reason = str(row.get("status_message") or "") or None
            events.append(OrderEvent(_TERMINAL_EVENTS[order.status], final, final.updated_at, reason=reason))
        return events


class OrderPoller:
    """A daemon thread polling the books every ``interval_s`` while an order is working (else every
    ``idle_interval_s``) and handing new events to ``deliver``.

    ``wake()`` polls at once (after placing, changing or cancelling an order). A refused session stops it and
    calls ``on_session_expired`` (polling again cannot help until the trader logs in); other failures back it off
    (doubling up to 10 s) and it carries on.
    """

    def __init__(
        self,
        calls: KiteCalls,
        tracker: OrderBookTracker,
        deliver: Callable[[OrderEvent], None],
        *,
        interval_s: float = DEFAULT_POLL_INTERVAL_S,
        idle_interval_s: float | None = None,
        on_session_expired: Callable[[SessionExpired], None] | None = None,
    ) -> None:
        self._calls = calls
        self._tracker = tracker
        self._deliver = deliver
        self.interval_s = interval_s
        self.idle_interval_s = idle_interval_s if idle_interval_s is not None else IDLE_FACTOR * interval_s
        self._on_session_expired = on_session_expired
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._again: set[str] = set()
        self._again_lock = threading.Lock()
        self.polls = 0  # completed polls, for tests and diagnostics
        self.failures = 0  # consecutive failed polls
        self.last_error: BrokerError | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="zerodha-order-poller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def report_again(self, order_id: str) -> None:
        """At the next poll (now), report ``order_id``'s events again from the books, under the same execution ids:
        for a reconciliation that suspects it missed one (a polled broker's equivalent of a venue's resend)."""
        with self._again_lock:
            self._again.add(order_id)
        self.wake()

    def poll_once(self) -> list[OrderEvent]:
        """One reading of the books; the events it found, already delivered."""
        with self._again_lock:
            again, self._again = self._again, set()
        for order_id in again:
            self._tracker.forget(order_id)
        orders = self._calls.run("read the order book", "GET /orders", lambda kite: kite.orders())
        trades: list[Row] = []
        if self._tracker.needs_trades(orders):
            trades = self._calls.run("read the trade book", "GET /trades", lambda kite: kite.trades())
        events = self._tracker.update(orders, trades)
        for event in events:
            self._deliver(event)
        self.polls += 1
        return events

    def _run(self) -> None:
        while not self._stop.is_set():
            delay = self.interval_s if self._tracker.working else self.idle_interval_s
            try:
                self.poll_once()
                self.failures, self.last_error = 0, None
            except SessionExpired as exc:
                self.last_error = exc
                log.warning("Zerodha order updates stopped: %s", exc)
                if self._on_session_expired is not None:
                    self._on_session_expired(exc)
                return
            except RateLimited as exc:
                self.failures, self.last_error = self.failures + 1, exc
                delay = max(delay, exc.retry_after_s or 1.0)
            except BrokerError as exc:
                self.failures, self.last_error = self.failures + 1, exc
                delay = min(MAX_BACKOFF_S, self.interval_s * 2 ** min(self.failures, 6))
                log.info("Zerodha order book unreadable (%s failed polls): %s", self.failures, exc)
            except Exception:  # a handler's bug or an answer we cannot read must not end order updates
                self.failures += 1
                log.exception("Zerodha order poll failed")
                delay = min(MAX_BACKOFF_S, self.interval_s * 2 ** min(self.failures, 6))
            self._wake.wait(delay)
            self._wake.clear()
