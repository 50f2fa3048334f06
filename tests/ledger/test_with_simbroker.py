"""The virtualization proxy end to end: Ledger + SimBroker (the shared fill model) + PostgreSQL.

The test plays the market by feeding closed bars to the SimBroker; every broker event reaches the
ledger synchronously (SimBroker delivers in the calling thread), so after ``on_bar`` returns the
books are final and can be asserted to the cent.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.broker.fill_costs import PerShareCommission
from core.broker.fill_model import FillModel
from core.broker.sim import REJECT_AFTER_ACCEPT_REASON, SimBroker
from core.domain.bars import NormalizedBar
from core.domain.orders import OrderSide, OrderType, TimeInForce
from core.domain.tickets import OrderTicket
from core.ledger.errors import UnknownOrder
from core.ledger.service import Ledger
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
BUY, SELL = OrderSide.BUY, OrderSide.SELL
START = D("100000")
DAY1 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # the signal bar of every test opens here
NOW = DAY1 + timedelta(seconds=30)  # the clock of the broker and the ledger (orders are placed "now")


def bar(minute: int, o, h, lo, c, volume=1_000_000, symbol="AAPL", day: int = 0) -> NormalizedBar:
    ts = DAY1 + timedelta(days=day, minutes=minute)
    return NormalizedBar(symbol, "1Min", ts, o, h, lo, c, volume, source="test")


def ticket(side, qty, symbol="AAPL", **kw) -> OrderTicket:
    return OrderTicket(symbol, side, D(qty), **kw)


def make_sim(**kw) -> SimBroker:
    kw.setdefault("fill_model", FillModel())
    return SimBroker(kw.pop("fill_model"), clock=lambda: NOW, **kw)


def feed(sim: SimBroker, prices, *bars: NormalizedBar) -> None:
    """Deliver closed bars to the broker and the ledger's last prices, as the live feed does."""
    for b in bars:
        sim.on_bar(b)
        prices.update(b.symbol, D(repr(b.close)))


@pytest.fixture
def sim() -> SimBroker:
    return make_sim()


@pytest.fixture
def book(db, sim, prices) -> Ledger:
    return Ledger(db.session_factory, sim, prices, clock=lambda: NOW)


# ----- next-bar fills, exact to the cent ------------------------------------------------------------------


def test_market_buy_fills_at_the_next_bars_open_and_books_to_the_cent(db, prices, make_user):
    sim = make_sim(fill_model=FillModel(commission=PerShareCommission(D("0.35"), D("1.00"))))
    book = Ledger(db.session_factory, sim, prices, clock=lambda: NOW)
    alice = make_user("alice")
    signal_bar = bar(0, 99.0, 100.5, 98.8, 100.0)
    feed(sim, prices, signal_bar)

    placed = book.place_order(alice, ticket(BUY, "10"))
    assert placed.status == "accepted"
    assert placed.reserved == D("1030")  # 10 x 100 (the signal bar's close) + 3% collar
    sim.on_bar(signal_bar)  # a replayed signal bar fills nothing
    assert position(db, alice) is None and user_row(db, alice).reserved_balance == D("1030")

    next_bar = bar(1, 101.37, 102.0, 101.0, 101.8)
    feed(sim, prices, next_bar)

    (fill,) = fills_of(db, placed.id)
    assert (fill.price, fill.quantity, fill.fees) == (D("101.37"), D("10"), D("3.50"))  # the open, not 100
    assert fill.executed_at == next_bar.end
    order = order_row(db, placed.id)
    assert (order.status, order.filled_quantity, order.filled_avg_price, order.reserved_amount, order.fees) == (
        "filled", D("10"), D("101.37"), D("0"), D("3.50"),
    )  # fmt: skip
    u = user_row(db, alice)
    assert u.virtual_balance == START - D("1013.70") - D("3.50")
    assert (u.reserved_balance, u.fees_paid, u.realized_pnl) == (D("0"), D("3.50"), D("0"))
    pos = position(db, alice)
    assert (pos.quantity, pos.average_entry_price, pos.cost_basis, pos.status) == (
        D("10"), D("101.37"), D("1013.70"), "OPEN",
    )  # fmt: skip
    assert_books_balance(db, alice)


