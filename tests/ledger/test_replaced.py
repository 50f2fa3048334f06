"""An order the broker replaces (Alpaca's PATCH) carries on under the new broker order: the row keeps our client
order id, takes the new broker id, size and price, releases nothing, and the new order's fills are booked on it.
The real ledger and alpaca-py against the stand-in's ``replace``, by stream and by settlement."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from core.adapters.alpaca.broker import AlpacaBroker
from core.adapters.alpaca.convert import to_order_event
from core.domain.orders import OrderEventType, OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.ledger.service import Ledger
from tests.alpaca_standin import AlpacaStandIn
from tests.event_recorder import Recorder
from tests.ledger.helpers_alpaca import event_loop_thread, make_broker, streaming
from tests.ledger.helpers_books import assert_books_balance, order_row, position, user_row

D = Decimal


def limit_buy(qty: str, price: str) -> OrderTicket:
    return OrderTicket("AAPL", OrderSide.BUY, D(qty), type=OrderType.LIMIT, limit_price=D(price))


@pytest.fixture
def loop():
    with event_loop_thread() as running:
        yield running


@pytest.fixture
def broker(db, alpaca: AlpacaStandIn) -> AlpacaBroker:
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


def test_a_replaced_order_follows_its_replacement_and_the_replacements_fill_is_booked_on_it(
    db, book, alpaca: AlpacaStandIn, rec: Recorder, make_user
) -> None:
    alice = make_user("alice")
    placed = book.place_order(alice, limit_buy("10", "99"))
    rec.wait_for(1)
    old_id = placed.broker_order_id
    assert old_id is not None

    new_json = alpaca.replace(old_id, qty="8", limit_price="98.5")
    replaced, _new = rec.wait_for(3)[1:]
    assert replaced.type is OrderEventType.REPLACED and replaced.order.id == old_id
    assert replaced.replaced_by is not None and replaced.replaced_by.id == new_json["id"]
    row = order_row(db, placed.id)
    assert (row.client_order_id, row.broker_order_id, row.quantity, row.limit_price, row.status) == (
        placed.client_order_id, new_json["id"], D("8"), D("98.5"), "accepted",
    )  # fmt: skip
    assert row.reserved_amount == placed.reserved  # nothing released or canceled
    assert user_row(db, alice).reserved_balance == placed.reserved

    alpaca.fill(new_json["id"], price="98.5")  # the replacement's fill names Alpaca's own client order id
    rec.wait_for(4)
    row = order_row(db, placed.id)
    assert (row.status, row.filled_quantity, row.reserved_amount) == ("filled", D("8"), D("0"))
    held = position(db, alice)
    assert held is not None and held.quantity == D("8")
    assert user_row(db, alice).reserved_balance == D("0")
    assert_books_balance(db, alice)


def test_a_replacement_the_stream_missed_is_followed_by_settlement(
    db, book, broker: AlpacaBroker, alpaca: AlpacaStandIn, make_user
) -> None:
    alice = make_user("alice")
    placed = book.place_order(alice, limit_buy("10", "99"))  # no stream: nobody hears the replacement
    book.flush_acceptances()
    new_json = alpaca.replace(placed.broker_order_id, limit_price="97")
    alpaca.fill(new_json["id"], qty="4", price="97")

    answer = broker.get_order_by_client_id(placed.client_order_id)  # the order that now carries our id
    assert (answer.id, answer.client_order_id, answer.filled_qty) == (new_json["id"], placed.client_order_id, D("4"))

    # The first pass books the partial fill by our client order id; the order's first report (the submit answer
    # was the other) is taken for its acceptance, so the replacement is followed by the second pass, as the club's
    # leader makes one after election and after each reconnection.
    assert book.settle_user(alice) >= 1
    assert book.settle_user(alice) == 1
    row = order_row(db, placed.id)
    assert (row.broker_order_id, row.limit_price, row.status, row.filled_quantity) == (
        new_json["id"], D("97"), "partially_filled", D("4"),
    )  # fmt: skip
    assert book.settle_user(alice) == 0  # settled: a second pass changes nothing
    assert_books_balance(db, alice)


def test_a_replaced_event_whose_new_order_cannot_be_read_still_moves_to_the_new_id() -> None:
    old = {
        "id": "61e69015-8549-4bfd-b9c3-01e75843f47d", "client_order_id": "sf-1", "symbol": "AAPL", "side": "buy",
        "qty": "10", "type": "limit", "limit_price": "99", "time_in_force": "day", "status": "replaced",
        "filled_qty": "0", "created_at": "2026-03-02T15:00:00Z", "updated_at": "2026-03-02T15:01:00Z",
        "replaced_by": "b0b6dd9d-8b9b-48a9-ba46-b9d54bd7e2f7",
    }  # fmt: skip

    def unreachable(order_id: str) -> dict:
        raise OSError("connection refused")

    event = to_order_event({"event": "replaced", "order": old, "timestamp": "2026-03-02T15:01:00Z"},
                           fetch_order=unreachable)  # fmt: skip
    assert event is not None and event.type is OrderEventType.REPLACED and event.replaced_by is not None
    assert (event.order.id, event.replaced_by.id, event.replaced_by.limit_price) == (
        old["id"], old["replaced_by"], D("99"),
    )  # fmt: skip
