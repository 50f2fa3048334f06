"""Every broker's update delivery: fills survive a cut update channel, and duplicates are booked once.

Brokers deliver an update more than once (a resend, a reconnection's replay), and a fill made while the channel
was down must still arrive, under the execution id the venue gave it: the fill is stored under that id (the
journal and reconciliation match executions by it), and a lost one is booked only when a later update or a
settlement over REST brings the order's cumulative quantity, without its id. Whatever arrives, and however often,
the ledger must book each execution exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from core.accounts import AccountService
from core.db.database import Database
from core.domain.orders import BrokerOrder, OrderEventType, OrderStatus
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from tests.broker_conformance.conftest import Place, resting_buy
from tests.broker_conformance.events import EventLog
from tests.broker_conformance.harness import BrokerHarness
from tests.broker_conformance.ledger_booking import LedgerBooking

FILL, PARTIAL_FILL = OrderEventType.FILL, OrderEventType.PARTIAL_FILL
PASSWORD = "Tr4ding-Pass-2026"


@pytest.fixture
def booking(harness: BrokerHarness, db: Database, accounts: AccountService) -> Iterator[LedgerBooking]:
    """The real ledger booking every event the broker delivers during the test, for one trader."""
    user = accounts.sign_up("conformance@example.com", "conformance", PASSWORD)
    ledger = Ledger(db.session_factory, harness.broker, LastPrices({}), subscribe=False)
    book = LedgerBooking(db, ledger, user.id)
    harness.broker.add_event_handler(book)
    try:
        yield book
    finally:
        harness.broker.remove_event_handler(book)


def place_booked(harness: BrokerHarness, place: Place, booking: LedgerBooking) -> tuple[uuid.UUID, BrokerOrder]:
    request = resting_buy(harness)
    row_id = booking.record(request, harness.broker.name)
    order = place(request)
    booking.accepted(order)
    return row_id, order


def test_a_fill_made_while_updates_are_cut_arrives_after_the_reconnect(
    harness: BrokerHarness, place: Place, events: EventLog
) -> None:
    order = place()

    harness.cut_updates()
    made = harness.execute(order.id, harness.quantity, harness.fill_price)

    fill = events.wait_for(order.id, FILL)
    assert fill.execution_id, "the fill carries the venue's execution id"
    if made is not None:
        assert fill.execution_id == made
    assert (fill.qty, fill.price) == (harness.quantity, harness.fill_price)
    assert (fill.order.status, fill.order.filled_qty) == (OrderStatus.FILLED, harness.quantity)
    assert harness.broker.get_order(order.id).status is OrderStatus.FILLED


def test_a_redelivered_fill_is_booked_once(harness: BrokerHarness, place: Place, booking: LedgerBooking) -> None:
    row_id, order = place_booked(harness, place, booking)

    first = harness.execute(order.id, harness.lot, harness.fill_price)
    partial = booking.log.wait_for(order.id, PARTIAL_FILL)
    harness.redeliver(order.id)
    again = booking.log.wait_for(order.id, PARTIAL_FILL, count=2)
    second = harness.execute(order.id, harness.quantity - harness.lot, harness.fill_price)
    fill = booking.log.wait_for(order.id, FILL)
    harness.redeliver(order.id)
    booking.log.wait_for(order.id, FILL, count=2)

    assert partial.execution_id and fill.execution_id
    assert again.execution_id == partial.execution_id, "a redelivery is the same execution"
    for made, event in ((first, partial), (second, fill)):
        assert made is None or event.execution_id == made, "the venue's execution id"
    booked = booking.booked(row_id)
    assert booked.quantity == harness.quantity
    assert sorted(booked.execution_ids) == sorted([str(partial.execution_id), str(fill.execution_id)])
    assert (booked.status, booked.filled_quantity) == ("filled", harness.quantity)


def test_a_reconnect_replay_is_booked_once(harness: BrokerHarness, place: Place, booking: LedgerBooking) -> None:
    row_id, order = place_booked(harness, place, booking)
    harness.execute(order.id, harness.lot, harness.fill_price)
    partial = booking.log.wait_for(order.id, PARTIAL_FILL)

    harness.cut_updates()
    made = harness.execute(order.id, harness.quantity - harness.lot, harness.fill_price)
    fill = booking.log.wait_for(order.id, FILL)

    assert partial.execution_id and fill.execution_id
    assert made is None or fill.execution_id == made, "the venue's execution id"
    booked = booking.booked(row_id)
    assert booked.quantity == harness.quantity
    assert sorted(booked.execution_ids) == sorted([str(partial.execution_id), str(fill.execution_id)])
    assert (booked.status, booked.filled_quantity) == ("filled", harness.quantity)