def test_a_sell_realizes_pnl_net_of_fees_on_the_next_bar(db, prices, make_user):
    sim = make_sim(fill_model=FillModel(commission=PerShareCommission(D("0.35"), D("1.00"))))
    book = Ledger(db.session_factory, sim, prices, clock=lambda: NOW)
    bob = make_user("bob")
    feed(sim, prices, bar(0, 99.0, 100.5, 98.8, 100.0))
    buy = book.place_order(bob, ticket(BUY, "10"))
    feed(sim, prices, bar(1, 100.10, 101.0, 100.0, 100.9))
    sell = book.place_order(bob, ticket(SELL, "4"))
    feed(sim, prices, bar(2, 102.25, 102.5, 101.9, 102.0))

    assert order_row(db, buy.id).filled_avg_price == D("100.10")
    assert order_row(db, sell.id).filled_avg_price == D("102.25")
    pos = position(db, bob)
    assert pos.quantity == 6 and pos.cost_basis == D("600.60")
    assert pos.realized_pnl == D("409.00") - D("400.40")  # 4 x 102.25 - 4 x 100.10
    u = user_row(db, bob)
    assert u.fees_paid == D("3.50") + D("1.40")
    assert u.virtual_balance == START - D("1001.00") - D("3.50") + D("409.00") - D("1.40")
    assert_books_balance(db, bob)


# ----- brackets ---------------------------------------------------------------------------------------------


def _open_bracket(db, sim, prices, book, user):
    feed(sim, prices, bar(0, 99.0, 100.5, 98.8, 100.0))
    placed = book.place_order(
        user, ticket(BUY, "10", take_profit_price=D("110"), stop_loss_price=D("95"), time_in_force=TimeInForce.GTC)
    )
    legs = legs_of(db, placed.id)
    assert {role: o.status for role, o in legs.items()} == {"take_profit": "accepted", "stop_loss": "accepted"}
    feed(sim, prices, bar(1, 100.20, 100.6, 100.0, 100.4))  # the entry fills at this open
    entry = order_row(db, placed.id)
    assert (entry.status, entry.filled_avg_price, entry.leg_role) == ("filled", D("100.20"), "entry")
    assert position(db, user).quantity == 10
    return placed


def _assert_bracket_closed(db, placed, user, winner: str, loser: str, exit_price: str) -> None:
    legs = legs_of(db, placed.id)
    assert set(legs) == {"take_profit", "stop_loss"}
    assert (legs[winner].status, legs[winner].filled_quantity) == ("filled", D("10"))
    assert legs[winner].filled_avg_price == D(exit_price)
    assert (legs[loser].status, legs[loser].filled_quantity) == ("canceled", D("0"))
    assert all(o.parent_order_id == placed.id and o.user_id == user for o in legs.values())
    assert fill_count(db, user) == 2
    realized = D("10") * D(exit_price) - D("1002.00")
    pos = position(db, user)
    assert (pos.quantity, pos.cost_basis, pos.realized_pnl, pos.status) == (D("0"), D("0"), realized, "CLOSED")
    u = user_row(db, user)
    assert (u.virtual_balance, u.reserved_balance, u.realized_pnl) == (START + realized, D("0"), realized)
    assert_books_balance(db, user)


def test_bracket_take_profit_fill_cancels_the_stop_loss(db, sim, prices, book, make_user):
    cyd = make_user("cyd")
    placed = _open_bracket(db, sim, prices, book, cyd)
    feed(sim, prices, bar(2, 104.0, 110.5, 103.5, 110.0))
    _assert_bracket_closed(db, placed, cyd, "take_profit", "stop_loss", "110")


