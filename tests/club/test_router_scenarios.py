"""Issue 25's scenarios: three or more traders on one symbol of one strict paper account.

After each: no account-rule rejection at the stand-in, every trader's books balance to the cent, and the sum
of the virtual positions per symbol equals the account's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.domain.bars import NormalizedBar
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from tests.club.conftest import Club, eventually
from tests.ledger.helpers_books import legs_of

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def market(side: OrderSide, qty: str, symbol: str = "AAPL") -> OrderTicket:
    return OrderTicket(symbol, side, D(qty))


def bar(open: float, high: float, low: float, close: float, symbol: str = "AAPL") -> NormalizedBar:
    """A minute that closes after every order of the test was placed (the fill model never sees older bars)."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return NormalizedBar(symbol, "1Min", start, open, high, low, close, 1000.0)


def fill_street(club: Club, symbol: str = "AAPL", price: str = "100", qty: str | None = None) -> dict:
    (street,) = club.wait_street_order(symbol)
    club.alpaca.fill(street["id"], qty=qty, price=price)
    return street


def test_orders_of_one_window_go_out_as_one_street_order_and_partial_fills_are_allocated_in_time_order(club: Club):
    a, b, c = club.users[:3]
    first = club.ledger.place_order(a, market(BUY, "10"))
    second = club.ledger.place_order(b, market(BUY, "5"))
    third = club.ledger.place_order(c, market(BUY, "5"))
    (street,) = club.wait_street_order()
    assert street["side"] == "buy" and D(street["qty"]) == 20 and street["type"] == "market"

    club.alpaca.fill(street["id"], qty="12", price="100")
    club.wait_status(second.id, "partially_filled")
    club.alpaca.fill(street["id"], qty="8", price="101")
    club.wait_status(third.id, "filled")

    assert club.wait_status(first.id, "filled").filled_avg_price == D("100")
    second_row = club.wait_status(second.id, "filled")
    assert second_row.filled_avg_price == D("100.6")  # 2 at 100, then 3 at 101
    assert club.order(third.id).filled_avg_price == D("101")
    club.assert_invariants()


def test_opposite_market_orders_are_crossed_internally_at_the_street_average(club: Club):
    a, b, c = club.users[:3]
    club.ledger.place_order(a, market(BUY, "10"))
    fill_street(club, price="100")
    eventually(lambda: club.virtual_positions().get("AAPL") == D("10"), what="A's position")

    sell = club.ledger.place_order(a, market(SELL, "10"))
    buy_b = club.ledger.place_order(b, market(BUY, "6"))
    buy_c = club.ledger.place_order(c, market(BUY, "7"))
    (street,) = club.wait_street_order()
    assert street["side"] == "buy" and D(street["qty"]) == 3  # 13 bought, 10 sold: only the net goes out
    club.alpaca.fill(street["id"], price="102")
    for order in (sell, buy_b, buy_c):
        row = club.wait_status(order.id, "filled")
        assert row.filled_avg_price == D("102")
    club.assert_invariants()


def test_a_net_of_zero_crosses_everything_at_the_reference_price_and_sends_nothing(club: Club):
    a, b = club.users[:2]
    club.ledger.place_order(a, market(BUY, "4"))
    fill_street(club, price="100")
    eventually(lambda: club.virtual_positions().get("AAPL") == D("4"), what="A's position")
    sent_before = club.router.stats.street_orders

    club.prices.update("AAPL", D("101.5"))
    sell = club.ledger.place_order(a, market(SELL, "4"))
    buy = club.ledger.place_order(b, market(BUY, "4"))
    assert club.wait_status(sell.id, "filled").filled_avg_price == D("101.5")
    assert club.wait_status(buy.id, "filled").filled_avg_price == D("101.5")
    assert club.router.stats.street_orders == sent_before
    club.assert_invariants()


