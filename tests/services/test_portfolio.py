"""The Portfolio service: what the Portfolio panel shows, read in one call, and cancelling an open order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.accounts.defaults import DEFAULT_STARTING_BALANCE
from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.ledger.errors import LedgerError
from core.services.portfolio import Portfolio
from tests.journal.helpers import T0

D = Decimal


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
