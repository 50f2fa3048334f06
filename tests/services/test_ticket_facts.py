"""What the order ticket shows before Submit: the symbol's price (live, or the last stored close marked as such),
the estimated cost or proceeds, and the buying power left after the order, valued as the ledger will value it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.accounts.defaults import DEFAULT_STARTING_BALANCE
from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.ledger.prices import LastPrices, PriceOrigin, PriceQuote
from core.ledger.service import Ledger
from core.ledger.stored_prices import StoredCloses
from core.market.store import BarStore
from core.services.order_entry import TicketFacts, estimate_order
from core.services.portfolio import Portfolio
from tests.ledger.manual_broker import ManualBroker
from tests.ledger.test_stored_prices import FRIDAY, bars

D = Decimal
CLOSE = PriceQuote("SPY", D("412.30"), FRIDAY.replace(hour=21), PriceOrigin.STORED)


def facts(buying_power: str = "10000", held: str = "0", quote: PriceQuote | None = CLOSE) -> TicketFacts:
    return TicketFacts("SPY", quote, D(buying_power), D(held))


def test_a_market_buy_costs_qty_times_the_last_price_and_holds_the_collar_too() -> None:
    estimate = estimate_order(OrderTicket("SPY", OrderSide.BUY, D(10)), facts())
    assert estimate.price == D("412.30") and estimate.amount == D("4123.00")
    assert estimate.held == D("4246.69")  # 3% headroom for a market order, as the ledger reserves
    assert estimate.buying_power_after == D("10000") - D("4246.69")


def test_a_limit_buy_is_valued_at_its_limit_price() -> None:
    ticket = OrderTicket("SPY", OrderSide.BUY, D(10), OrderType.LIMIT, limit_price=D(400))
    estimate = estimate_order(ticket, facts())
    assert (estimate.price, estimate.amount, estimate.held, estimate.buying_power_after) == (
        D(400), D(4000), D(4000), D(6000),
    )  # fmt: skip


def test_a_sell_that_closes_shows_its_proceeds_and_holds_nothing() -> None:
    estimate = estimate_order(OrderTicket("SPY", OrderSide.SELL, D(5)), facts(held="10"))
    assert estimate.amount == D("2061.50") and estimate.held == 0 and estimate.buying_power_after == D(10000)


def test_a_sell_beyond_the_position_holds_the_shorts_initial_margin() -> None:
    estimate = estimate_order(OrderTicket("SPY", OrderSide.SELL, D(15)), facts(held="10"))
    assert estimate.held == (D(5) * D("412.30") * D("1.03") * D("0.5")).quantize(D("0.000001"))
    assert estimate.buying_power_after == D(10000) - estimate.held


def test_without_a_price_nothing_is_estimated_and_a_bought_limit_still_is() -> None:
    nothing = estimate_order(OrderTicket("SPY", OrderSide.BUY, D(1)), facts(quote=None))
    assert nothing.price is nothing.amount is nothing.buying_power_after is None
    limit = estimate_order(
        OrderTicket("SPY", OrderSide.BUY, D(1), OrderType.LIMIT, limit_price=D(5)), facts(quote=None)
    )
    assert limit.amount == D(5)


def test_a_quote_for_another_symbol_is_never_used() -> None:
    estimate = estimate_order(OrderTicket("QQQ", OrderSide.BUY, D(1)), facts())
    assert estimate.amount is None


@pytest.fixture
def store(db):
    s = BarStore(db.engine)
    yield s
    s.close()


def test_the_portfolio_reads_the_stored_close_buying_power_and_position(db, sessions, store, make_user) -> None:
    store.insert("SPY", "1Min", bars([412.3], FRIDAY.replace(hour=20, minute=59), "1min"), source="csv_import")
    prices = LastPrices({"AAPL": D(100)}, stored=StoredCloses(db.engine))
    ledger = Ledger(sessions, ManualBroker(), prices)
    portfolio = Portfolio(ledger, sessions, prices=prices)
    ada = make_user("ada")

    first = portfolio.ticket_facts(ada, "spy")
    assert first.symbol == "SPY" and first.buying_power == DEFAULT_STARTING_BALANCE and first.position_qty == 0
    assert first.quote is not None and first.quote.stale and first.quote.price == D("412.3")

    ledger.place_order(ada, OrderTicket("SPY", OrderSide.BUY, D(10), OrderType.LIMIT, limit_price=D(400)))
    after = portfolio.ticket_facts(ada, "SPY")
    assert after.buying_power == DEFAULT_STARTING_BALANCE - D(4000)  # the open buy's reservation is not available

    prices.update("SPY", D("412.55"), datetime(2025, 3, 10, 13, 31, tzinfo=UTC))
    live = portfolio.ticket_facts(ada, "SPY").quote
    assert live is not None and not live.stale and live.price == D("412.55")
