"""The live half of a running StratForge, composed in one place: feed, bar sink, broker, ledger, quotes.

Two modes, chosen by whether Alpaca keys are configured:
- SIMULATED: the built-in market (core.live.simulated_market) feeds a SimBroker in this process; orders go
  through the club's router (core.club, as on a shared account), which fills them on the next simulated bar
  through the shared fill model and has the SimBroker's account follow the net.
- ALPACA PAPER: the club's shared Alpaca paper account. Orders stay virtual (ClubDesk) until the club's one
  router nets them (core.club: this app when it holds the trade stream's lock, else the club service or another
  member), which sends them through a BudgetedBroker (the Trading API's 200 requests/minute); bars come from the
  club's one data stream (SharedBarFeed).

Every live bar goes through one `LiveBars` sink (validated, stored, then published on its thread). Listeners run
in this order: last prices and quotes, then the simulated broker (so an order placed on a bar can only fill on a
later one), then everyone else (chart, sessions). Nothing here imports Qt: the app marshals to its GUI thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from core.broker.sim import SimBroker
from core.club.day_orders import UtcMidnightCloses
from core.club.desk import ClubDesk
from core.club.router import ClubRouter
from core.db.raw import engine_of
from core.domain.bars import NormalizedBar
from core.domain.clock import utc_now
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.ledger.stored_prices import StoredCloses
from core.ledger.views import OrderDesk
from core.live.simulated_market import DEFAULT_BACKFILL, SimulatedMarket
from core.live.subscriptions import Subscriptions
from core.market.history import HistoryService
from core.market.live import BarListener, LiveBars
from core.market.quotes import QuoteBoard
from core.market.simulated_feed import SimulatedBarFeed
from core.market.store import BarStore
from core.paper.history import store_history
from core.paper.manager import PaperSessionConfig, PaperSessionManager

log = logging.getLogger(__name__)

ROUTER_BAR_TIMEOUT_S = 10.0  # a bar's fills booked before the sessions see it

SIMULATED = "SIMULATED"
ALPACA_PAPER = "ALPACA PAPER"


class BarSource(Protocol):
    """Where published bars come from: a LiveBars sink, or the club's shared feed."""

    def add_listener(self, listener: BarListener) -> None: ...


@dataclass(frozen=True)
class LiveStatus:
    """What the status bar shows about the live connections."""

    mode: str
    feed: str
    feed_ok: bool
    broker: str
    broker_ok: bool
    last_bar_at: datetime | None