def test_bracket_stop_loss_fill_cancels_the_take_profit(db, sim, prices, book, make_user):
    dia = make_user("dia")
    placed = _open_bracket(db, sim, prices, book, dia)
    feed(sim, prices, bar(2, 99.0, 99.5, 94.0, 94.5))
    _assert_bracket_closed(db, placed, dia, "stop_loss", "take_profit", "95")


def test_a_bar_touching_both_exits_books_the_stop_loss(db, sim, prices, book, make_user):
    eddy = make_user("eddy")
    placed = _open_bracket(db, sim, prices, book, eddy)
    feed(sim, prices, bar(2, 100.0, 111.0, 94.0, 105.0))  # both levels inside: the pessimistic order
    _assert_bracket_closed(db, placed, eddy, "stop_loss", "take_profit", "95")


# ----- partial fills, cancel, expiry ----------------------------------------------------------------------


def test_volume_capped_partial_fill_then_cancel_releases_the_remainder(db, prices, make_user):
    sim = make_sim(fill_model=FillModel(max_volume_fraction=D("0.1")))
    book = Ledger(db.session_factory, sim, prices, clock=lambda: NOW)
    flo = make_user("flo")
    feed(sim, prices, bar(0, 99.0, 100.5, 98.8, 100.0))
    placed = book.place_order(flo, ticket(BUY, "10", type=OrderType.LIMIT, limit_price=D("99")))
    assert placed.reserved == D("990")
    feed(sim, prices, bar(1, 99.5, 99.8, 98.5, 99.0, volume=40))  # at most 4 shares this bar

    order = order_row(db, placed.id)
    assert (order.status, order.filled_quantity, order.filled_avg_price) == ("partially_filled", D("4"), D("99"))
    assert user_row(db, flo).reserved_balance == D("990") - D("396")
    assert_books_balance(db, flo)

    book.cancel_order(flo, placed.id)
    order = order_row(db, placed.id)
    assert (order.status, order.filled_quantity, order.reserved_amount) == ("canceled", D("4"), D("0"))
    u = user_row(db, flo)
    assert (u.virtual_balance, u.reserved_balance) == (START - D("396"), D("0"))
    pos = position(db, flo)
    assert (pos.quantity, pos.cost_basis) == (D("4"), D("396"))
    feed(sim, prices, bar(2, 98.0, 98.5, 97.0, 98.0, volume=40))  # nothing more fills after the cancel
    assert booked_qty(db, placed.id) == D("4")
    assert_books_balance(db, flo)


def test_a_day_order_expiring_releases_its_reservation(db, sim, prices, book, make_user):
    gil = make_user("gil")
    feed(sim, prices, bar(0, 99.0, 100.5, 98.8, 100.0))
    day = book.place_order(gil, ticket(BUY, "5", type=OrderType.LIMIT, limit_price=D("90")))
    gtc = book.place_order(
        gil, ticket(BUY, "4", type=OrderType.LIMIT, limit_price=D("91"), time_in_force=TimeInForce.GTC)
    )
    assert user_row(db, gil).reserved_balance == D("450") + D("364")
    feed(sim, prices, bar(1, 100.0, 100.2, 99.0, 99.5))  # same day, limits not reached: both keep working
    book.flush_acceptances()
    assert order_row(db, day.id).status == "accepted"

    feed(sim, prices, bar(0, 99.0, 99.5, 98.0, 98.5, day=1))  # next session: the DAY order expires
    expired = order_row(db, day.id)
    assert (expired.status, expired.reserved_amount, expired.filled_quantity) == ("expired", D("0"), D("0"))
    still = order_row(db, gtc.id)
    assert (still.status, still.reserved_amount) == ("accepted", D("364"))
    u = user_row(db, gil)
    assert (u.virtual_balance, u.reserved_balance) == (START - D("364"), D("364"))
    assert_books_balance(db, gil)


