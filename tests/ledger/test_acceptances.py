"""Acceptances are written in batches a few milliseconds late (core.ledger.acceptances): nothing a later
booking wrote is undone, cancelling never mistakes a waiting acceptance for an unsent order, and a batch
lost with its process is recovered from the broker."""

from __future__ import annotations

import time
from decimal import Decimal

from sqlalchemy import select

from core.db.models import Order
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.ledger.service import Ledger
from tests.ledger.test_ledger import assert_books_balance, order_row, user_row

D = Decimal
LATER = 3600.0  # a window no test waits for: only an explicit flush writes


def buy(qty: str) -> OrderTicket:
    return OrderTicket("AAPL", OrderSide.BUY, D(qty))


def held_back(db, broker, prices) -> Ledger:
    return Ledger(db.session_factory, broker, prices, acceptance_window_s=LATER)


def test_acceptances_wait_for_their_batch_then_are_written_together(db, broker, prices, make_user):
    ledger = held_back(db, broker, prices)
    ann = make_user("anna")
    placed = [ledger.place_order(ann, buy(qty)) for qty in ("1", "2", "3", "4", "5")]
    assert all(p.status == "accepted" and p.broker_order_id for p in placed)  # what the caller is told at once
    assert {order_row(db, p.id).status for p in placed} == {"pending"}

    ledger.flush_acceptances()
    rows = [order_row(db, p.id) for p in placed]
    assert [(r.status, r.broker_order_id) for r in rows] == [("accepted", p.broker_order_id) for p in placed]
    assert all(r.submitted_at is not None for r in rows)


def test_a_fill_booked_before_the_batch_is_not_undone_by_it(db, broker, prices, make_user):
    ledger = held_back(db, broker, prices)
    bo = make_user("boris")
    placed = ledger.place_order(bo, buy("4"))
    broker.fill(placed.client_order_id, "4", "100")  # the fill's booking records the broker id itself
    ledger.flush_acceptances()
    order = order_row(db, placed.id)
    assert (order.status, order.broker_order_id, order.filled_quantity) == ("filled", placed.broker_order_id, D("4"))
    assert user_row(db, bo).reserved_balance == D("0")
    assert_books_balance(db, bo)


def test_the_default_window_writes_within_moments_without_a_flush(db, ledger, make_user):
    cy = make_user("cyril")
    placed = ledger.place_order(cy, buy("1"))
    deadline = time.monotonic() + 5
    while order_row(db, placed.id).status != "accepted" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert order_row(db, placed.id).broker_order_id == placed.broker_order_id


def test_cancelling_an_order_whose_acceptance_is_waiting_cancels_it_at_the_broker(db, broker, prices, make_user):
    ledger = held_back(db, broker, prices)
    di = make_user("dina")
    placed = ledger.place_order(di, buy("2"))
    ledger.cancel_order(di, placed.id)
    order = order_row(db, placed.id)
    assert (order.status, order.reserved_amount) == ("canceled", D("0"))  # the broker's canceled event booked
    assert broker.get_order(placed.broker_order_id).status.value == "canceled"
    assert_books_balance(db, di)


def test_cancel_asks_the_broker_when_no_acceptance_was_ever_written(db, broker, prices, make_user):
    """The placing process died inside the window: the order is pending without a broker id, yet live at the
    broker. Another client cancelling it must cancel it there, not close it as never sent."""
    gone = held_back(db, broker, prices)
    ed = make_user("edda")
    placed = gone.place_order(ed, buy("3"))  # its acceptance batch dies with `gone`
    with db.session_factory() as s:
        assert s.scalar(select(Order.broker_order_id).where(Order.id == placed.id)) is None

    other = held_back(db, broker, prices)
    other.cancel_order(ed, placed.id)
    assert broker.get_order(placed.broker_order_id).status.value == "canceled"
    order = order_row(db, placed.id)
    assert (order.status, order.broker_order_id, order.reserved_amount) == (
        "canceled", placed.broker_order_id, D("0"),
    )  # fmt: skip
    assert_books_balance(db, ed)


def test_settlement_recovers_an_acceptance_lost_with_its_process(db, broker, prices, make_user):
    gone = held_back(db, broker, prices)
    fay = make_user("faye")
    placed = gone.place_order(fay, buy("2"))
    broker.fill(placed.client_order_id, "2", "101", deliver=False)  # filled while nobody listened
    restarted = held_back(db, broker, prices)
    assert restarted.settle_user(fay) > 0
    order = order_row(db, placed.id)
    assert (order.status, order.broker_order_id, order.filled_quantity) == ("filled", placed.broker_order_id, D("2"))
    assert_books_balance(db, fay)
