"""The Portfolio service: what the Portfolio panel shows, read in one call (with the split between the paper
sessions' own books and what is held by hand), and cancelling an open order."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.accounts.defaults import DEFAULT_STARTING_BALANCE
from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.ledger.errors import LedgerError
from core.paper import records
from core.services.portfolio import Portfolio
from core.strategy.library import StrategyDraft, save_strategy
from tests.journal.helpers import T0
from tests.paper import cross_strategy

D = Decimal
CROSS_SOURCE = Path(cross_strategy.__file__).read_text()


@pytest.fixture
def portfolio(ledger, sessions) -> Portfolio:
    return Portfolio(ledger, sessions)


def test_a_fresh_traders_overview_is_their_starting_balance_and_nothing_else(portfolio, make_user):
    overview = portfolio.overview(make_user("ivy"))
    p = overview.portfolio
    assert p.cash == p.buying_power == p.equity == p.starting_balance == DEFAULT_STARTING_BALANCE
    assert not p.positions and overview.open_orders == () and overview.fills == ()
    assert overview.equity_curve[-1].equity == DEFAULT_STARTING_BALANCE


def test_a_filled_buy_shows_as_a_position_a_fill_and_the_equity_curves_end(portfolio, make_user, trade):
    joy = make_user("joy")
    trade(joy, "buy", "10", "100", T0)
    overview = portfolio.overview(joy)
    [position] = overview.portfolio.positions
    assert (position.symbol, position.qty) == ("AAPL", D(10))
    assert [(f.symbol, f.qty) for f in overview.fills] == [("AAPL", D(10))]
    assert overview.equity_curve[-1].equity == overview.portfolio.equity


def test_cancelling_an_open_order_releases_its_reservation(portfolio, ledger, make_user):
    kim = make_user("kim")
    placed = ledger.place_order(kim, OrderTicket("AAPL", OrderSide.BUY, D(5), OrderType.LIMIT, limit_price=D(90)))
    assert [o.id for o in portfolio.overview(kim).open_orders] == [placed.id]

    portfolio.cancel(kim, placed.id)
    after = portfolio.overview(kim)
    assert after.open_orders == () and after.portfolio.reserved == 0


def test_another_traders_order_cannot_be_cancelled(portfolio, ledger, make_user):
    lee, moe = make_user("lee"), make_user("moe")
    placed = ledger.place_order(lee, OrderTicket("AAPL", OrderSide.BUY, D(5), OrderType.LIMIT, limit_price=D(90)))
    with pytest.raises(LedgerError):
        portfolio.cancel(moe, placed.id)
    assert [o.id for o in portfolio.overview(lee).open_orders] == [placed.id]


def _session(db_sessions, user_id, name: str, capital: str, minute: int, *, stopped: bool = False):
    saved = save_strategy(db_sessions, user_id, StrategyDraft(name, CROSS_SOURCE))
    session_id = records.insert_session(
        db_sessions, user_id=user_id, strategy_id=saved.id, strategy_version_id=None, symbols=["AAPL"],
        timeframe="1Min", parameters={}, initial_capital=D(capital), metadata={},
        now=T0 + timedelta(minutes=minute), already_running="running",
    )  # fmt: skip
    if stopped:
        records.finish(db_sessions, session_id, "STOPPED", now=T0 + timedelta(minutes=minute + 1), user_id=user_id)
    return session_id


def test_the_portfolio_shows_each_sessions_book_and_what_is_held_by_hand(
    portfolio, ledger, broker, prices, sessions, make_user, trade
):
    ivy = make_user("ivy")
    trade(ivy, "buy", "10", "100", T0)  # by hand
    running = _session(sessions, ivy, "Running", "20000", 1)
    stopped = _session(sessions, ivy, "Stopped", "10000", 2)
    _session(sessions, ivy, "Idle", "5000", 3)
    _session(sessions, ivy, "Never traded", "1000", 4, stopped=True)
    for session_id, symbol, qty, price in ((running, "AAPL", "5", "100"), (stopped, "MSFT", "2", "400")):
        placed = ledger.place_order(ivy, OrderTicket(symbol, OrderSide.BUY, D(qty)), session_id=session_id)
        event = broker.fill(placed.client_order_id, qty, price, fee="1", deliver=False)
        broker.deliver(dataclasses.replace(event, timestamp=T0 + timedelta(minutes=5)))
    records.finish(sessions, stopped, "STOPPED", now=T0 + timedelta(minutes=6), user_id=ivy)
    prices.update("AAPL", D(110))

    overview = portfolio.overview(ivy)
    split = overview.split
    rows = {row.name: row for row in split.rows}
    assert list(rows) == ["Idle", "Stopped", "Running", "Manual"]  # newest session first, then the manual row
    assert (rows["Running"].capital, rows["Running"].cash, rows["Running"].pnl) == (D(20000), D(19499), D(49))
    assert [(p.symbol, p.qty) for p in rows["Running"].positions] == [("AAPL", D(5))]
    assert (rows["Stopped"].status, rows["Stopped"].pnl) == ("STOPPED", D(-1))
    assert [(p.symbol, p.qty) for p in rows["Stopped"].positions] == [("MSFT", D(2))]
    assert (rows["Idle"].capital, rows["Idle"].positions, rows["Idle"].pnl) == (D(5000), (), D(0))
    manual = split.manual
    assert manual.manual and manual.capital is None and manual.pnl == D(100)
    assert [(p.symbol, p.qty, p.avg_entry_price) for p in manual.positions] == [("AAPL", D(10), D(100))]
    account = overview.portfolio
    assert manual.cash == account.cash + account.reserved - rows["Running"].cash - rows["Idle"].cash
    assert sum(row.pnl for row in split.rows) == account.total_pnl  # every fill belongs to exactly one book
