"""Every broker's order lifecycle: acceptance, partial fills, cancels, rejections and modifications."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.broker.errors import BrokerRejected, OrderNotFound
from core.broker.protocol import ModifiableBroker
from core.domain.orders import BrokerOrder, OrderEventType, OrderSide, OrderStatus, OrderType
from tests.broker_conformance.conftest import Place, resting_buy
from tests.broker_conformance.events import EventLog
from tests.broker_conformance.harness import BrokerHarness

WORKING = (OrderStatus.PENDING_NEW, OrderStatus.NEW)
FILL, PARTIAL_FILL = OrderEventType.FILL, OrderEventType.PARTIAL_FILL
# Brokers report an average price rounded (Kite and Angel to the paisa, SimBroker to 6 places): within half a cent.
AVERAGE_ROUNDING = Decimal("0.005")


def unknown_order_id(harness: BrokerHarness) -> str:
    return getattr(harness, "unknown_order_id", "8d3f1c2e-6a4b-4f0e-9b7d-2c1a5e8f9d40")


def open_ids(harness: BrokerHarness) -> set[str]:
    return {o.id for o in harness.broker.list_open_orders()}


def fill_completely(harness: BrokerHarness, events: EventLog, order: BrokerOrder) -> None:
    harness.execute(order.id, order.qty, harness.fill_price)
    events.wait_for(order.id, FILL)


# ----- lifecycle ------------------------------------------------------------------------------------------------


def test_a_resting_limit_order_is_accepted_under_our_client_order_id(harness: BrokerHarness, place: Place) -> None:
    request = resting_buy(harness)

    order = place(request)

    assert order.id and order.id != request.client_order_id  # the broker's own id
    assert order.client_order_id == request.client_order_id
    assert order.status in WORKING
    assert (order.symbol, order.side, order.type) == (harness.symbol, OrderSide.BUY, OrderType.LIMIT)
    assert order.qty == harness.quantity and isinstance(order.qty, Decimal)
    assert order.limit_price == harness.resting_limit and isinstance(order.limit_price, Decimal)
    assert order.filled_qty == 0


def test_the_order_reads_back_the_same_by_id_by_client_id_and_among_open_orders(
    harness: BrokerHarness, place: Place
) -> None:
    order = place()

    by_id = harness.broker.get_order(order.id)
    by_client_id = harness.broker.get_order_by_client_id(order.client_order_id)
    listed = [o for o in harness.broker.list_open_orders() if o.id == order.id]

    assert len(listed) == 1, "the open order is listed once"
    for view in (by_id, by_client_id, listed[0]):
        assert (view.id, view.client_order_id, view.symbol, view.side) == (
            order.id, order.client_order_id, harness.symbol, OrderSide.BUY,
        )  # fmt: skip
        assert (view.qty, view.limit_price, view.filled_qty) == (harness.quantity, harness.resting_limit, 0)
        assert view.status in WORKING


def test_a_second_order_under_the_same_client_order_id_is_refused(harness: BrokerHarness, place: Place) -> None:
    """The ledger retries an unanswered submit under the same client order id, so a broker that took both would
    place the trader's order twice."""
    first = place()

    with pytest.raises(BrokerRejected):
        place(resting_buy(harness, client_order_id=first.client_order_id))

    assert [o.id for o in harness.broker.list_open_orders() if o.client_order_id == first.client_order_id] == [first.id]


def test_an_unknown_client_order_id_is_not_found(harness: BrokerHarness) -> None:
    with pytest.raises(OrderNotFound):
        harness.broker.get_order_by_client_id(resting_buy(harness).client_order_id)


# ----- partial fills --------------------------------------------------------------------------------------------


def test_an_order_filled_in_two_parts_reports_each_execution_and_the_running_totals(
    harness: BrokerHarness, place: Place, events: EventLog
) -> None:
    order = place()
    rest = harness.quantity - harness.lot

    harness.execute(order.id, harness.lot, harness.fill_price)
    partial = events.wait_for(order.id, PARTIAL_FILL)
    harness.execute(order.id, rest, harness.fill_price)
    fill = events.wait_for(order.id, FILL)

    assert (partial.qty, partial.price) == (harness.lot, harness.fill_price)
    assert (fill.qty, fill.price) == (rest, harness.fill_price)
    for event in (partial, fill):
        assert isinstance(event.qty, Decimal) and isinstance(event.price, Decimal)
        assert event.order.client_order_id == order.client_order_id
        assert event.timestamp.tzinfo is not None
    assert partial.execution_id and fill.execution_id and partial.execution_id != fill.execution_id
    kinds = [e.type for e in events.of(order.id, PARTIAL_FILL, FILL)]
    assert kinds.index(PARTIAL_FILL) < kinds.index(FILL), "the executions arrive in the order they were made"
    assert (partial.order.status, partial.order.filled_qty) == (OrderStatus.PARTIALLY_FILLED, harness.lot)
    assert (fill.order.status, fill.order.filled_qty) == (OrderStatus.FILLED, harness.quantity)
    assert fill.order.filled_avg_price == harness.fill_price and isinstance(fill.order.filled_avg_price, Decimal)


