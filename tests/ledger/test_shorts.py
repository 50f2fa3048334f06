"""Virtual short positions (issue 25): booking, the margin rule and the portfolio view, to the cent.

Prices: the ledger's last price of AAPL is $100 unless a test moves it, so a market short sale of n shares
reserves n x $100 x 1.03 (the market collar) x 50% as initial margin.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.broker.sim import SimBroker
from core.db.models import Fill, PositionHistory
from core.domain.bars import NormalizedBar
from core.domain.orders import Asset, OrderSide, OrderType, TimeInForce
from core.domain.tickets import OrderTicket
from core.ledger.errors import LedgerError, OrderRejected
from core.ledger.service import Ledger
from tests.ledger.helpers_alpaca import make_broker
from tests.ledger.helpers_books import assert_books_balance, legs_of, order_row, position, user_row
from tests.ledger.manual_broker import T0

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
START = D("100000")
# Limits out of the way where a test is about margin, not about the trader's own caps.
ROOMY = {"max_order_value": D("10000000"), "max_position_size": D("10000000"), "duplicate_window_seconds": 0}


def buy(qty: str, symbol: str = "AAPL", **kw) -> OrderTicket:
    return OrderTicket(symbol, BUY, D(qty), **kw)


def sell(qty: str, symbol: str = "AAPL", **kw) -> OrderTicket:
    return OrderTicket(symbol, SELL, D(qty), **kw)


def trade(ledger, broker, user, ticket: OrderTicket, price: str, fee: str = "0"):
    placed = ledger.place_order(user, ticket)
    broker.fill(placed.client_order_id, ticket.qty, price, fee=fee)
    return placed


def books(db, user) -> tuple:
    u = user_row(db, user)
    pos = position(db, user)
    return (u.virtual_balance, u.reserved_balance, u.realized_pnl, pos.quantity, pos.cost_basis,
            pos.average_entry_price, pos.status)  # fmt: skip


def actions(db, user) -> list[tuple[str, Decimal, Decimal]]:
    """(action, quantity after, P&L) of every position change, in booking order."""
    with db.session_factory() as s:
        rows = s.execute(
            select(PositionHistory.action, PositionHistory.quantity_after, PositionHistory.pnl)
            .join(Fill, Fill.id == PositionHistory.fill_id)
            .where(Fill.user_id == user)
            .order_by(Fill.created_at, PositionHistory.quantity_after)
        ).all()
    return [tuple(r) for r in rows]


# ----- booking ---------------------------------------------------------------------------------------------


def test_a_short_sale_holds_its_margin_then_credits_its_proceeds(db, ledger, broker, make_user):
    sue = make_user("sue")
    placed = ledger.place_order(sue, sell("10"))
    assert placed.reserved == D("515")  # 10 x $100 x 1.03 x 50%
    u = user_row(db, sue)
    assert (u.virtual_balance, u.reserved_balance) == (START - D("515"), D("515"))
    assert_books_balance(db, sue)

    broker.fill(placed.client_order_id, "10", "100", fee="1.00")
    assert books(db, sue) == (START + D("1000") - D("1"), D("0"), D("0"), D("-10"), D("-1000"), D("100"), "OPEN")
    assert order_row(db, placed.id).reserved_amount == 0
    assert actions(db, sue) == [("OPEN", D("-10"), D("0"))]
    assert_books_balance(db, sue)


def test_adding_to_a_short_then_covering_it_in_two_buys_realizes_entry_less_cover_to_the_cent(
    db, ledger, broker, make_user
):
    tim = make_user("tim", **ROOMY)
    trade(ledger, broker, tim, sell("10"), "100")
    trade(ledger, broker, tim, sell("5"), "110")  # added: 15 short at an average of 103.333333
    assert books(db, tim)[3:] == (D("-15"), D("-1550"), D("103.333333"), "OPEN")
    assert_books_balance(db, tim)

    trade(ledger, broker, tim, buy("6"), "90")  # partial cover: 6 x (103.333... - 90) = 80
    assert books(db, tim) == (
        START + D("1000") + D("550") - D("540"), D("0"), D("80"), D("-9"), D("-930"), D("103.333333"), "OPEN"
    )  # fmt: skip
    assert_books_balance(db, tim)

    trade(ledger, broker, tim, buy("9"), "95")  # full cover: 930 - 855 = 75
    assert books(db, tim) == (START + D("155"), D("0"), D("155"), D("0"), D("0"), D("0"), "CLOSED")
    assert actions(db, tim) == [
        ("OPEN", D("-10"), D("0")),
        ("INCREASE", D("-15"), D("0")),
        ("DECREASE", D("-9"), D("80")),
        ("CLOSE", D("0"), D("75")),
    ]
    assert position(db, tim).closed_at is not None
    assert_books_balance(db, tim)


def test_one_sell_closes_a_long_and_opens_a_short_with_the_rest(db, ledger, broker, make_user):
    una = make_user("una")
    trade(ledger, broker, una, buy("3", type=OrderType.LIMIT, limit_price=D("10.01")), "10.01")  # cost 30.03
    placed = ledger.place_order(una, sell("7"))
    assert placed.reserved == D("206")  # margin on the 4 sold short only: 4 x 103 x 50%
    broker.fill(placed.client_order_id, "7", "12.345")
    # 7 x 12.345 = 86.415: 37.035 closes the long (7.005 realized), 49.38 opens the short of 4
    assert books(db, una) == (
        START - D("30.03") + D("86.415"), D("0"), D("7.005"), D("-4"), D("-49.38"), D("12.345"), "OPEN"
    )  # fmt: skip
    assert actions(db, una)[-1] == ("REVERSE", D("-4"), D("7.005"))
    assert_books_balance(db, una)


def test_one_buy_covers_a_short_and_opens_a_long_with_the_rest(db, ledger, broker, make_user):
    vic = make_user("vic")
    trade(ledger, broker, vic, sell("6"), "105")
    trade(ledger, broker, vic, buy("10"), "100")  # covers 6 (6 x 5 = 30 realized), 4 long at 100
    assert books(db, vic) == (START + D("630") - D("1000"), D("0"), D("30"), D("4"), D("400"), D("100"), "OPEN")
    assert actions(db, vic) == [("OPEN", D("-6"), D("0")), ("REVERSE", D("4"), D("30"))]
    assert_books_balance(db, vic)


def test_a_short_sale_partly_filled_releases_margin_in_proportion_and_the_cancel_the_rest(
    db, ledger, broker, make_user
):
    wes = make_user("wes")
    placed = ledger.place_order(wes, sell("10"))
    broker.fill(placed.client_order_id, "4", "100")
    assert order_row(db, placed.id).reserved_amount == D("309")  # 515 - 515 x 4/10
    assert user_row(db, wes).reserved_balance == D("309")
    assert_books_balance(db, wes)
    ledger.cancel_order(wes, placed.id)
    u = user_row(db, wes)
    assert (u.virtual_balance, u.reserved_balance) == (START + D("400"), D("0"))
    assert (order_row(db, placed.id).status, position(db, wes).quantity) == ("canceled", D("-4"))
    assert_books_balance(db, wes)


def test_a_short_sale_rejected_after_acceptance_gives_its_margin_back_exactly(db, ledger, broker, make_user):
    xia = make_user("xia")
    placed = ledger.place_order(xia, sell("10", type=OrderType.LIMIT, limit_price=D("101")))
    assert placed.reserved == D("505")
    broker.reject(placed.client_order_id, "no shares to borrow")
    u = user_row(db, xia)
    assert (u.virtual_balance, u.reserved_balance) == (START, D("0"))
    assert position(db, xia) is None
    assert_books_balance(db, xia)


def test_replayed_short_and_flip_events_change_nothing(db, ledger, broker, make_user):
    yan = make_user("yan")
    events = []
    for ticket, price in ((sell("5"), "100"), (buy("8"), "98"), (sell("8"), "99.5"), (buy("5"), "101")):
        placed = ledger.place_order(yan, ticket)
        events.append(broker.fill(placed.client_order_id, ticket.qty, price))
    before = books(db, yan)
    assert before[3:] == (D("0"), D("0"), D("0"), "CLOSED")
    assert [a for a, _, _ in actions(db, yan)] == ["OPEN", "REVERSE", "REVERSE", "CLOSE"]
    for event in reversed(events + events):
        assert ledger.apply_event(event) is False
    assert books(db, yan) == before
    assert before[2] == D("10") + D("4.5") + D("-7.5")  # 5 x (100 - 98), 3 x (99.5 - 98), 5 x (99.5 - 101)
    assert_books_balance(db, yan)


def test_a_fractional_short_that_reaches_booking_is_refused_and_books_nothing(db, ledger, broker, make_user):
    """The risk rules refuse fractional short sales; a fill that would make one anyway is SF002."""
    zed = make_user("zed")
    placed = ledger.place_order(zed, sell("2"))
    with pytest.raises(LedgerError, match=r"would sell 0\.5 short: fractional shares cannot be sold short"):
        broker.fill(placed.client_order_id, "0.5", "100")
    assert position(db, zed) is None and order_row(db, placed.id).filled_quantity == 0
    assert_books_balance(db, zed)


def test_selling_a_long_needs_no_short_checks(db, ledger, broker, make_user):
    broker.assets["NOSHORT"] = Asset("NOSHORT", fractionable=True, shortable=False, easy_to_borrow=False)
    amy = make_user("amy")
    trade(ledger, broker, amy, buy("2.5", "NOSHORT", type=OrderType.LIMIT, limit_price=D("50")), "50")
    placed = ledger.place_order(amy, sell("2.5", "NOSHORT", type=OrderType.LIMIT, limit_price=D("51")))
    assert placed.reserved == 0
    with pytest.raises(OrderRejected, match="NOSHORT is not shortable") as exc:
        ledger.place_order(amy, sell("1", "NOSHORT", type=OrderType.LIMIT, limit_price=D("52")))
    assert exc.value.rule == "short_sale"


# ----- the margin rule and the portfolio view ---------------------------------------------------------------


def test_shorts_hold_150_percent_of_their_value_at_the_last_price_against_buying_power(
    db, ledger, broker, prices, make_user
):
    ben = make_user("ben", **ROOMY)
    trade(ledger, broker, ben, sell("1000"), "100")
    p = ledger.portfolio(ben)
    assert (p.cash, p.buying_power, p.equity) == (D("200000"), D("50000"), START)
    (view,) = p.positions
    assert (view.qty, view.cost_basis, view.market_value, view.unrealized_pnl) == (
        D("-1000"), D("-100000"), D("-100000"), D("0")
    )  # fmt: skip

    prices.update("AAPL", D("110"))  # the short lost 10,000 and holds 150% of 110,000
    p = ledger.portfolio(ben)
    assert (p.buying_power, p.equity, p.unrealized_pnl) == (D("35000"), START - D("10000"), D("-10000"))
    assert p.positions[0].market_value == D("-110000") and p.positions[0].avg_entry_price == D("100")

    prices.update("AAPL", D("140"))  # 150% of 140,000 is more than the cash: shown as 0, never below
    assert ledger.portfolio(ben).buying_power == 0


def test_a_short_sale_beyond_buying_power_is_refused(db, ledger, broker, make_user):
    cal = make_user("cal", **ROOMY)
    with pytest.raises(OrderRejected) as exc:
        ledger.place_order(cal, sell("2000"))
    assert exc.value.rule == "funds"
    assert str(exc.value) == (
        "Insufficient buying power to sell 2000 AAPL short: its initial margin is $103,000.00 (50% of its "
        "value), your buying power is $100,000.00."
    )
    trade(ledger, broker, cal, sell("1000"), "100")  # buying power 200,000 - 150,000
    with pytest.raises(OrderRejected, match=r"initial margin is \$51,500.00 .* buying power is \$50,000.00"):
        ledger.place_order(cal, sell("1000"))
    assert ledger.place_order(cal, sell("970")).reserved == D("49955")
    assert_books_balance(db, cal)


def test_a_buy_is_limited_by_buying_power_but_a_cover_gets_its_shorts_hold_back(db, ledger, broker, make_user):
    dee = make_user("dee", **ROOMY)
    trade(ledger, broker, dee, sell("1000"), "100")
    with pytest.raises(OrderRejected) as exc:
        ledger.place_order(dee, buy("200", "MSFT"))
    assert str(exc.value) == (
        "Insufficient virtual funds: this order needs $82,400.00, you have $50,000.00 available "
        "($200,000.00 cash less $150,000.00 held against your short positions)."
    )
    cover = ledger.place_order(dee, buy("1000"))  # 103,000 reserved: more than 50,000 but it frees 150,000
    assert cover.reserved == D("103000")
    broker.fill(cover.client_order_id, "1000", "99")
    p = ledger.portfolio(dee)
    assert (p.cash, p.buying_power, p.realized_pnl, p.positions) == (START + D("1000"), START + D("1000"), 1000, ())
    assert_books_balance(db, dee)


def test_the_daily_loss_limit_stops_new_shorts_but_lets_a_short_be_covered(db, broker, prices, make_user):
    ledger = Ledger(db.session_factory, broker, prices, clock=lambda: T0)  # the fills' day is "today"
    eve = make_user("eve", daily_loss_limit=D("500"), duplicate_window_seconds=0)
    trade(ledger, broker, eve, sell("20"), "100")
    trade(ledger, broker, eve, buy("10"), "160")  # a loss of 600 realized today
    with pytest.raises(OrderRejected, match="reached your daily limit") as exc:
        ledger.place_order(eve, sell("1"))
    assert exc.value.rule == "daily_loss_limit"
    prices.update("AAPL", D("160"))
    covered = ledger.place_order(eve, buy("10"))
    broker.fill(covered.client_order_id, "10", "160")
    assert position(db, eve).status == "CLOSED"
    with pytest.raises(OrderRejected, match="reached your daily limit"):
        ledger.place_order(eve, buy("1"))  # past the short: a new long
    assert_books_balance(db, eve)


# ----- a sell bracket through the SimBroker: a short with buy-to-cover exits --------------------------------

DAY1 = T0
NOW = DAY1 + timedelta(seconds=30)


def _bar(minute: int, o, h, lo, c) -> NormalizedBar:
    return NormalizedBar("AAPL", "1Min", DAY1 + timedelta(minutes=minute), o, h, lo, c, 1_000_000, source="test")


def test_a_sell_bracket_opens_a_short_and_its_take_profit_covers_it(db, prices, make_user):
    sim = SimBroker(clock=lambda: NOW)
    book = Ledger(db.session_factory, sim, prices, clock=lambda: NOW)
    fay = make_user("fay")

    def feed(b: NormalizedBar) -> None:
        sim.on_bar(b)
        prices.update("AAPL", D(repr(b.close)))

    feed(_bar(0, 100.0, 100.5, 99.0, 100.0))
    with pytest.raises(OrderRejected, match="take-profit must be below, and the stop-loss above"):
        book.place_order(fay, sell("10", take_profit_price=D("105"), stop_loss_price=D("95")))
    placed = book.place_order(
        fay, sell("10", take_profit_price=D("90"), stop_loss_price=D("105"), time_in_force=TimeInForce.GTC)
    )
    assert placed.reserved == D("515")
    legs = legs_of(db, placed.id)
    assert {role: (o.side, o.status) for role, o in legs.items()} == {
        "take_profit": ("buy", "accepted"),
        "stop_loss": ("buy", "accepted"),
    }
    feed(_bar(1, 99.80, 100.0, 99.5, 99.6))  # the entry sells short at this open
    assert books(db, fay) == (START + D("998"), D("0"), D("0"), D("-10"), D("-998"), D("99.8"), "OPEN")
    feed(_bar(2, 95.0, 95.5, 89.0, 89.5))  # the take-profit buys back at 90
    legs = legs_of(db, placed.id)
    assert (legs["take_profit"].status, legs["stop_loss"].status) == ("filled", "canceled")
    assert books(db, fay) == (START + D("98"), D("0"), D("98"), D("0"), D("0"), D("0"), "CLOSED")
    assert_books_balance(db, fay)


# ----- Alpaca's asset flags, through the real client and the stand-in ---------------------------------------


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        ({"shortable": False, "easy_to_borrow": False}, "Cannot sell 2 XYZ short: XYZ is not shortable at the broker."),
        ({"easy_to_borrow": False}, "Cannot sell 2 XYZ short: XYZ is hard to borrow"),
    ],
)
def test_alpacas_shortable_and_easy_to_borrow_flags_decide_a_short_sale(db, alpaca, prices, make_user, flags, reason):
    alpaca.add_asset("XYZ", **flags)
    alpaca.add_asset("OK")
    book = Ledger(db.session_factory, make_broker(alpaca), prices, subscribe=False)
    gus = make_user("gus")
    with pytest.raises(OrderRejected, match=re.escape(reason)) as exc:
        book.place_order(gus, sell("2", "XYZ", type=OrderType.LIMIT, limit_price=D("10")))
    assert exc.value.rule == "short_sale"
    assert book.place_order(gus, sell("2", "OK", type=OrderType.LIMIT, limit_price=D("10"))).reserved == D("10")
