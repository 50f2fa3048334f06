"""Paper sessions benchmark: 20 sessions x 5 symbols on one-minute bars, each trader's strategy in a confined host.

    python -m bench.sessions [--quick] [--url postgresql://...]

Without --url (or STRATFORGE_TEST_DATABASE_URL) an embedded PostgreSQL is started in a temporary folder. The
sessions run for real: the PaperSessionManager, the Ledger on a scratch database, the SimBroker filling orders at
the next bar; bars are replayed as fast as the sessions consume them (every symbol's bar of a minute offered, then
the next minute once every session has handled it).

* ``decision_p50_ms``, ``decision_p99_ms``: bar offered to a session -> its strategy's intents back (the session's
  book read from the database, and the round trip to its host), over every decision of the confined run after the
  first bar (which waits for the sessions to start). Every session gets its 5 bars at the same moment, so on 2
  cores the figure is mostly the time a decision waits for the others: ``decision_1_session_p50_ms`` and
  ``_p99_ms`` are the same replay with one session, alone.
* ``sandbox_overhead_x``: the confined run's median decision against the same strategy run in-process by the same
  sessions on the same bars (a second run on a fresh database); ``decide_only_overhead_x``: the same ratio for the
  strategy call alone (host round trip against a direct call), outside the sessions.
* ``host_start_ms``: a new host, from nothing to ready (the template warm), median of several.
* ``host_uss_mb``: unique memory (Private_Clean + Private_Dirty) of each extra host once it holds a session's
  strategies for 5 symbols.
* ``parity_mismatches``: fills that differ between a session replayed through the confined host and
  ``run_backtest`` over the same bars (``core.paper.parity``).
* ``sweep_100_confined_x``: a trader's strategy source swept over 100 (fast, slow) combinations on 1,000,000 bars
  through the confined hosts (``LocalExecutor``), over ``bench.backtest``'s in-process ``sweep_100_s``, both
  measured here (``sweep_100_s``, ``sweep_100_confined_s``).

``--quick``: 4 sessions, 40 live bars, 100,000 bars and 10 combinations for the sweep (the names then say so).
"""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from bench.backtest import SmaCross, series
from bench.common import admin_server, cpu_reference_ms, drop_database, emit, percentile, scratch_url
from core.backtest.executors import LocalExecutor
from core.backtest.strategy_ref import StrategyRef
from core.backtest.sweep import SweepRun, run_sweep
from core.domain.bars import BarArrays, NormalizedBar, to_arrays
from core.paper.decider import DecisionLimits, HostDecider, InProcessDecider
from core.strategy.api import BarData, Strategy
from core.strategy.sandbox import StrategyHost

SYMBOLS = ("AAA", "BBB", "CCC", "DDD", "EEE")
WINDOW = 500
T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
# The trader's strategy, as source text (it runs in a confined host) and as a class compiled from the same text
# (the in-process yardstick): an SMA cross that trades a fixed share count, so cash never binds.
SESSION_SOURCE = '''
from core.strategy.api import Param, Strategy
from core.strategy.indicators import sma


class BenchCross(Strategy):
    fast = Param(5, min=2, max=100)
    slow = Param(20, min=3, max=300)

    def init(self, data):
        self.f = self.indicator(sma(data.close, self.fast))
        self.s = self.indicator(sma(data.close, self.slow))
        self.crosses = 0

    def next(self, data):
        if self.f[-1] > self.s[-1] and self.position == 0:
            self.crosses += 1
            self.buy(shares=10)
        elif self.f[-1] < self.s[-1] and self.position > 0:
            self.sell(shares=self.position)
'''
# bench.backtest's SmaCross as a trader would submit it: the same class, so the two sweeps run the same code
SWEEP_SOURCE = (
    "import numpy as np\n"
    "from core.strategy.api import BarData, Param, SignalStrategy\n"
    "from core.strategy.indicators import sma\n\n\n" + inspect.getsource(SmaCross)
)


def trusted_class(source: str, name: str) -> type[Strategy]:
    """The class our own benchmark source defines, compiled in this process (the in-process yardstick)."""
    namespace: dict[str, Any] = {"__name__": "bench_strategy"}
    exec(compile(source, "<bench>", "exec"), namespace)  # our own constant source, not a trader's
    cls = namespace[name]
    cls.__module__ = "bench.sessions"
    return cls


