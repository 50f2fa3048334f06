"""Alpaca JSON -> broker types, for shapes the stand-in does not produce."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from core.adapters.alpaca.convert import parse_time, to_broker_order, to_order_event
from core.domain.orders import OrderStatus, OrderType

ORDER = {
    "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
    "client_order_id": "eb9e2aaa-f71a-4f51-b5b4-52a6c565dad4",
    "created_at": "2021-03-16T18:38:01.942282Z",
    "updated_at": "2021-03-16T18:38:01.942282123Z",
    "submitted_at": "2021-03-16T18:38:01.937734Z",
    "symbol": "AAPL",
    "qty": "0.123456789",
    "filled_qty": "0",
    "filled_avg_price": None,
    "order_class": "",
    "type": "trailing_stop",
    "side": "buy",
    "time_in_force": "day",
    "status": "accepted",
    "extended_hours": False,
    "legs": None,
}


def test_nanosecond_timestamps_become_aware_utc() -> None:
    assert parse_time("2021-03-16T18:38:01.942282123Z") == datetime(2021, 3, 16, 18, 38, 1, 942282, tzinfo=UTC)
    assert parse_time("2021-03-16T14:38:01-04:00") == datetime(2021, 3, 16, 18, 38, 1, tzinfo=UTC)


def test_unusual_order_fields_fold_onto_ours() -> None:
    order = to_broker_order(ORDER)
    assert order.qty == Decimal("0.123456789")
    assert order.status is OrderStatus.PENDING_NEW
    assert order.type is OrderType.STOP
    assert order.filled_avg_price is None
    assert order.updated_at.tzinfo is not None


def test_events_without_a_ledger_type_are_skipped() -> None:
    assert to_order_event({"event": "pending_new", "order": ORDER, "timestamp": ORDER["created_at"]}) is None
    event = to_order_event({"event": "new", "order": ORDER, "timestamp": ORDER["created_at"]})
    assert event is not None and event.execution_id is None and event.qty is None
