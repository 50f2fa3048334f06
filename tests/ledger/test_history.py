"""The portfolio panel's read-only queries against a real ledger: orders, fills, the realized equity curve and
the day P&L, exact to the unit, and never another user's rows."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from core.domain.orders import OrderSide, OrderType, TimeInForce
from core.domain.tickets import OrderTicket
from core.ledger.day_pnl import day_pnl, day_start, trading_day
from core.ledger.history import EquityPoint, equity_curve, open_orders, recent_orders, trade_history
from core.ledger.overview import load_overview
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.market.calendar import NEW_YORK
from core.market.frames import check_frame
from core.market.store import BarStore
from tests.ledger.manual_broker import ManualBroker

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
MON = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 New York
TUE = MON + timedelta(days=1)


def fill_at(broker: ManualBroker, client_order_id: str, qty: str, price: str, at: datetime, fee: str = "0") -> None:
    """Fill as the broker reports it, stamped ``at`` (the manual broker's own stamp is fixed)."""
    event = broker.fill(client_order_id, qty, price, fee=fee, deliver=False)
    broker.deliver(dataclasses.replace(event, timestamp=at))


def buy(ledger: Ledger, user: uuid.UUID, qty: str, symbol: str = "AAPL", **kw):
    return ledger.place_order(user, OrderTicket(symbol, BUY, D(qty), **kw))


def sell(ledger: Ledger, user: uuid.UUID, qty: str, symbol: str = "AAPL", **kw):
    return ledger.place_order(user, OrderTicket(symbol, SELL, D(qty), **kw))


def store_close(db, symbol: str, timeframe: str, at: datetime, close: float) -> None:
    frame = pd.DataFrame({"timestamp": [at], "open": [close], "high": [close], "low": [close], "close": [close],
                          "volume": [100.0]})  # fmt: skip
    store = BarStore(db.engine)
    try:
        store.insert(symbol, timeframe, check_frame(frame).valid, source="simulated")
    finally:
        store.close()


@pytest.fixture
def sessions(db):
    return db.session_factory


@pytest.fixture
def loose(make_user):
    """A user whose duplicate-order window does not get in the way of scripted sequences."""
    return lambda name: make_user(name, duplicate_window_seconds=0)


# ----- orders and fills ----------------------------------------------------------------------------------


def test_open_orders_list_working_orders_only_and_recent_orders_everything(sessions, ledger, broker, loose):
    ann = loose("ann")
    filled = buy(ledger, ann, "2")
    fill_at(broker, filled.client_order_id, "2", "100", MON)
    working = buy(ledger, ann, "3", type=OrderType.LIMIT, limit_price=D("95"), time_in_force=TimeInForce.GTC)
    partial = buy(ledger, ann, "4", symbol="MSFT", type=OrderType.LIMIT, limit_price=D("390"))
    fill_at(broker, partial.client_order_id, "1", "390", MON)
    gone = buy(ledger, ann, "1", type=OrderType.LIMIT, limit_price=D("90"))
    ledger.cancel_order(ann, gone.id)

    rows = open_orders(sessions, ann)
    assert [r.id for r in rows] == [working.id, partial.id]
    limit = rows[0]
    assert (limit.symbol, limit.side, limit.order_type, limit.time_in_force) == ("AAPL", "buy", "limit", "gtc")
    assert (limit.qty, limit.filled_qty, limit.limit_price, limit.reserved) == (D(3), D(0), D(95), D(285))
    assert limit.is_open and limit.created_at.tzinfo is UTC
    assert (rows[1].status, rows[1].filled_qty, rows[1].filled_avg_price) == ("partially_filled", D(1), D(390))

    everything = recent_orders(sessions, ann)
    assert [r.id for r in everything] == [gone.id, partial.id, working.id, filled.id]
    assert [r.status for r in everything] == ["canceled", "partially_filled", "accepted", "filled"]
    assert [r.id for r in recent_orders(sessions, ann, limit=2)] == [gone.id, partial.id]


def test_trade_history_is_newest_first_with_realized_pnl_and_fees(sessions, ledger, broker, loose):
    bob = loose("bob")
    entry = buy(ledger, bob, "10")
    fill_at(broker, entry.client_order_id, "6", "100", MON, fee="0.5")
    fill_at(broker, entry.client_order_id, "4", "101", MON + timedelta(minutes=1), fee="0.5")
    exit_ = sell(ledger, bob, "5")
    fill_at(broker, exit_.client_order_id, "5", "110", TUE, fee="1")

    fills = trade_history(sessions, bob)
    assert [(f.side, f.qty, f.price, f.fees) for f in fills] == [
        ("sell", D(5), D(110), D(1)),
        ("buy", D(4), D(101), D("0.5")),
        ("buy", D(6), D(100), D("0.5")),
    ]
    # Cost basis 1004 for 10 shares; selling half removes 502 against 550 of proceeds.
    assert fills[0].realized_pnl == D(48)
    assert fills[0].executed_at == TUE and fills[0].executed_at.tzinfo is UTC
    assert {f.order_id for f in fills} == {entry.id, exit_.id}
    assert all(f.session_id is None and f.symbol == "AAPL" for f in fills)
    assert len(trade_history(sessions, bob, limit=2)) == 2


def test_another_user_never_sees_my_orders_or_fills(sessions, ledger, broker, loose):
    ann, bob = loose("ann"), loose("bob")
    mine = buy(ledger, ann, "2")
    fill_at(broker, mine.client_order_id, "2", "100", MON)
    buy(ledger, ann, "1", type=OrderType.LIMIT, limit_price=D("90"))

    assert open_orders(sessions, bob) == []
    assert recent_orders(sessions, bob) == []
    assert trade_history(sessions, bob) == []
    assert [p.equity for p in equity_curve(sessions, bob)] == [D(100000)]
    assert day_pnl(sessions, bob, LastPrices({"AAPL": D(120)}), now=MON + timedelta(hours=2)).total == 0
    theirs = buy(ledger, bob, "1", type=OrderType.LIMIT, limit_price=D("80"))
    assert theirs.id not in {o.id for o in recent_orders(sessions, ann)}
    assert [o.id for o in open_orders(sessions, bob)] == [theirs.id]


# ----- the realized equity curve -------------------------------------------------------------------------


def test_equity_curve_steps_by_realized_pnl_less_fees_and_ends_at_current_equity(sessions, ledger, broker, loose):
    cat = loose("cat")
    entry = buy(ledger, cat, "10")
    fill_at(broker, entry.client_order_id, "10", "100", MON, fee="1")
    first_exit = sell(ledger, cat, "4")
    fill_at(broker, first_exit.client_order_id, "4", "110", MON + timedelta(hours=1), fee="1")
    second_exit = sell(ledger, cat, "6")
    fill_at(broker, second_exit.client_order_id, "6", "95", TUE, fee="1")

    curve = equity_curve(sessions, cat)
    assert [p.equity for p in curve] == [
        D("100000"),
        D("99999"),  # the buy costs only its fee: the shares are still worth their cost
        D("100038"),  # + (440 - 400) - 1
        D("100007"),  # + (570 - 600) - 1
    ]
    assert [p.at for p in curve[1:]] == [MON, MON + timedelta(hours=1), TUE]
    assert all(p.at.tzinfo is UTC for p in curve)
    assert curve[0].at <= curve[1].at
    # Flat again: the realized curve ends where the portfolio's equity is.
    assert ledger.portfolio(cat).equity == D("100007")

    now = TUE + timedelta(hours=3)
    with_now = equity_curve(sessions, cat, current=(now, D("100007")))
    assert with_now[-1] == EquityPoint(now, D("100007"))
    at, equity = with_now[-1]  # plain pairs for the chart
    assert (at, equity) == (now, D("100007"))
    stale = equity_curve(sessions, cat, current=(MON, D("1")))
    assert stale == curve  # a point earlier than the last fill is not drawn backwards


def test_fills_at_the_same_instant_make_one_point(sessions, ledger, broker, loose):
    dan = loose("dan")
    entry = buy(ledger, dan, "10")
    fill_at(broker, entry.client_order_id, "4", "100", MON, fee="0.25")
    fill_at(broker, entry.client_order_id, "6", "100", MON, fee="0.25")
    assert [p.equity for p in equity_curve(sessions, dan)] == [D("100000"), D("99999.5")]


# ----- day P&L -------------------------------------------------------------------------------------------


def test_trading_day_follows_the_nyse_calendar_in_new_york_time():
    assert trading_day(TUE) == TUE.date()
    # 01:00 UTC on Wednesday is still Tuesday evening in New York.
    assert trading_day(datetime(2026, 3, 4, 1, 0, tzinfo=UTC)) == TUE.date()
    # Saturday and Sunday belong to Friday's session; Good Friday 2026 (April 3) to Thursday's.
    assert trading_day(datetime(2026, 3, 7, 18, 0, tzinfo=UTC)) == date(2026, 3, 6)
    assert trading_day(datetime(2026, 4, 3, 18, 0, tzinfo=UTC)) == date(2026, 4, 2)
    start = day_start(TUE.date())
    assert start == datetime(2026, 3, 3, 0, 0, tzinfo=NEW_YORK) and start.tzinfo is UTC


def test_day_pnl_is_todays_realized_less_fees_plus_the_unrealized_change_since_the_previous_close(
    sessions, db, ledger, broker, prices, loose
):
    eve = loose("eve")
    entry = buy(ledger, eve, "10")
    fill_at(broker, entry.client_order_id, "10", "100", MON, fee="1")
    store_close(db, "AAPL", "1Min", datetime(2026, 3, 2, 20, 59, tzinfo=UTC), 105.0)  # Monday's last minute
    store_close(db, "AAPL", "1Min", datetime(2026, 3, 3, 14, 30, tzinfo=UTC), 107.0)  # today's: not a close
    more = buy(ledger, eve, "5")
    fill_at(broker, more.client_order_id, "5", "106", TUE, fee="1")
    part = sell(ledger, eve, "3")
    fill_at(broker, part.client_order_id, "3", "108", TUE + timedelta(hours=1), fee="1")

    now = TUE + timedelta(hours=3)
    prices.update("AAPL", D(110))
    day = day_pnl(sessions, eve, prices, now=now)
    # Cost 1530 for 15; the sale of 3 removes 306 against 324: realized 18. 12 left cost 1224, worth 1320.
    # At Monday's close the 10 held were worth 1050 against a cost of 1000.
    assert (day.trading_day, day.since) == (TUE.date(), day_start(TUE.date()))
    assert (day.realized, day.fees, day.unrealized_change) == (D(18), D(2), D(96) - D(50))
    assert day.total == D(62)
    assert day.without_previous_close == ()
    # Exactly the change of equity since Monday's close.
    equity_now = ledger.portfolio(eve).equity
    equity_at_monday_close = D(100000) - 1 - 1000 + D(105) * 10
    assert equity_now - equity_at_monday_close == day.total


def test_a_position_closed_today_counts_from_the_previous_close(sessions, db, ledger, broker, loose):
    fay = loose("fay")
    entry = buy(ledger, fay, "10", symbol="MSFT")
    fill_at(broker, entry.client_order_id, "10", "400", MON)
    store_close(db, "MSFT", "1Min", datetime(2026, 3, 2, 23, 0, tzinfo=UTC), 410.0)  # after-hours, Monday
    out = sell(ledger, fay, "10", symbol="MSFT")
    fill_at(broker, out.client_order_id, "10", "405", TUE, fee="2")

    day = day_pnl(sessions, fay, LastPrices({"MSFT": D(999)}), now=TUE + timedelta(hours=1))
    # Realized 50 over the whole holding, but 100 of it was already there at Monday's close.
    assert (day.realized, day.fees, day.unrealized_change, day.total) == (D(50), D(2), D(-100), D(-52))


def test_without_a_stored_close_the_day_counts_since_entry_and_says_so(sessions, db, ledger, broker, loose):
    gus = loose("gus")
    old = buy(ledger, gus, "10")
    fill_at(broker, old.client_order_id, "10", "100", MON)
    fresh = buy(ledger, gus, "2", symbol="MSFT")
    fill_at(broker, fresh.client_order_id, "2", "400", TUE)
    day = day_pnl(sessions, gus, LastPrices({"AAPL": D("101.5"), "MSFT": D(390)}), now=TUE + timedelta(hours=1))
    assert day.without_previous_close == ("AAPL",)  # MSFT was bought today: since entry is right for it
    assert (day.realized, day.fees, day.unrealized_change) == (D(0), D(0), D(15) - D(20))

    # A daily bar stands in when no minute bar precedes the day.
    store_close(db, "AAPL", "1Day", datetime(2026, 3, 2, 0, 0, tzinfo=NEW_YORK), 102.25)
    day = day_pnl(sessions, gus, LastPrices({"AAPL": D("101.5"), "MSFT": D(390)}), now=TUE + timedelta(hours=1))
    assert day.without_previous_close == ()
    assert day.unrealized_change == D("-7.5") - D(20)


def test_on_the_weekend_the_day_is_fridays_session(sessions, db, ledger, broker, loose):
    hal = loose("hal")
    thursday, friday = datetime(2026, 3, 5, 15, tzinfo=UTC), datetime(2026, 3, 6, 15, tzinfo=UTC)
    entry = buy(ledger, hal, "10")
    fill_at(broker, entry.client_order_id, "10", "100", thursday)
    store_close(db, "AAPL", "1Min", datetime(2026, 3, 5, 20, 59, tzinfo=UTC), 101.0)
    half = sell(ledger, hal, "5")
    fill_at(broker, half.client_order_id, "5", "104", friday, fee="1")
    saturday = datetime(2026, 3, 7, 18, 0, tzinfo=UTC)
    day = day_pnl(sessions, hal, LastPrices({"AAPL": D(103)}), now=saturday)
    assert day.trading_day == friday.date()
    # Realized 20 (5 x 4) - fee 1; the 5 still held moved from 101 to 103 and the 5 sold no longer count
    # their unrealized 5 x 1 at Thursday's close: 15 - 10.
    assert day.total == D(20) - 1 + (D(15) - D(10))


def test_the_overview_values_day_pnl_at_the_portfolios_prices(sessions, ledger, broker, prices, loose):
    ida = loose("ida")
    entry = buy(ledger, ida, "10")
    fill_at(broker, entry.client_order_id, "10", "100", MON, fee="1")
    working = buy(ledger, ida, "1", type=OrderType.LIMIT, limit_price=D("90"))
    prices.update("AAPL", D("103"))
    now = MON + timedelta(hours=2)
    overview = load_overview(ledger, sessions, ida, now=now)
    assert overview.portfolio.unrealized_pnl == D(30)
    assert overview.day.total == D(30) - 1  # bought today: since entry, less the fee
    assert [o.id for o in overview.open_orders] == [working.id]
    assert [f.order_id for f in overview.fills] == [entry.id]
    assert overview.equity_curve[-1] == EquityPoint(now, overview.portfolio.equity)
    assert overview.portfolio.equity == D(100000) - 1 + 30