class Workstation:
    """Build with `simulated(...)` or `core.live.alpaca_workstation.alpaca(...)`; `start()` on the app's loop,
    `close()` off it. `want`/`release` may be called from any thread."""

    def __init__(
        self,
        mode: str,
        store: BarStore,
        bars: BarSource,
        ledger: Ledger,
        prices: LastPrices,
        *,
        subscribe: Callable[[frozenset[str], frozenset[str]], object],
        run_feed: Callable[[], object] | None = None,
        stop_feed: Callable[[], object] | None = None,
        on_bar_first: BarListener | None = None,
        describe: Callable[[Workstation], tuple[str, bool, str, bool]] | None = None,
        closers: Iterable[Callable[[], object]] = (),
        starters: Iterable[Callable[[], object]] = (),
        feed: object | None = None,
        history: HistoryService | None = None,
        session_factory: sessionmaker[Session] | None = None,
        clock: Callable[[], datetime] | None = None,
        session_config: PaperSessionConfig | None = None,
        orders: OrderDesk | None = None,
        settles: bool = True,
    ) -> None:
        self.mode = mode
        self.feed = feed  # the feed object itself (tests, and a speed control for the simulated one)
        self.history = history  # fetches chart ranges never fetched (Alpaca); None: the store is the history
        self.store = store
        self.ledger = ledger  # reads the account (portfolio, prices); and places orders unless ``orders`` is given
        # Where orders are placed and cancelled: the ledger itself, or in a club a trader's role's requests to the
        # club service (core.club.order_requests), which alone may write orders and money.
        self.orders: OrderDesk = orders if orders is not None else ledger
        self._settles = settles
        self.prices = prices
        self.quotes = QuoteBoard()
        self.subscriptions = Subscriptions()
        self._subscribe = subscribe  # (added, removed) -> awaitable or None, on the loop
        self._run_feed = run_feed
        self._stop_feed = stop_feed
        self._on_bar_first = on_bar_first
        self._describe = describe
        self._closers = list(closers)
        self._starters = list(starters)
        self._listeners: list[BarListener] = []
        self._listeners_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._feed_task: asyncio.Task[None] | None = None
        self._apply_lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="workstation")
        self.last_bar_at: datetime | None = None
        self.bars_seen = 0
        self.last_error: str | None = None
        self._closed = False
        # Paper sessions trade on this workstation's bars, ledger and clock (the simulated clock offline, so a
        # session's day and its orders' day agree with the simulated market's).
        self.sessions: PaperSessionManager | None = None
        if session_factory is not None:
            self.sessions = PaperSessionManager(session_factory, ledger, store_history(store, history), self,
                                           config=session_config, clock=clock or utc_now, orders=orders)  # fmt: skip
            self.add_bar_listener(self.sessions.on_bar)
        bars.add_listener(self._on_bar)

    # ----- lifecycle (loop) -----
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._apply_lock = asyncio.Lock()
        for starter in self._starters:  # blocking joins (leader elections, LISTENs): off the loop
            await self.in_worker(starter)
        if self._run_feed is not None:
            self._feed_task = self._loop.create_task(self._feed(), name="live-feed")
        wanted = self.subscriptions.union()
        if wanted:
            self._spawn_apply(wanted, frozenset())

    async def _feed(self) -> None:
        assert self._run_feed is not None
        try:
            await self._run_feed()  # type: ignore[misc]
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.last_error = f"the market feed stopped: {exc}"
            log.exception("market feed stopped")

    async def stop(self) -> None:
        """Stop the feed task (on the loop); `close()` then releases the rest off the loop."""
        if self._stop_feed is not None:
            try:
                await self._stop_feed()  # type: ignore[misc]
            except Exception:
                log.exception("could not stop the market feed cleanly")
        if self._feed_task is not None:
            try:
                await asyncio.wait_for(self._feed_task, 5)
            except (TimeoutError, asyncio.CancelledError):
                self._feed_task.cancel()
            self._feed_task = None

    def close(self) -> None:
        """Blocking: finish queued bars, stop coordination threads, release connections."""
        if self._closed:
            return
        self._closed = True
        if self.sessions is not None:  # sessions first: their last orders still need the broker and ledger
            try:
                self.sessions.shutdown()
            except Exception:
                log.exception("error while stopping the paper sessions")
        self.ledger.flush_acceptances()  # the last orders' acceptances (settlement would recover them anyway)
        for closer in self._closers:
            try:
                closer()
            except Exception:
                log.exception("error while closing the workstation")
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.store.close()

    # ----- subscriptions (any thread) -----
    def want(self, owner: str, symbols: Iterable[str]) -> None:
        """`owner` now wants exactly `symbols` streamed (thread-safe; applied on the loop)."""
        change = self.subscriptions.set(owner, symbols)
        if change:
            self._schedule(change.added, change.removed)

    def release(self, owner: str) -> None:
        change = self.subscriptions.release(owner)
        if change:
            self._schedule(change.added, change.removed)

    def _schedule(self, added: frozenset[str], removed: frozenset[str]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # start() subscribes everything wanted so far
        loop.call_soon_threadsafe(self._spawn_apply, added, removed)

    def _spawn_apply(self, added: frozenset[str], removed: frozenset[str]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(self._apply(added, removed), name="subscribe")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def applied(self, timeout: float = 30.0) -> None:
        """Wait until the subscription changes asked for so far have been applied, but not ones asked for while
        waiting: the chart waits for its own symbol's history, not for the watchlist's symbols asked for after it
        (on the simulated market each one's backfill would hold the chart's first bars back)."""
        pending = [task for task in self._tasks if not task.done()]
        if not pending:
            return
        done, _ = await asyncio.wait(pending, timeout=timeout)
        if len(done) < len(pending):
            raise TimeoutError("the market subscriptions did not settle in time")

    async def settled(self, timeout: float = 30.0) -> None:
        """Wait until every subscription change asked for so far has been applied (tests, start-up)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            # Only tasks still running: a finished one may stay in the set until its done-callback runs, and
            # waiting on it again would spin without ever yielding to the event loop.
            pending = [task for task in self._tasks if not task.done()]
            if not pending:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("the market subscriptions did not settle in time")
            await asyncio.wait(pending, timeout=remaining)

    async def _apply(self, added: frozenset[str], removed: frozenset[str]) -> None:
        assert self._apply_lock is not None
        async with self._apply_lock:
            try:
                result = self._subscribe(added, removed)
                if asyncio.iscoroutine(result):
                    await result
            except Exception as exc:
                self.last_error = f"could not subscribe {', '.join(sorted(added)) or 'symbols'}: {exc}"
                log.exception("subscription change failed")

    async def in_worker(self, fn: Callable[..., object], *args: object) -> object:
        """Run a blocking call on the workstation's own threads (never the loop's default executor)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, lambda: fn(*args))

    # ----- bars (the LiveBars thread) -----
    def add_bar_listener(self, listener: BarListener) -> None:
        with self._listeners_lock:
            self._listeners.append(listener)

    def remove_bar_listener(self, listener: BarListener) -> None:
        with self._listeners_lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _on_bar(self, bar: NormalizedBar) -> None:
        self.prices.update(bar.symbol, Decimal(repr(bar.close)))
        self.quotes.update(bar)
        self.last_bar_at = bar.timestamp
        self.bars_seen += 1
        if self._on_bar_first is not None:
            self._on_bar_first(bar)
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(bar)
            except Exception:
                log.exception("live bar listener failed")

    # ----- status -----
    def status(self) -> LiveStatus:
        if self._describe is not None:
            feed, feed_ok, broker, broker_ok = self._describe(self)
        else:
            feed, feed_ok, broker, broker_ok = "feed", True, "broker", True
        if self.last_error:
            feed, feed_ok = f"{feed} — {self.last_error}", False
        return LiveStatus(self.mode, feed, feed_ok, broker, broker_ok, self.last_bar_at)

    def settle(self, user_id: uuid.UUID) -> int:
        """Blocking: bring this user's orders that changed while the app was closed up to date (0 where the club
        service settles them: a trader's role cannot book)."""
        if not self._settles:
            return 0
        return self.ledger.settle_user(user_id)


