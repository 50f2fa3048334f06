"""Order updates from Angel's books: each change reported once, fills by trade id, and recovery after failures."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

from core.adapters.angel import convert
from core.adapters.angel.updates import Books, OrderBookPoller, OrderTracker
from core.broker.errors import BrokerUnavailable, SessionExpired
from core.domain.orders import BrokerOrder, OrderEvent, OrderEventType, OrderStatus

NOW = datetime(2026, 12, 8, 5, 0, tzinfo=UTC)


def order(status: str, filled: str = "0", qty: str = "10") -> BrokerOrder:
    row = {"orderid": "261208000000001", "ordertype": "LIMIT", "transactiontype": "BUY", "duration": "DAY",
           "quantity": qty, "filledshares": filled, "averageprice": "0", "price": "100",
           "orderstatus": status}  # fmt: skip
    return convert.to_broker_order(row, symbol="NSE:INFY", client_order_id="c1", now=NOW)


def trade(fillid: str, size: str, price: str, at: str) -> convert.Json:
    return {"orderid": "261208000000001", "fillid": fillid, "fillsize": size, "fillprice": price, "filltime": at}


def kinds(events: list[OrderEvent]) -> list[OrderEventType]:
    return [e.type for e in events]


def test_each_change_is_reported_once_and_fills_come_from_the_trade_book_in_time_order() -> None:
    tracker = OrderTracker()
    t1, t2 = trade("501", "4", "100", "10:00:01"), trade("502", "6", "99.5", "10:00:05")

    first = tracker.update([order("open")], [], NOW)
    again = tracker.update([order("open")], [], NOW)
    fills = tracker.update([order("complete", "10")], [t2, t1], NOW)
    later = tracker.update([order("complete", "10")], [t1, t2], NOW)

    assert kinds(first) == [OrderEventType.NEW] and again == [] and later == []
    assert kinds(fills) == [OrderEventType.PARTIAL_FILL, OrderEventType.FILL]
    partial, fill = fills
    assert (partial.execution_id, partial.qty, partial.order.filled_qty) == ("angel:261208000000001:501", 4, 4)
    assert (fill.execution_id, fill.qty, fill.order.status) == ("angel:261208000000001:502", 6, OrderStatus.FILLED)
    assert fill.order.filled_avg_price == Decimal("99.7")
    assert tracker.reported("261208000000001") == first + fills


def test_a_partly_filled_cancel_keeps_what_filled_and_says_why() -> None:
    tracker = OrderTracker()
    tracker.update([order("open")], [trade("601", "3", "100", "10:00:01")], NOW)

    events = tracker.update([order("cancelled", "3")], [trade("601", "3", "100", "10:00:01")], NOW, {
        "261208000000001": "Cancelled by user"})  # fmt: skip

    assert kinds(events) == [OrderEventType.CANCELED]
    assert (events[0].order.filled_qty, events[0].reason) == (Decimal(3), "Cancelled by user")


def test_a_trade_seen_before_its_order_shows_complete_is_still_reported_once() -> None:
    tracker = OrderTracker()

    early = tracker.update([order("open", "10")], [trade("701", "10", "100", "10:00:01")], NOW)
    settled = tracker.update([order("complete", "10")], [trade("701", "10", "100", "10:00:01")], NOW)

    assert kinds(early) == [OrderEventType.NEW, OrderEventType.FILL] and settled == []


class FlakyBooks:
    """Reads that fail for a while, then list one fill."""

    def __init__(self, failure: Exception, failures: int) -> None:
        self.failure, self.failures, self.calls = failure, failures, 0

    def __call__(self) -> Books:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.failure
        return Books([order("complete", "10")], [trade("801", "10", "100", "10:00:01")], {})


def test_the_poller_reports_a_fill_made_while_reads_failed_once_they_work_again() -> None:
    got: list[OrderEvent] = []
    done = threading.Event()
    books = FlakyBooks(BrokerUnavailable("Angel One did not answer"), failures=3)

    def emit(event: OrderEvent) -> None:
        got.append(event)
        if event.type is OrderEventType.FILL:
            done.set()

    poller = OrderBookPoller(books, emit, interval_s=0.01, idle_interval_s=0.01)
    poller.start()
    try:
        assert done.wait(5)
        time.sleep(0.05)  # more polls: nothing new to report
    finally:
        poller.stop()

    assert [e.type for e in got] == [OrderEventType.NEW, OrderEventType.FILL]
    assert books.calls > 4 and poller.last_error is None


def test_after_the_session_ends_the_poller_looks_rarely_and_says_why() -> None:
    books = FlakyBooks(SessionExpired("log in to Angel One again"), failures=1000)
    poller = OrderBookPoller(books, lambda e: None, interval_s=0.01, idle_interval_s=10)
    poller.start()
    deadline = time.monotonic() + 2
    while books.calls < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    poller.stop()

    assert books.calls == 1
    assert poller.last_error and "log in" in poller.last_error