def test_a_resting_take_profit_never_reaches_the_account_so_another_traders_market_buy_is_not_a_wash_trade(
    club: Club,
):
    a, b, c = club.users[:3]
    entry = club.ledger.place_order(
        a, OrderTicket("AAPL", BUY, D("10"), take_profit_price=D("110"), stop_loss_price=D("90"))
    )
    fill_street(club, price="100")
    club.wait_status(entry.id, "filled")

    buy_b = club.ledger.place_order(b, market(BUY, "5"))
    buy_c = club.ledger.place_order(c, market(BUY, "3"))
    (street,) = club.wait_street_order()
    assert street["side"] == "buy" and D(street["qty"]) == 8
    club.alpaca.fill(street["id"], price="100.5")
    club.wait_status(buy_b.id, "filled")
    club.wait_status(buy_c.id, "filled")
    assert all(o["side"] == "buy" for o in club.alpaca.account.list_orders(status="all", limit=500))
    club.assert_invariants()

    # The take-profit fills on the first bar that reaches it, at its limit (the backtester's fill model), the
    # stop-loss is canceled, and the account follows with one sell.
    legs = legs_of(club.db, entry.id)
    club.router.on_bar("AAPL", bar(high=111, low=100.2, open=100.5, close=110.5))
    take_profit = club.wait_status(legs["take_profit"].id, "filled")
    assert take_profit.filled_avg_price == D("110")
    assert club.wait_status(legs["stop_loss"].id, "canceled").filled_quantity == 0
    (follow,) = club.wait_street_order()
    assert follow["side"] == "sell" and D(follow["qty"]) == 10
    club.alpaca.fill(follow["id"], price="110.40")
    eventually(lambda: club.steps_open() == 0, what="the follow step done")
    club.assert_invariants()


def test_one_trader_long_while_another_goes_short_nets_to_the_difference(club: Club):
    a, b, c = club.users[:3]
    long_a = club.ledger.place_order(a, market(BUY, "10"))
    short_b = club.ledger.place_order(b, market(SELL, "4"))
    long_c = club.ledger.place_order(c, market(BUY, "1"))
    (street,) = club.wait_street_order()
    assert street["side"] == "buy" and D(street["qty"]) == 7
    club.alpaca.fill(street["id"], price="100.10")
    for order in (long_a, short_b, long_c):
        assert club.wait_status(order.id, "filled").filled_avg_price == D("100.10")
    assert club.virtual_positions() == {"AAPL": D(7)}
    club.assert_invariants()


def test_a_flip_through_zero_goes_out_as_close_then_open(club: Club):
    a, b, c = club.users[:3]
    club.ledger.place_order(a, market(BUY, "10"))
    fill_street(club, price="100")
    eventually(lambda: club.virtual_positions().get("AAPL") == D("10"), what="A's long")

    flip = club.ledger.place_order(b, market(SELL, "12"))  # B goes short 12: the account goes from +10 to -2
    close = club.wait_street_order()[0]
    assert close["side"] == "sell" and D(close["qty"]) == 10  # never through zero in one order
    club.alpaca.fill(close["id"], price="99")
    club.wait_status(flip.id, "partially_filled")
    opening = club.wait_street_order()[0]
    assert opening["id"] != close["id"] and opening["side"] == "sell" and D(opening["qty"]) == 2
    club.alpaca.fill(opening["id"], price="98.5")
    row = club.wait_status(flip.id, "filled")
    assert row.filled_avg_price == D("98.916667")  # (10 * 99 + 2 * 98.5) / 12, to the ledger's 6 places
    assert club.alpaca.positions() == {"AAPL": D(-2)}
    # A's own flip: long 10 -> short 3 in one virtual order, netted with C's buy.
    flip_a = club.ledger.place_order(a, market(SELL, "13"))
    buy_c = club.ledger.place_order(c, market(BUY, "5"))
    (street,) = club.wait_street_order()
    assert street["side"] == "sell" and D(street["qty"]) == 8
    club.alpaca.fill(street["id"], price="98")
    club.wait_status(flip_a.id, "filled")
    club.wait_status(buy_c.id, "filled")
    assert club.virtual_positions() == {"AAPL": D(-10)}
    club.assert_invariants()


def test_when_one_bar_reaches_both_exits_of_a_bracket_the_stop_loss_is_assumed_first(club: Club):
    a = club.users[0]
    entry = club.ledger.place_order(
        a, OrderTicket("AAPL", BUY, D("5"), take_profit_price=D("104"), stop_loss_price=D("97"))
    )
    fill_street(club, price="100")
    club.wait_status(entry.id, "filled")
    legs = legs_of(club.db, entry.id)
    club.router.on_bar("AAPL", bar(open=100, high=105, low=96, close=101))
    assert club.wait_status(legs["stop_loss"].id, "filled").filled_avg_price == D("97")
    assert club.wait_status(legs["take_profit"].id, "canceled").filled_quantity == 0
    (follow,) = club.wait_street_order()
    assert follow["side"] == "sell" and D(follow["qty"]) == 5
    club.alpaca.fill(follow["id"], price="96.90")
    eventually(lambda: club.steps_open() == 0, what="the follow step done")
    club.assert_invariants()
