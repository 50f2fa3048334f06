"""The order-book tracker: each reading of Kite's books turned into the events not reported yet."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.adapters.zerodha.order_updates import OrderBookTracker
from core.domain.orders import OrderEventType, OrderStatus

NOW = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)
NEW, PARTIAL, FILL = OrderEventType.NEW, OrderEventType.PARTIAL_FILL, OrderEventType.FILL


def row(status: str, filled: int, **changes: Any) -> dict[str, Any]:
    return {
        "order_id": "1001", "status": status, "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
        "quantity": 4, "order_type": "LIMIT", "validity": "DAY", "price": 1450.0, "trigger_price": 0,
        "filled_quantity": filled, "average_price": 1450.0 if filled else 0, "order_timestamp": "2026-12-08 09:20:00",
        "tag": "sfabc", "status_message": None,
    } | changes  # fmt: skip


def trade(trade_id: str, qty: int, price: float = 1450.0) -> dict[str, Any]:
    return {"trade_id": trade_id, "order_id": "1001", "quantity": qty, "average_price": price,
            "fill_timestamp": f"2026-12-08 09:2{trade_id[-1]}:00"}  # fmt: skip


def tracker() -> OrderBookTracker:
    return OrderBookTracker(lambda tag: {"sfabc": "sf-ours"}.get(tag or "", tag or ""))


def test_each_reading_reports_only_what_is_new() -> None:
    books = tracker()

    first = books.update([row("OPEN", 0)], [], NOW)
    second = books.update([row("OPEN", 0)], [], NOW)
    third = books.update([row("OPEN", 1)], [trade("1", 1)], NOW)
    fourth = books.update([row("COMPLETE", 4)], [trade("1", 1), trade("2", 3, 1451.0)], NOW)

    assert [e.type for e in first] == [NEW] and second == []
    assert [(e.type, e.qty, e.order.filled_qty) for e in third] == [(PARTIAL, Decimal(1), Decimal(1))]
    assert [(e.type, e.qty, e.order.status) for e in fourth] == [(FILL, Decimal(3), OrderStatus.FILLED)]
    assert fourth[0].order.filled_avg_price == (Decimal(1450) + 3 * Decimal(1451)) / 4
    assert fourth[0].order.client_order_id == "sf-ours"
    assert books.update([row("COMPLETE", 4)], [trade("1", 1), trade("2", 3)], NOW) == []


def test_a_completed_order_waits_for_its_trades_before_reporting_the_fill() -> None:
    books = tracker()
    books.update([row("OPEN", 0)], [], NOW)

    assert books.needs_trades([row("COMPLETE", 4)])
    assert books.update([row("COMPLETE", 4)], [], NOW) == [], "Kite's trade book lags its order book"
    assert [e.type for e in books.update([row("COMPLETE", 4)], [trade("1", 4)], NOW)] == [FILL]
    assert not books.needs_trades([row("COMPLETE", 4)])


def test_a_cancel_after_a_partial_fill_comes_after_that_fill() -> None:
    books = tracker()

    events = books.update([row("CANCELLED", 1, status_message="")], [trade("1", 1)], NOW)

    assert [e.type for e in events] == [NEW, PARTIAL, OrderEventType.CANCELED]
    assert events[-1].order.filled_qty == Decimal(1) and events[-1].reason is None


def test_a_rejected_order_is_reported_rejected_with_kites_reason_and_never_new() -> None:
    events = tracker().update([row("REJECTED", 0, status_message="Insufficient funds.")], [], NOW)

    assert [(e.type, e.reason) for e in events] == [(OrderEventType.REJECTED, "Insufficient funds.")]


def test_a_forgotten_order_is_reported_again_under_the_same_execution_ids() -> None:
    books = tracker()
    before = books.update([row("COMPLETE", 4)], [trade("1", 4)], NOW)

    books.forget("1001")
    again = books.update([row("COMPLETE", 4)], [trade("1", 4)], NOW)

    assert [e.type for e in again] == [NEW, FILL]
    assert again[-1].execution_id == before[-1].execution_id == "zerodha:1001:1"


def test_the_poller_slows_down_while_no_order_is_working() -> None:
    books = tracker()

    books.update([row("OPEN", 0)], [], NOW)
    assert books.working
    books.update([row("COMPLETE", 4)], [trade("1", 4)], NOW)
    assert not books.working