def minute_bars(n: int, first: datetime, seed: int) -> dict[str, list[NormalizedBar]]:
    """``n`` one-minute bars per symbol from ``first``: seeded random walks with opens, highs, lows, volumes."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[NormalizedBar]] = {}
    for k, symbol in enumerate(SYMBOLS):
        close = (50 + 20 * k) * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
        opens = np.r_[close[0], close[:-1]]
        spread = np.abs(rng.normal(0, 0.001, n)) * close
        volume = rng.integers(1_000, 50_000, n).astype(float)
        high, low = np.maximum(opens, close) + spread, np.minimum(opens, close) - spread
        out[symbol] = [
            NormalizedBar(symbol, "1Min", first + timedelta(minutes=i), float(opens[i]), float(high[i]),
                          float(low[i]), float(close[i]), float(volume[i]), source="bench")
            for i in range(n)
        ]  # fmt: skip
    return out


class History:
    """The history loader sessions read their windows from: every bar offered so far, by symbol."""

    def __init__(self, bars: dict[str, list[NormalizedBar]]) -> None:
        self._lock = threading.Lock()
        self.bars = {s: list(b) for s, b in bars.items()}

    def add(self, bar: NormalizedBar) -> None:
        with self._lock:
            self.bars[bar.symbol].append(bar)

    def __call__(self, symbol: str, timeframe: str, count: int, until: datetime) -> BarArrays:
        with self._lock:
            bars = [b for b in self.bars.get(symbol, []) if b.timestamp < until]
        return to_arrays(bars[-count:])


class NoSubscriptions:
    def want(self, owner: str, symbols: Iterable[str]) -> None:
        pass

    def release(self, owner: str) -> None:
        pass


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class ReplayResult:
    decisions: list[float]  # seconds, bar offered -> intents back
    session_ids: list[uuid.UUID]
    mismatches: list[str]  # the sessions' orders and fills against run_backtest's, symbol by symbol
    compared_fills: int


def replay(url: str, sessions: int, live: int, *, confined: bool) -> ReplayResult:
    """``sessions`` traders' sessions on SYMBOLS over ``live`` minutes, on a fresh database at ``url``."""
    from core.accounts import AccountService
    from core.broker.sim import SimBroker
    from core.db import migrate
    from core.db.engine import make_engine, make_session_factory
    from core.ledger.prices import LastPrices
    from core.ledger.service import Ledger
    from core.paper.manager import PaperSessionConfig, PaperSessionManager
    from core.strategy.library import StrategyDraft, save_strategy

    engine = make_engine(url, pool_size=sessions + 8, max_overflow=8)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    history_bars = minute_bars(WINDOW + live, T0 - timedelta(minutes=WINDOW), seed=11)
    history = History({s: b[:WINDOW] for s, b in history_bars.items()})
    clock = Clock(T0)
    sim = SimBroker(clock=clock)
    prices = LastPrices({s: Decimal(repr(b[WINDOW - 1].close)) for s, b in history_bars.items()})
    ledger = Ledger(factory, sim, prices)
    config = PaperSessionConfig(window_bars=WINDOW, cpu_seconds=5.0, memory_mb=1024)
    manager = PaperSessionManager(factory, ledger, history, NoSubscriptions(), config=config, clock=clock)
    accounts = AccountService(factory)
    builtin = None if confined else trusted_class(SESSION_SOURCE, "BenchCross")
    ids = []
    try:
        for i in range(sessions):
            user = accounts.sign_up(f"bench{i}@example.com", f"bench{i}", "Bench-Pass-2026x").id
            loosen_risk(factory, user)
            saved = save_strategy(factory, user, StrategyDraft("BenchCross", SESSION_SOURCE))
            info = manager.start(user, saved.id, list(SYMBOLS), builtin=builtin, capital=Decimal(50_000))
            ids.append(info.id)
        for minute in range(WINDOW, WINDOW + live):
            for symbol in SYMBOLS:
                bar = history_bars[symbol][minute]
                clock.now = bar.end
                history.add(bar)
                prices.update(symbol, Decimal(repr(bar.close)))
                sim.on_bar(bar)
                manager.on_bar(bar)
            if not manager.wait_idle(120):
                raise RuntimeError("a session did not keep up within two minutes")
            if minute == WINDOW:  # the first bar waited for every session to load and start its strategy
                manager.forget_decision_seconds()
        decisions = list(manager.decision_seconds())
        manager.shutdown()
        mismatches, compared = parity(factory, ids, history_bars, live)
    finally:
        manager.shutdown()
        engine.dispose()
    return ReplayResult(decisions, ids, mismatches, compared)


