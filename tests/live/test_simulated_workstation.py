"""The offline workstation end to end: the built-in market stores history, continues it live, and orders placed
through the ledger fill on later simulated bars."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.accounts import AccountService
from core.db.database import Database
from core.domain.bars import NormalizedBar
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.live.simulated_market import SimulatedMarket
from core.live.workstation import SIMULATED, simulated
from core.market.simulated_feed import SimulatedBarFeed
from core.market.store import BarStore

PASSWORD = "Tr4ding-Pass-2026"
SPEED = 1200.0  # a simulated minute every 50 ms


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def test_history_is_stored_then_continued_live_and_orders_fill(db: Database, accounts: AccountService) -> None:
    user = accounts.sign_up("sim@example.com", "sim", PASSWORD)
    ws = simulated(BarStore(db.engine), db.session_factory, speed=SPEED, seed=7, backfill=timedelta(hours=2))
    seen: list[NormalizedBar] = []
    ws.add_bar_listener(seen.append)

    async def scenario() -> None:
        ws.want("chart", ["aapl"])
        await ws.start()
        await ws.settled()
        stored = ws.store.load("AAPL", "1Min")
        assert 119 <= len(stored.t) <= 121  # two hours of minutes up to the minute in progress
        await until(lambda: len(seen) >= 2)
        first = seen[0]
        assert first.timestamp.timestamp() == stored.t[-1] + 60  # the next minute, no gap
        assert first.open == stored.close[-1]  # and no price jump
        assert ws.prices.last_price("AAPL") is not None and ws.quotes.quote("AAPL") is not None
        placed = await asyncio.to_thread(
            ws.ledger.place_order, user.id, OrderTicket("AAPL", OrderSide.BUY, Decimal("3"))
        )
        await until(lambda: any(p.symbol == "AAPL" for p in ws.ledger.portfolio(user.id).positions))
        position = next(p for p in ws.ledger.portfolio(user.id).positions if p.symbol == "AAPL")
        assert position.qty == Decimal("3") and placed.client_order_id.startswith("sf-")
        status = ws.status()
        assert status.mode == SIMULATED and status.feed_ok and "1 symbol" in status.feed
        ws.release("chart")
        await ws.settled()
        await until(lambda: not ws.feed.symbols)
        await ws.stop()

    try:
        asyncio.run(scenario())
    finally:
        ws.close()


class Dropped:
    """A feed sink for tests that only prepare history."""

    def put(self, bar: object) -> None: ...

    def publish_stored(self, bars: object) -> None: ...


def prepare_at(db: Database, when: datetime, symbol: str = "MSFT") -> int:
    store = BarStore(db.engine)
    try:
        feed = SimulatedBarFeed(Dropped(), seed=3, now=lambda: when)
        return SimulatedMarket(store, feed, backfill=timedelta(minutes=30), clock=lambda: when).prepare(symbol)
    finally:
        store.close()


def test_a_restart_continues_the_stored_series_and_a_long_absence_leaves_a_gap(db: Database) -> None:
    t0 = datetime(2026, 11, 23, 15, 0, 30, tzinfo=UTC)
    assert prepare_at(db, t0) == 30  # 14:30 .. 14:59, the 15:00 bar is still forming
    assert prepare_at(db, t0 + timedelta(minutes=10)) == 10
    store = BarStore(db.engine)
    try:
        bars = store.load("MSFT", "1Min")
        steps = set(map(float, (bars.t[1:] - bars.t[:-1])))
        assert len(bars.t) == 40 and steps == {60.0}  # consecutive minutes
        assert bars.open[30] == bars.close[29]  # the restart continues the price
        last_close = float(bars.close[-1])
        assert prepare_at(db, t0 + timedelta(days=2)) == 30  # only the backfill window, after a gap
        later = store.load("MSFT", "1Min", t0 + timedelta(days=1))
        assert len(later.t) == 30 and later.open[0] == last_close
    finally:
        store.close()


def test_applied_waits_for_the_changes_asked_so_far(db: Database) -> None:
    """The chart waits for its own symbol's history; the watchlist's symbols asked for after it may still be
    preparing (on the simulated market each one is a backfill)."""
    ws = simulated(BarStore(db.engine), db.session_factory, speed=1.0, seed=3, backfill=timedelta(hours=1))

    async def scenario() -> None:
        await ws.start()
        ws.want("chart", ["MSFT"])
        await asyncio.sleep(0)  # the change is scheduled on the loop, as a chart's open() does it
        waiting = asyncio.ensure_future(ws.applied())
        ws.want("watchlist", ["AAPL", "NVDA", "QQQ", "IWM", "DIA"])
        await waiting
        assert len(ws.store.load("MSFT", "1Min").t) >= 59  # the chart's history is there
        await ws.settled()  # and settled() waits for every change, the watchlist's too
        for symbol in ("AAPL", "NVDA", "QQQ", "IWM", "DIA"):
            assert len(ws.store.load(symbol, "1Min").t) >= 59
        await ws.stop()

    try:
        asyncio.run(scenario())
    finally:
        ws.close()
