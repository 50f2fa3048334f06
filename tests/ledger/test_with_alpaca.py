"""The virtualization proxy end to end: Ledger + AlpacaBroker (the real alpaca-py client) + the stand-in.

The stand-in plays Alpaca's paper account on loopback; the stream runs on an asyncio loop in its own
thread, as in the app. A Recorder handler registered after the ledger's tells the test when the
ledger has handled an event, so every wait is on an event count with a deadline, never a sleep.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.adapters.alpaca.broker import AlpacaBroker
from core.db.models import Fill
from core.domain.orders import OrderSide, OrderType, TimeInForce
from core.domain.tickets import OrderTicket
from core.ledger.service import Ledger
from tests.alpaca_standin import AlpacaStandIn
from tests.event_recorder import DEADLINE_S, Recorder
from tests.ledger.helpers_alpaca import event_loop_thread, make_broker, streaming
from tests.ledger.helpers_books import (
    assert_books_balance,
    booked_qty,
    fill_count,
    fills_of,
    legs_of,
    order_row,
    position,
    user_row,
)

D = Decimal
BUY = OrderSide.BUY
START = D("100000")


def buy(qty: str, symbol: str = "AAPL", **kw) -> OrderTicket:
    return OrderTicket(symbol, BUY, D(qty), **kw)


@pytest.fixture
def loop():
    with event_loop_thread() as running:
        yield running


@pytest.fixture
def broker(db, alpaca: AlpacaStandIn) -> AlpacaBroker:  # after db: its stream stops before the tables are emptied
    return make_broker(alpaca)


@pytest.fixture
def book(db, broker, prices) -> Ledger:
    return Ledger(db.session_factory, broker, prices)


@pytest.fixture
def rec(book: Ledger, broker: AlpacaBroker, alpaca: AlpacaStandIn, loop) -> Iterator[Recorder]:
    recorder = Recorder()
    broker.add_event_handler(recorder)  # after the ledger's handler
    with streaming(broker, alpaca, loop):
        yield recorder


def test_new_partial_fill_and_fill_arrive_by_stream_and_are_booked_once(db, book, alpaca, rec, make_user):
    alice = make_user("alice")
    placed = book.place_order(alice, buy("10"))
    assert placed.status == "accepted" and placed.reserved == D("1030")
    rec.wait_for(1)
    assert order_row(db, placed.id).broker_order_id == placed.broker_order_id

    partial = alpaca.fill(placed.broker_order_id, qty="4", price="100.10")
    rec.wait_for(2)
    order = order_row(db, placed.id)
    assert (order.status, order.filled_quantity, order.reserved_amount) == (
        "partially_filled", D("4"), D("1030") - D("400.40"),
    )  # fmt: skip
    assert_books_balance(db, alice)

    last = alpaca.fill(placed.broker_order_id, qty="6", price="100.20")
    events = rec.wait_for(3)
    assert rec.kinds() == ["new", "partial_fill", "fill"]
    order = order_row(db, placed.id)
    assert (order.status, order.filled_quantity, order.filled_avg_price, order.reserved_amount) == (
        "filled", D("10"), D("100.16"), D("0"),
    )  # fmt: skip
    fills = fills_of(db, placed.id)
    assert {f.execution_id for f in fills} == {partial["execution_id"], last["execution_id"]}
    assert sorted((f.quantity, f.price) for f in fills) == [(D("4"), D("100.10")), (D("6"), D("100.20"))]
    pos = position(db, alice)
    assert (pos.quantity, pos.cost_basis, pos.average_entry_price) == (D("10"), D("1001.60"), D("100.16"))
    u = user_row(db, alice)
    assert (u.virtual_balance, u.reserved_balance) == (START - D("1001.60"), D("0"))
    assert [book.apply_event(e) for e in events] == [False, False, False]  # a replay changes nothing
    assert fill_count(db, alice) == 2
    assert_books_balance(db, alice)


def test_reconnection_and_settlement_of_a_fill_lost_while_disconnected(db, book, alpaca, rec, make_user):
    bob = make_user("bob")
    first = book.place_order(bob, buy("10"))
    second = book.place_order(bob, buy("5", type=OrderType.LIMIT, limit_price=D("99")))
    rec.wait_for(2)

    alpaca.drop_connections()
    assert alpaca.wait_for_listeners(1, DEADLINE_S, accepted_at_least=2), "the stream did not reconnect"
    alpaca.fill(first.broker_order_id, price="99.50")  # after reconnection: arrives by stream
    rec.wait_for(3)
    assert order_row(db, first.id).status == "filled"
    assert fill_count(db, bob) == 1

    alpaca.drop_connections()
    accepted = alpaca.connections_accepted
    lost = alpaca.fill(second.broker_order_id, price="98.50")  # while disconnected: lost, as with Alpaca
    assert alpaca.connections_accepted == accepted, "reconnected too fast: the fill was not lost"
    assert alpaca.wait_for_listeners(1, DEADLINE_S, accepted_at_least=accepted + 1), "no second reconnection"
    assert order_row(db, second.id).status == "accepted"  # the stream never told us

    assert book.settle_user(bob) > 0
    order = order_row(db, second.id)
    assert (order.status, order.filled_quantity, order.filled_avg_price, order.reserved_amount) == (
        "filled", D("5"), D("98.50"), D("0"),
    )  # fmt: skip
    assert book.settle_user(bob) == 0  # settling twice changes nothing

    seen = len(rec.events)
    alpaca._send(lost)  # the lost update turns up late after all (a duplicate of what settlement booked)
    rec.wait_for(seen + 1)
    assert booked_qty(db, second.id) == D("5") and len(fills_of(db, second.id)) == 1
    pos = position(db, bob)
    assert (pos.quantity, pos.cost_basis) == (D("15"), D("995.00") + D("492.50"))
    u = user_row(db, bob)
    assert (u.virtual_balance, u.reserved_balance) == (START - D("995.00") - D("492.50"), D("0"))
    assert_books_balance(db, bob)


def test_rejection_after_acceptance_releases_the_reservation(db, book, alpaca, rec, make_user):
    cyd = make_user("cyd")
    placed = book.place_order(cyd, buy("5"))
    rec.wait_for(1)
    assert user_row(db, cyd).reserved_balance == D("515")
    alpaca.reject(placed.broker_order_id, "insufficient buying power")
    rec.wait_for(2)
    order = order_row(db, placed.id)
    assert (order.status, order.reserved_amount) == ("rejected", D("0"))
    assert order.error_message  # Alpaca's event carries no reason: the ledger says so in general terms
    u = user_row(db, cyd)
    assert (u.virtual_balance, u.reserved_balance) == (START, D("0"))
    assert position(db, cyd) is None
    assert_books_balance(db, cyd)


def test_duplicated_stream_events_are_booked_once(db, book, alpaca, rec, make_user):
    dia = make_user("dia")
    alpaca.duplicate_events = True
    placed = book.place_order(dia, buy("10"))
    alpaca.fill(placed.broker_order_id, qty="3", price="100")
    alpaca.fill(placed.broker_order_id, qty="7", price="101")
    rec.wait_for(6)
    assert rec.kinds() == ["new", "new", "partial_fill", "partial_fill", "fill", "fill"]
    assert fill_count(db, dia) == 2
    order = order_row(db, placed.id)
    assert (order.status, order.filled_quantity) == ("filled", D("10"))
    assert position(db, dia).cost_basis == D("300") + D("707")
    assert user_row(db, dia).virtual_balance == START - D("1007")
    assert_books_balance(db, dia)


def test_out_of_order_stream_events_keep_the_books_exact(db, book, alpaca, rec, make_user):
    eddy = make_user("eddy")
    alpaca.hold_events()
    placed = book.place_order(eddy, buy("10"))
    alpaca.fill(placed.broker_order_id, qty="4", price="100")
    alpaca.fill(placed.broker_order_id, qty="6", price="101")
    alpaca.release_events(reverse=True)  # fill (cumulative 10), then partial_fill (4), then new
    rec.wait_for(3)
    assert rec.kinds() == ["fill", "partial_fill", "new"]
    order = order_row(db, placed.id)
    assert (order.status, order.filled_quantity, order.filled_avg_price, order.reserved_amount) == (
        "filled", D("10"), D("100.6"), D("0"),
    )  # fmt: skip
    assert booked_qty(db, placed.id) == D("10")
    pos = position(db, eddy)
    assert (pos.quantity, pos.cost_basis) == (D("10"), D("1006"))
    assert user_row(db, eddy).virtual_balance == START - D("1006")
    assert_books_balance(db, eddy)


def test_bracket_through_the_standin_take_profit_cancels_stop_loss(db, book, broker, alpaca, rec, make_user):
    flo = make_user("flo")
    placed = book.place_order(
        flo, buy("5", take_profit_price=D("110"), stop_loss_price=D("95"), time_in_force=TimeInForce.GTC)
    )
    legs = legs_of(db, placed.id)
    assert {r: o.status for r, o in legs.items()} == {"take_profit": "accepted", "stop_loss": "accepted"}
    tp_id = legs["take_profit"].broker_order_id
    alpaca.fill(placed.broker_order_id, price="100")
    rec.wait_for(4)  # new, fill, new (tp), new (sl)
    assert position(db, flo).quantity == 5
    alpaca.fill(tp_id, price="110")
    rec.wait_for(6)  # fill (tp), canceled (sl)
    assert rec.kinds()[-2:] == ["fill", "canceled"]

    legs = legs_of(db, placed.id)
    assert (legs["take_profit"].status, legs["take_profit"].filled_quantity) == ("filled", D("5"))
    assert (legs["stop_loss"].status, legs["stop_loss"].filled_quantity) == ("canceled", D("0"))
    assert order_row(db, placed.id).status == "filled"
    pos = position(db, flo)
    assert (pos.quantity, pos.realized_pnl, pos.status) == (D("0"), D("50"), "CLOSED")
    u = user_row(db, flo)
    assert (u.virtual_balance, u.reserved_balance, u.realized_pnl) == (START + D("50"), D("0"), D("50"))
    with db.session_factory() as s:
        assert s.scalar(select(Fill.realized_pnl).where(Fill.order_id == legs["take_profit"].id)) == D("50")
    assert broker.get_positions() == []  # the real account agrees: flat
    assert_books_balance(db, flo)


def test_a_partial_fill_lost_while_disconnected_is_booked_when_the_order_is_then_canceled(
    db, book, alpaca, rec, make_user
):
    """The canceled update (and the broker's order) say 4 were filled: those 4 must reach the books."""
    gus = make_user("gus")
    placed = book.place_order(gus, buy("10", type=OrderType.LIMIT, limit_price=D("99")))
    rec.wait_for(1)
    alpaca.drop_connections()
    accepted = alpaca.connections_accepted
    alpaca.fill(placed.broker_order_id, qty="4", price="98.50")  # lost
    assert alpaca.connections_accepted == accepted, "reconnected too fast: the fill was not lost"
    assert alpaca.wait_for_listeners(1, DEADLINE_S, accepted_at_least=accepted + 1)
    alpaca.cancel(placed.broker_order_id)  # canceled, carrying filled_qty 4
    rec.wait_for(2)
    book.settle_user(gus)  # and a restart's settlement on top

    order = order_row(db, placed.id)
    assert (order.status, order.reserved_amount) == ("canceled", D("0"))
    assert order.filled_quantity == D("4")
    pos = position(db, gus)
    assert pos is not None and (pos.quantity, pos.cost_basis) == (D("4"), D("394"))
    assert user_row(db, gus).virtual_balance == START - D("394")
    assert_books_balance(db, gus)


def test_partial_fill_then_cancel_and_an_expired_day_order_release_their_reservations(db, book, alpaca, rec, make_user):
    hal = make_user("hal")
    partial = book.place_order(hal, buy("10", type=OrderType.LIMIT, limit_price=D("99")))
    day = book.place_order(hal, buy("3", type=OrderType.LIMIT, limit_price=D("95")))
    rec.wait_for(2)
    alpaca.fill(partial.broker_order_id, qty="4", price="98.75")
    rec.wait_for(3)
    book.cancel_order(hal, partial.id)  # DELETE at the broker; the canceled update releases the rest
    alpaca.expire(day.broker_order_id)
    rec.wait_for(5)
    assert rec.kinds()[2:] == ["partial_fill", "canceled", "expired"]

    canceled, expired = order_row(db, partial.id), order_row(db, day.id)
    assert (canceled.status, canceled.filled_quantity, canceled.reserved_amount) == ("canceled", D("4"), D("0"))
    assert (expired.status, expired.filled_quantity, expired.reserved_amount) == ("expired", D("0"), D("0"))
    u = user_row(db, hal)
    assert (u.virtual_balance, u.reserved_balance) == (START - D("395"), D("0"))
    assert position(db, hal).quantity == D("4")
    assert_books_balance(db, hal)