def loosen_risk(factory: Any, user: uuid.UUID) -> None:
    """No duplicate-order window (it is wall-clock time: a replay a hundred times faster than the market repeats
    an order within seconds) and limits the benchmark's 10-share trades never reach: the backtest models no risk
    rules, and the replay compares decisions and fills, not the account guard."""
    from sqlalchemy import update

    from core.db.models import RiskSettings

    with factory() as s:
        s.execute(update(RiskSettings).where(RiskSettings.user_id == user).values(duplicate_window_seconds=0,
                                                                                  max_open_orders=1000))  # fmt: skip
        s.commit()


def parity(factory: Any, session_ids: list[uuid.UUID], bars: dict[str, list[NormalizedBar]],
           live: int) -> tuple[list[str], int]:  # fmt: skip
    """Every session's orders and fills on each symbol against ``run_backtest`` over that symbol's window and live
    bars (the window as warm-up, the session's capital as cash: the strategy trades 10 shares, so one book for five
    symbols never binds and each symbol's backtest stands alone)."""
    from core.backtest.engine import BacktestConfig, run_backtest
    from core.paper.parity import (
        backtest_fills,
        backtest_orders,
        compare_fills,
        compare_orders,
        session_fills,
        session_orders,
    )  # fmt: skip

    cls = trusted_class(SESSION_SOURCE, "BenchCross")
    config = BacktestConfig(starting_cash=Decimal(50_000), warmup_bars=WINDOW, close_at_end=False)
    expected = {}
    for symbol, rows in bars.items():
        data = BarData.from_arrays(symbol, *to_arrays(rows[: WINDOW + live]).columns())
        run = run_backtest(cls(), data, config)
        expected[symbol] = (backtest_fills(run, symbol), backtest_orders(run, symbol))
    mismatches: list[str] = []
    compared = 0
    for session_id in session_ids:
        fills, orders = session_fills(factory, session_id), session_orders(factory, session_id)
        for symbol, (want_fills, want_orders) in expected.items():
            got_fills = [f for f in fills if f.symbol == symbol]
            mismatches += compare_fills(got_fills, want_fills)
            mismatches += compare_orders([o for o in orders if o.symbol == symbol], want_orders)
            compared += len(want_fills)
    return mismatches, compared


def decide_only_overhead(live: int) -> float:
    """Median host round trip over median direct call, same strategy, same bars, one session's 5 symbols."""
    bars = minute_bars(WINDOW + live, T0, seed=5)
    windows = {s: BarData.from_arrays(s, *to_arrays(b[:WINDOW]).columns()) for s, b in bars.items()}
    account = {"cash": 50_000.0, "equity": 50_000.0, "position": 0.0, "position_price": None}
    accounts = dict.fromkeys(SYMBOLS, account)
    cancel = threading.Event()
    timings: dict[str, list[float]] = {"host": [], "local": []}
    hosted = HostDecider(SESSION_SOURCE, "BenchCross", {}, DecisionLimits())
    local = InProcessDecider(trusted_class(SESSION_SOURCE, "BenchCross"), {})
    try:
        for decider in (hosted, local):
            decider.open(windows, accounts, cancel)
        for minute in range(WINDOW, WINDOW + live):
            new = {s: [[b[minute].timestamp.timestamp(), b[minute].open, b[minute].high, b[minute].low,
                        b[minute].close, b[minute].volume]] for s, b in bars.items()}  # fmt: skip
            for name, decider in (("host", hosted), ("local", local)):
                started = time.perf_counter()
                decider.decide(new, accounts, cancel)
                timings[name].append(time.perf_counter() - started)
    finally:
        hosted.close()
    return statistics.median(timings["host"]) / statistics.median(timings["local"])


def host_figures(count: int) -> tuple[float, float]:
    """(median start ms, mean USS MB) of ``count`` hosts started one after another, each holding 5 symbols."""
    bars = minute_bars(WINDOW, T0, seed=9)
    windows = {s: BarData.from_arrays(s, *to_arrays(b).columns()) for s, b in bars.items()}
    account = {"cash": 50_000.0, "equity": 50_000.0, "position": 0.0, "position_price": None}
    StrategyHost(SESSION_SOURCE, "BenchCross").close()  # the template starts once, outside the timing
    hosts: list[StrategyHost] = []
    starts: list[float] = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            host = StrategyHost(SESSION_SOURCE, "BenchCross", drivers=("core.paper.live_host:open_book",))
            starts.append(time.perf_counter() - started)
            hosts.append(host)
            host.call("core.paper.live_host:open_book", (windows, {}, dict.fromkeys(SYMBOLS, account)))
        uss = [unique_mb(h.pid) for h in hosts]
    finally:
        for host in hosts:
            host.close()
    return statistics.median(starts) * 1e3, statistics.mean(uss)