# ----- a misbehaving broker -------------------------------------------------------------------------------


def test_rejection_after_acceptance_restores_the_cash_exactly(db, prices, make_user):
    sim = make_sim(reject_after_accept=lambda request: request.symbol == "MSFT")
    book = Ledger(db.session_factory, sim, prices, clock=lambda: NOW)
    hugo = make_user("hugo")
    feed(sim, prices, bar(0, 99.0, 100.5, 98.8, 100.0), bar(0, 399.0, 401.0, 398.0, 400.0, symbol="MSFT"))
    doomed = book.place_order(hugo, ticket(BUY, "5", "MSFT"))
    fine = book.place_order(hugo, ticket(BUY, "3"))
    assert doomed.status == "accepted" and doomed.reserved == D("2060")

    feed(sim, prices, bar(1, 401.0, 402.0, 400.0, 401.5, symbol="MSFT"), bar(1, 100.5, 101.0, 100.0, 100.8))
    order = order_row(db, doomed.id)
    assert (order.status, order.error_message, order.reserved_amount) == (
        "rejected", REJECT_AFTER_ACCEPT_REASON, D("0"),
    )  # fmt: skip
    assert position(db, hugo, "MSFT") is None
    u = user_row(db, hugo)
    assert (u.virtual_balance, u.reserved_balance) == (START - D("301.50"), D("0"))
    assert order_row(db, fine.id).status == "filled"
    assert_books_balance(db, hugo)


def _three_partials(sim, prices):
    """A 10-share market buy filled 4 + 4 + 2 on three bars (volume cap 10% of 40)."""
    feed(
        sim,
        prices,
        bar(1, 100.00, 100.4, 99.8, 100.2, volume=40),
        bar(2, 100.50, 100.9, 100.3, 100.7, volume=40),
        bar(3, 101.00, 101.2, 100.8, 101.1, volume=40),
    )


EXPECTED_COST = D("400.00") + D("402.00") + D("202.00")
EXPECTED_FEES = D("3.00")  # $1 minimum per execution, three executions


def _capped_sim() -> SimBroker:
    return make_sim(
        fill_model=FillModel(max_volume_fraction=D("0.1"), commission=PerShareCommission(D("0.01"), D("1.00")))
    )


def _assert_three_partials_booked(db, user, placed) -> None:
    order = order_row(db, placed.id)
    assert (order.status, order.filled_quantity, order.filled_avg_price) == ("filled", D("10"), D("100.4"))
    assert booked_qty(db, placed.id) == D("10")
    pos = position(db, user)
    assert (pos.quantity, pos.cost_basis) == (D("10"), EXPECTED_COST)
    u = user_row(db, user)
    assert (u.fees_paid, order.fees) == (EXPECTED_FEES, EXPECTED_FEES)
    assert (u.virtual_balance, u.reserved_balance) == (START - EXPECTED_COST - EXPECTED_FEES, D("0"))
    assert_books_balance(db, user)


def test_duplicated_events_are_booked_once(db, prices, make_user):
    sim = _capped_sim()
    book = Ledger(db.session_factory, sim, prices, clock=lambda: NOW)
    ida = make_user("ida")
    feed(sim, prices, bar(0, 99.0, 100.5, 98.8, 100.0))
    sim.duplicate_events = True
    placed = book.place_order(ida, ticket(BUY, "10"))
    _three_partials(sim, prices)
    assert fill_count(db, ida) == 3
    _assert_three_partials_booked(db, ida, placed)


def test_held_events_released_in_reverse_are_booked_exactly(db, prices, make_user):
    sim = _capped_sim()
    book = Ledger(db.session_factory, sim, prices, clock=lambda: NOW)
    joel = make_user("joel")
    feed(sim, prices, bar(0, 99.0, 100.5, 98.8, 100.0))
    placed = book.place_order(joel, ticket(BUY, "10"))
    with sim.hold_events("reversed"):
        _three_partials(sim, prices)
        assert order_row(db, placed.id).filled_quantity == 0  # nothing delivered yet
    _assert_three_partials_booked(db, joel, placed)