def simulated(
    store: BarStore,
    session_factory: sessionmaker[Session],
    *,
    speed: float = 1.0,
    seed: int | None = None,
    backfill: timedelta = DEFAULT_BACKFILL,
    clock: Callable[[], datetime] | None = None,
) -> Workstation:
    """The offline workstation: the built-in market, a SimBroker, and the ledger over them."""
    live = LiveBars(store, name="live-bars")
    feed = SimulatedBarFeed(live, speed=speed, seed=seed if seed is not None else time.time_ns() % 2**31,
                            now=clock or (lambda: datetime.now(UTC)))  # fmt: skip
    market = SimulatedMarket(store, feed, backfill=backfill, clock=feed.sim_now)
    broker = SimBroker(clock=feed.sim_now)  # simulated orders live on the simulated clock (day orders expire)
    # Until the feed prices a symbol the ledger values it at its last stored close; the router never crosses there.
    prices = LastPrices(stored=StoredCloses(engine_of(session_factory)))
    # The same router as the club's, on the simulated account: the simulated market's prices are the fill
    # model's, so every order is filled from the bars as a backtest fills it and the account follows the net.
    router = ClubRouter(session_factory, broker, prices.live_only, fill_model=broker.fill_model, clock=feed.sim_now,
                        day_closes=UtcMidnightCloses(), market_from_bars=True)  # fmt: skip
    ledger = Ledger(session_factory, ClubDesk(session_factory, router.wake, broker), prices, clock=feed.sim_now)

    def on_bar_first(bar: NormalizedBar) -> None:
        """The account first, then the router's fills of the bar, before anyone (a session) decides on it."""
        broker.on_bar(bar)
        router.on_bar(bar.symbol, bar)
        if not router.wait_idle(ROUTER_BAR_TIMEOUT_S):
            log.warning("the router did not finish the %s bar of %s in time", bar.timestamp, bar.symbol)

    holder: dict[str, Workstation] = {}

    async def subscribe(added: frozenset[str], removed: frozenset[str]) -> None:
        ws = holder["ws"]
        for symbol in sorted(added):
            await ws.in_worker(market.prepare, symbol)
        if added:
            await feed.subscribe(added)
        if removed:
            await feed.unsubscribe(removed)

    def describe(ws: Workstation) -> tuple[str, bool, str, bool]:
        symbols = len(feed.symbols)
        last = f", last bar {ws.last_bar_at:%H:%M} UTC" if ws.last_bar_at else ""
        speed_note = "" if speed == 1 else f" at {speed:g}x"
        return f"Feed: simulated{speed_note}, {symbols} symbol(s){last}", True, "Broker: simulated (local)", True

    ws = Workstation(
        SIMULATED, store, live, ledger, prices, subscribe=subscribe, run_feed=feed.run, stop_feed=feed.stop,
        on_bar_first=on_bar_first, describe=describe, feed=feed, closers=[lambda: live.close(5.0), router.stop],
        starters=[router.start],
        session_factory=session_factory, clock=feed.sim_now,
    )  # fmt: skip
    holder["ws"] = ws
    return ws