def unique_mb(pid: int) -> float:
    """Private_Clean + Private_Dirty of ``pid`` (what it alone holds: its share of nothing), in MB."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total / 1024


def sweep_ratio(n: int, combos: int) -> tuple[float, float]:
    """(in-process seconds, confined seconds) of the same sweep: the SMA cross's grid on ``n`` bars."""
    data = series(n)
    grid = [(f, s) for f in (5, 8, 10, 12, 15, 20, 25, 30, 40, 50) for s in (60, 80, 100, 120, 150, 200, 250, 300, 400,
                                                                             500)][:combos]  # fmt: skip
    assignments = [{"fast": f, "slow": s} for f, s in grid]
    started = time.perf_counter()
    in_process = run_sweep(SmaCross, data, assignments)  # the class SWEEP_SOURCE is the source of
    local_s = time.perf_counter() - started
    done: list[SweepRun] = []
    started = time.perf_counter()
    LocalExecutor().run(StrategyRef("SmaCross", source=SWEEP_SOURCE), data, list(enumerate(assignments)), None,
                        on_chunk=done.extend)  # fmt: skip
    confined_s = time.perf_counter() - started
    failed = [r.error for r in done if r.error]
    if failed or len(done) != len(assignments):
        raise RuntimeError(f"the confined sweep failed: {failed[:1]}")
    ours = {r.index: r.metrics for r in done}
    theirs = dict(enumerate(r.metrics for r in in_process))
    if ours != theirs:
        raise RuntimeError("the confined sweep's metrics differ from the in-process sweep's")
    return local_s, confined_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--url", default=os.environ.get("STRATFORGE_TEST_DATABASE_URL"))
    args = parser.parse_args()
    sessions, live = (4, 40) if args.quick else (20, 200)
    emit("cpu_reference_ms", cpu_reference_ms(), "ms", measures="this machine's speed now (bench.common)")

    start_ms, uss_mb = host_figures(5 if args.quick else 10)
    emit("host_start_ms", start_ms, "ms", measures="median of new hosts, template warm")
    emit("host_uss_mb", uss_mb, "MB", measures="mean unique memory of a host holding 5 symbols' strategies")

    with admin_server(args.url, "sf-bench-sessions-") as admin:
        results = {}
        for key, count, confined in (("alone", 1, True), (True, sessions, True), (False, sessions, False)):
            url = scratch_url(admin)
            try:
                results[key] = replay(url, count, live, confined=confined)
            finally:
                drop_database(admin, url)
    alone = sorted(results["alone"].decisions)
    emit("decision_1_session_p50_ms", percentile(alone, 0.5) * 1e3, "ms", symbols=len(SYMBOLS), bars=live)
    emit("decision_1_session_p99_ms", percentile(alone, 0.99) * 1e3, "ms")
    hosted = sorted(results[True].decisions)
    local = sorted(results[False].decisions)
    emit("decision_p50_ms", percentile(hosted, 0.5) * 1e3, "ms", sessions=sessions, symbols=len(SYMBOLS),
         bars=live, decisions=len(hosted))  # fmt: skip
    emit("decision_p99_ms", percentile(hosted, 0.99) * 1e3, "ms")
    emit("decision_p50_in_process_ms", percentile(local, 0.5) * 1e3, "ms")
    emit("decision_p99_in_process_ms", percentile(local, 0.99) * 1e3, "ms")
    emit("sandbox_overhead_x", percentile(hosted, 0.5) / percentile(local, 0.5), "x",
         measures="median decision, confined host over in-process, same sessions and bars")  # fmt: skip
    emit("decide_only_overhead_x", decide_only_overhead(live), "x", measures="the strategy call alone")
    confined = results[True]
    emit("parity_mismatches", len(confined.mismatches), "mismatches", compared_fills=confined.compared_fills,
         first=confined.mismatches[:3])  # fmt: skip

    n, combos = (100_000, 10) if args.quick else (1_000_000, 100)
    local_s, confined_s = sweep_ratio(n, combos)
    suffix = f"{combos}" if not args.quick else f"{combos}_100k"
    emit(f"sweep_{suffix}_s", local_s, "s", bars=n, combinations=combos, workers=os.cpu_count())
    emit(f"sweep_{suffix}_confined_s", confined_s, "s", bars=n, combinations=combos)
    emit(f"sweep_{suffix}_confined_x", confined_s / local_s, "x")


if __name__ == "__main__":
    main()