def test_held_events_released_in_reverse_keep_quantity_and_cost_exact(db, prices, make_user):
    """The same disorder without commissions: quantities, cost and cash must be exact."""
    capped = make_sim(fill_model=FillModel(max_volume_fraction=D("0.1")))
    book = Ledger(db.session_factory, capped, prices, clock=lambda: NOW)
    kai = make_user("kai")
    feed(capped, prices, bar(0, 99.0, 100.5, 98.8, 100.0))
    placed = book.place_order(kai, ticket(BUY, "10"))
    with capped.hold_events("reversed"):
        _three_partials(capped, prices)
    order = order_row(db, placed.id)
    assert (order.status, order.filled_quantity, order.filled_avg_price) == ("filled", D("10"), D("100.4"))
    assert booked_qty(db, placed.id) == D("10")
    assert position(db, kai).cost_basis == EXPECTED_COST
    u = user_row(db, kai)
    assert (u.virtual_balance, u.reserved_balance) == (START - EXPECTED_COST, D("0"))
    assert_books_balance(db, kai)


def test_held_events_released_shuffled_and_duplicated_keep_books_exact(db, prices, make_user):
    capped = make_sim(fill_model=FillModel(max_volume_fraction=D("0.1")))
    book = Ledger(db.session_factory, capped, prices, clock=lambda: NOW)
    luna = make_user("luna")
    feed(capped, prices, bar(0, 99.0, 100.5, 98.8, 100.0))
    capped.hold_events(lambda held: [*random.Random(7).sample(held, len(held)), *held])
    placed = book.place_order(luna, ticket(BUY, "10"))  # even the NEW event is held
    _three_partials(capped, prices)
    assert order_row(db, placed.id).filled_quantity == 0
    capped.release_events(lambda held: [*random.Random(7).sample(held, len(held)), *held])
    order = order_row(db, placed.id)
    assert (order.status, order.filled_quantity) == ("filled", D("10"))
    assert booked_qty(db, placed.id) == D("10")
    assert position(db, luna).cost_basis == EXPECTED_COST
    assert user_row(db, luna).virtual_balance == START - EXPECTED_COST
    assert_books_balance(db, luna)


# ----- users are isolated -----------------------------------------------------------------------------------


def test_two_users_on_one_broker_never_see_or_touch_each_other(db, sim, prices, book, make_user):
    moe, nia = make_user("moe"), make_user("nia")
    feed(sim, prices, bar(0, 99.0, 100.5, 98.8, 100.0))
    moe_buy = book.place_order(moe, ticket(BUY, "10"))
    nia_buy = book.place_order(nia, ticket(BUY, "5"))
    nia_limit = book.place_order(nia, ticket(BUY, "2", type=OrderType.LIMIT, limit_price=D("80")))
    feed(sim, prices, bar(1, 100.50, 101.0, 100.2, 100.8))

    with pytest.raises(UnknownOrder):
        book.cancel_order(moe, nia_limit.id)
    book.flush_acceptances()
    assert order_row(db, nia_limit.id).status == "accepted"
    with pytest.raises(UnknownOrder):
        book.cancel_order(nia, moe_buy.id)

    assert [p.qty for p in book.portfolio(moe).positions] == [D("10")]
    assert [p.qty for p in book.portfolio(nia).positions] == [D("5")]
    assert book.portfolio(moe).reserved == 0 and book.portfolio(nia).reserved == D("160")
    assert order_row(db, moe_buy.id).user_id == moe and order_row(db, nia_buy.id).user_id == nia
    assert (fill_count(db, moe), fill_count(db, nia)) == (1, 1)
    # the shared account holds exactly the sum of the virtual positions
    (real,) = sim.get_positions()
    assert real.qty == position(db, moe).quantity + position(db, nia).quantity == 15
    assert user_row(db, moe).virtual_balance == START - D("1005.00")
    assert user_row(db, nia).virtual_balance == START - D("502.50") - D("160")
    assert_books_balance(db, moe, nia)


