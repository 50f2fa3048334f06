"""Live equals backtest through the club router: the solo composition with the router in between.

The same three days, strategy, sessions and comparison as tests/paper/test_live_equals_backtest.py, but the
ledger sits on a ClubDesk and every order goes through the ClubRouter to the simulated broker: market orders are
netted (the two traders' identical orders on a symbol go out as one) and filled at the broker's next bar,
resting orders (limit, stop, stop-limit, bracket exits) are filled by the router from the bars with the same fill
model, and each trader pays commission as if filled alone. Both traders must still get exactly their backtest's
orders and fills: this is the proof that the router's resting fills are the backtester's.
"""

# ruff: noqa: F811 - the fixtures imported from the unrouted test are requested by name as parameters
from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from core.broker.sim import SimBroker
from core.club.day_orders import UtcMidnightCloses
from core.club.desk import ClubDesk
from core.club.router import ClubRouter
from core.db.database import Database
from core.domain.bars import NormalizedBar
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from tests.paper.helpers import WAIT_S, Market, ScriptedHistory, SimClock
from tests.paper.test_live_equals_backtest import (  # noqa: F401 - fixtures used by name
    FILL_MODEL,
    clock,
    config,
    history,
    parity_problems,
    play,
    prices,
    sessions,
    sim,
)


@pytest.fixture
def router(db: Database, sim: SimBroker, prices: LastPrices, clock: SimClock) -> Iterator[ClubRouter]:
    r = ClubRouter(db.session_factory, sim, prices, fill_model=FILL_MODEL, clock=clock, window_s=0, poll_s=0.2,
                   day_closes=UtcMidnightCloses(), market_from_bars=True)  # fmt: skip
    r.start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def ledger(db: Database, router: ClubRouter, sim: SimBroker, prices: LastPrices, clock: SimClock) -> Ledger:
    return Ledger(db.session_factory, ClubDesk(db.session_factory, router.wake, sim), prices, clock=clock)


class RoutedMarket(Market):
    """Plays bars as the workstation does with a router: the broker, then the router (resting fills), then the
    sessions; the orders they place are routed before the next bar."""

    def __init__(self, clock: SimClock, prices: LastPrices, sim: SimBroker, history: ScriptedHistory,
                 router: ClubRouter) -> None:  # fmt: skip
        super().__init__(clock, prices, sim, history)
        self.router = router

    def feed(self, *bars: NormalizedBar) -> None:
        assert self.manager is not None
        for b in bars:
            self.clock.now = b.end
            self.history.add(b)
            self.prices.update(b.symbol, Decimal(repr(b.close)))
            self.sim.on_bar(b)
            self.router.on_bar(b.symbol, b)
            assert self.router.wait_idle(WAIT_S), "the router did not handle a bar in time"
            self.manager.on_bar(b)
            assert self.manager.wait_idle(WAIT_S), "a session did not handle a bar in time"
            assert self.router.wait_idle(WAIT_S), "the router did not route the bar's orders in time"


@pytest.fixture
def market(clock, prices, sim, history, manager, router) -> RoutedMarket:
    m = RoutedMarket(clock, prices, sim, history, router)
    m.manager = manager
    return m


def test_routed_sessions_place_the_orders_and_get_the_fills_of_their_backtests(db, market, sessions, ledger, router):
    play(market)
    ledger.flush_acceptances()
    router.wait_idle(WAIT_S)
    assert router.stats.errors == []
    problems = parity_problems(db, sessions)
    assert problems == [], "\n".join(problems[:40]) + f"\n({len(problems)} in all)"
    assert router.stats.resting_fills > 0 and router.stats.street_orders > 0