def test_a_filled_order_reads_back_filled_and_is_no_longer_open(
    harness: BrokerHarness, place: Place, events: EventLog
) -> None:
    order = place()
    harness.execute(order.id, harness.lot, harness.fill_price)
    events.wait_for(order.id, PARTIAL_FILL)
    assert order.id in open_ids(harness), "a partially filled order is still open"

    harness.execute(order.id, harness.quantity - harness.lot, harness.fill_price)
    events.wait_for(order.id, FILL)

    final = harness.broker.get_order(order.id)
    assert (final.status, final.filled_qty, final.filled_avg_price) == (
        OrderStatus.FILLED, harness.quantity, harness.fill_price,
    )  # fmt: skip
    assert isinstance(final.filled_qty, Decimal) and isinstance(final.filled_avg_price, Decimal)
    assert order.id not in open_ids(harness)


def test_the_average_price_weighs_each_execution_by_its_quantity(
    harness: BrokerHarness, place: Place, events: EventLog
) -> None:
    order = place()
    rest = harness.quantity - harness.lot

    harness.execute(order.id, harness.lot, harness.resting_limit)
    events.wait_for(order.id, PARTIAL_FILL)
    harness.execute(order.id, rest, harness.fill_price)
    fill = events.wait_for(order.id, FILL)

    exact = (harness.lot * harness.resting_limit + rest * harness.fill_price) / harness.quantity
    for average in (fill.order.filled_avg_price, harness.broker.get_order(order.id).filled_avg_price):
        assert average is not None
        assert abs(average - exact) <= AVERAGE_ROUNDING, f"average {average}, executions average {exact}"


# ----- cancels --------------------------------------------------------------------------------------------------


def test_an_open_order_is_canceled_on_request(harness: BrokerHarness, place: Place, events: EventLog) -> None:
    order = place()

    harness.broker.cancel_order(order.id)

    canceled = events.wait_for(order.id, OrderEventType.CANCELED)
    assert canceled.order.status is OrderStatus.CANCELED
    assert harness.broker.get_order(order.id).status is OrderStatus.CANCELED
    assert order.id not in open_ids(harness)


def test_canceling_a_partly_filled_order_keeps_what_filled(
    harness: BrokerHarness, place: Place, events: EventLog
) -> None:
    order = place()
    harness.execute(order.id, harness.lot, harness.fill_price)
    events.wait_for(order.id, PARTIAL_FILL)

    harness.broker.cancel_order(order.id)

    canceled = events.wait_for(order.id, OrderEventType.CANCELED)
    for view in (canceled.order, harness.broker.get_order(order.id)):
        assert (view.status, view.filled_qty, view.filled_avg_price) == (
            OrderStatus.CANCELED, harness.lot, harness.fill_price,
        )  # fmt: skip
    assert order.id not in open_ids(harness)


def test_a_filled_order_cannot_be_canceled(harness: BrokerHarness, place: Place, events: EventLog) -> None:
    order = place()
    fill_completely(harness, events, order)

    with pytest.raises(BrokerRejected):
        harness.broker.cancel_order(order.id)

    assert harness.broker.get_order(order.id).status is OrderStatus.FILLED


def test_canceling_an_unknown_order_is_order_not_found(harness: BrokerHarness) -> None:
    with pytest.raises(OrderNotFound):
        harness.broker.cancel_order(unknown_order_id(harness))


def test_reading_an_unknown_order_is_order_not_found(harness: BrokerHarness) -> None:
    with pytest.raises(OrderNotFound):
        harness.broker.get_order(unknown_order_id(harness))


# ----- rejections -----------------------------------------------------------------------------------------------


def test_every_order_the_broker_refuses_raises_its_own_code_and_leaves_nothing_open(harness: BrokerHarness) -> None:
    cases = harness.reject_cases()
    assert len(cases) >= 2, "a harness names at least two orders its broker refuses"

    for case in cases:
        with pytest.raises(BrokerRejected) as refused:
            harness.broker.submit_order(case.request)

        assert case.code in str(refused.value), f"{case.why}: {refused.value}"
        still_open = [o for o in harness.broker.list_open_orders() if o.client_order_id == case.request.client_order_id]
        assert not still_open, f"{case.why}: the refused order is open"


# ----- modify (ModifiableBroker only) ---------------------------------------------------------------------------


def modifiable(harness: BrokerHarness) -> ModifiableBroker:
    if not isinstance(harness.broker, ModifiableBroker):
        pytest.skip(f"{harness.name} does not change orders in place (not a ModifiableBroker)")
    return harness.broker


def test_a_resting_order_is_modified_in_place(harness: BrokerHarness, place: Place) -> None:
    broker = modifiable(harness)
    order = place()
    bigger = harness.quantity + harness.lot

    modified = broker.modify_order(order.id, qty=bigger, limit_price=harness.fill_price)

    assert modified.id == order.id and modified.client_order_id == order.client_order_id
    assert (modified.qty, modified.limit_price) == (bigger, harness.fill_price)
    read_back = broker.get_order(order.id)
    assert (read_back.id, read_back.qty, read_back.limit_price) == (order.id, bigger, harness.fill_price)
    assert read_back.status in WORKING
    assert order.id in open_ids(harness)


def test_a_filled_order_cannot_be_modified(harness: BrokerHarness, place: Place, events: EventLog) -> None:
    broker = modifiable(harness)
    order = place()
    fill_completely(harness, events, order)

    with pytest.raises(BrokerRejected):
        broker.modify_order(order.id, limit_price=harness.fill_price)

    assert broker.get_order(order.id).status is OrderStatus.FILLED