def test_bracket_entry_partly_filled_then_canceled_protects_and_closes_what_was_bought(db, prices, make_user):
    """SimBroker activates the legs for the 4 shares bought; the take-profit then fills those 4."""
    capped = make_sim(fill_model=FillModel(max_volume_fraction=D("0.1")))
    book = Ledger(db.session_factory, capped, prices, clock=lambda: NOW)
    olga = make_user("olga")
    feed(capped, prices, bar(0, 99.0, 100.5, 98.8, 100.0))
    placed = book.place_order(
        olga, ticket(BUY, "10", take_profit_price=D("110"), stop_loss_price=D("95"), time_in_force=TimeInForce.GTC)
    )
    feed(capped, prices, bar(1, 100.0, 100.4, 99.8, 100.2, volume=40))  # 4 of 10 bought
    book.cancel_order(olga, placed.id)
    entry = order_row(db, placed.id)
    assert (entry.status, entry.filled_quantity, entry.reserved_amount) == ("canceled", D("4"), D("0"))
    feed(capped, prices, bar(2, 104.0, 110.5, 103.5, 110.0, volume=1000))  # the take-profit fills the 4

    assert position(db, olga).quantity == 0
    legs = legs_of(db, placed.id)
    assert (legs["take_profit"].filled_quantity, legs["stop_loss"].status) == (D("4"), "canceled")
    assert book.portfolio(olga).realized_pnl == D("40")
    assert_books_balance(db, olga)
    assert legs["take_profit"].status == "filled"  # the broker says FILLED; nothing is left to sell


def test_two_running_clients_both_applying_every_event_book_each_fill_once(db, sim, prices, make_user):
    """Any client may apply any fill it sees: two ledgers on one broker, every event applied twice."""
    first = Ledger(db.session_factory, sim, prices, clock=lambda: NOW)
    Ledger(db.session_factory, sim, prices, clock=lambda: NOW)  # the other client, also subscribed
    pia = make_user("pia")
    feed(sim, prices, bar(0, 99.0, 100.5, 98.8, 100.0))
    placed = first.place_order(pia, ticket(BUY, "7"))
    feed(sim, prices, bar(1, 100.30, 100.6, 100.1, 100.5))
    sell = first.place_order(pia, ticket(SELL, "3"))
    feed(sim, prices, bar(2, 101.00, 101.2, 100.8, 101.1))
    assert fill_count(db, pia) == 2
    assert (order_row(db, placed.id).status, order_row(db, sell.id).status) == ("filled", "filled")
    pos = position(db, pia)
    assert (pos.quantity, pos.cost_basis, pos.realized_pnl) == (D("4"), D("401.20"), D("303.00") - D("300.90"))
    assert user_row(db, pia).virtual_balance == START - D("702.10") + D("303.00")
    assert_books_balance(db, pia)


def test_an_order_the_simbroker_refuses_at_submit_reserves_nothing(db, sim, prices, book, make_user):
    from core.ledger.errors import OrderRejected

    quin = make_user("quin")
    feed(sim, prices, bar(0, 99.0, 100.5, 98.8, 100.0))
    with pytest.raises(OrderRejected, match="not on a valid tick"):
        book.place_order(quin, ticket(BUY, "3", type=OrderType.LIMIT, limit_price=D("99.005")))
    u = user_row(db, quin)
    assert (u.virtual_balance, u.reserved_balance) == (START, D("0"))
    assert sim.list_open_orders() == []
    assert_books_balance(db, quin)
