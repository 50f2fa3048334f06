"""Breeze's JSON and errors read into StratForge's values: statuses, quantities, times, tags and refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.adapters.icici import convert
from core.broker.errors import BrokerRejected, NotPlaced, OrderNotFound, RateLimited, SessionExpired
from core.domain.orders import OrderStatus, OrderType, TimeInForce


@pytest.mark.parametrize(
    ("breeze", "ours"),
    [
        ("Requested", OrderStatus.PENDING_NEW),
        ("Queued", OrderStatus.PENDING_NEW),
        ("Ordered", OrderStatus.NEW),
        ("Partially Executed", OrderStatus.PARTIALLY_FILLED),
        ("Executed", OrderStatus.FILLED),
        ("Cancelled", OrderStatus.CANCELED),
        ("Partially Executed And Cancelled", OrderStatus.CANCELED),
        ("Rejected", OrderStatus.REJECTED),
        ("Expired", OrderStatus.EXPIRED),
        ("Partially Executed And Expired", OrderStatus.EXPIRED),
    ],
)
def test_each_breeze_status_maps_to_the_broker_neutral_one(breeze: str, ours: OrderStatus) -> None:
    assert convert.order_status(breeze) is ours


def row(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "order_id": "20261208N100000001",
        "exchange_code": "NSE",
        "stock_code": "INFTEC",
        "action": "Buy",
        "order_type": "Limit",
        "stoploss": "0.00",
        "quantity": "10",
        "price": "1400.05",
        "validity": "Day",
        "average_price": "1399.95",
        "cancelled_quantity": "0",
        "pending_quantity": "4",
        "status": "Partially Executed",
        "user_remark": "SFABC",
        "order_datetime": "08-Dec-2026 09:25",
    }
    return base | overrides


def test_the_executed_quantity_is_what_is_neither_pending_nor_cancelled() -> None:
    order = convert.broker_order(row(), "NSE:INFY", "cid", datetime.now(UTC))

    assert (order.filled_qty, order.filled_avg_price, order.status) == (
        Decimal("6"),
        Decimal("1399.95"),
        OrderStatus.PARTIALLY_FILLED,
    )
    assert order.submitted_at == datetime(2026, 12, 8, 3, 55, tzinfo=UTC)  # 09:25 in India


def test_a_partly_filled_order_cancelled_keeps_what_filled() -> None:
    order = convert.broker_order(
        row(status="Partially Executed And Cancelled", pending_quantity="0", cancelled_quantity="4"),
        "NSE:INFY",
        "cid",
        datetime.now(UTC),
    )
    assert (order.status, order.filled_qty) == (OrderStatus.CANCELED, Decimal("6"))


def test_a_stop_loss_without_a_limit_price_is_a_stop_and_with_one_a_stop_limit() -> None:
    now = datetime.now(UTC)
    stop = convert.broker_order(row(order_type="StopLoss", price="0", stoploss="1390.00"), "NSE:INFY", "c", now)
    stop_limit = convert.broker_order(row(order_type="StopLoss", stoploss="1390.00"), "NSE:INFY", "c", now)

    assert (stop.type, stop.stop_price, stop.limit_price) == (OrderType.STOP, Decimal("1390.00"), None)
    assert (stop_limit.type, stop_limit.limit_price) == (OrderType.STOP_LIMIT, Decimal("1400.05"))
    assert convert.time_in_force("IoC") is TimeInForce.IOC


def test_the_client_tag_is_short_alphanumeric_and_the_same_for_the_same_client_order_id() -> None:
    tag = convert.client_tag("2f1c9a7e-4b3d-4c2a-9e8f-1a2b3c4d5e6f")

    assert tag == convert.client_tag("2f1c9a7e-4b3d-4c2a-9e8f-1a2b3c4d5e6f")
    assert tag.isalnum() and len(tag) <= 20 and tag.startswith("SF")
    assert tag != convert.client_tag("2f1c9a7e-4b3d-4c2a-9e8f-1a2b3c4d5e70")


def test_the_execution_id_names_the_venue_the_order_and_the_trade() -> None:
    assert convert.execution_id("20261208N1", {"trade_id": "0007"}) == "icici:20261208N1:0007"
    with pytest.raises(BrokerRejected):
        convert.execution_id("20261208N1", {"trade_id": ""})


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("Session key is expired.", SessionExpired),
        ("Resource not available.", SessionExpired),
        ("Invalid User Details", SessionExpired),
        ("Rate limit exceeded. Please try after some time.", RateLimited),
        ("No Data Found", OrderNotFound),
        ("Insufficient Balance", BrokerRejected),
        ("Authentication Fail :: Invalid Checksum.", BrokerRejected),
    ],
)
def test_breeze_refusals_become_the_matching_broker_error(error: str, kind: type[Exception]) -> None:
    with pytest.raises(kind) as raised:
        convert.success({"Success": None, "Status": 500, "Error": error}, "the order")
    if kind is BrokerRejected:
        assert error in str(raised.value), "the broker's own reason travels in the message"


def test_a_rate_limit_refusal_is_not_placed_and_says_when_to_retry() -> None:
    with pytest.raises(NotPlaced) as raised:
        convert.success({"Success": None, "Status": 429, "Error": "Too many requests"}, "the order")
    assert raised.value.retry_after_s == 60.0


def test_an_empty_book_is_an_empty_list_not_an_error() -> None:
    assert convert.rows({"Success": None, "Status": 500, "Error": "No Data Found"}, "orders") == []
