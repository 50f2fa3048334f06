"""Live equals backtest: three days of one-minute bars through real paper sessions and through ``run_backtest``.

The sessions run as the workstation runs them: the PaperSessionManager with the SimBroker, the Ledger and the
database, each bar fed to the last prices, then the broker (next-bar fills), then the sessions (``Market``). The
backtest runs the same class over the same bars, the session's history window as its warm-up
(``BacktestConfig.warmup_bars`` = ``PaperSessionConfig.window_bars``, the bars ``ScriptedHistory`` holds before the
first live bar). Both must place the same orders and get the same fills, trade for trade: bar, side, quantity,
price and fee (``core.paper.parity``).

How money maps: a backtest is one symbol with one cash, while a session trading several symbols has one book for
all of them, so the order its symbols are decided in would decide which of them gets the cash. The comparison is
therefore one session per symbol, each with its own capital equal to the backtest's starting cash: the strategy
sizes by percent of cash and of equity, and those must be the backtest's own numbers, not a share of a pool.
Each session is a saved strategy of its own (a strategy runs as one active session at a time); the trader's
source in the confined host and the built-in class run side by side for two traders, on the same bars.

The strategy (``tests.paper.parity_strategy.Parity``) takes turns through market, limit (a ladder of two), stop,
stop-limit and bracket buys, a percent-of-equity target, and target, limit and stop exits, chosen by counters it
keeps on ``self``. The broker charges a commission and slips market and stop fills, so fees and prices are
compared too.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from core.backtest.engine import BacktestConfig, BacktestRun, run_backtest
from core.broker.fill_costs import FixedSlippage, PerShareCommission
from core.broker.fill_model import FillModel
from core.broker.sim import SimBroker
from core.db.database import Database
from core.domain.bars import BarArrays, NormalizedBar
from core.ledger.prices import LastPrices
from core.paper.manager import PaperSessionConfig, PaperSessionManager
from core.paper.parity import (
    backtest_fills,
    backtest_orders,
    compare_fills,
    compare_orders,
    session_fills,
    session_orders,
)
from core.strategy.api import BarData
from core.strategy.library import StrategyDraft, save_strategy
from tests.paper import parity_strategy
from tests.paper.helpers import Market, ScriptedHistory, SimClock
from tests.paper.parity_strategy import Parity

D = Decimal
SYMBOLS = ("ALFA", "BRAVO", "CHARL")
DAYS = (datetime(2025, 3, 3, 14, 30, tzinfo=UTC), datetime(2025, 3, 4, 14, 30, tzinfo=UTC),
        datetime(2025, 3, 5, 14, 30, tzinfo=UTC))  # fmt: skip
PER_DAY = 390  # 09:30-16:00 New York
# The sessions start at 14:30 on the second day with the bars so far as their window (the backtest's warm-up),
# and play the afternoon, the night's gap and the third morning live: 180 minutes of three symbols for two
# traders' sessions each (about 40 s here, spent mostly in the sessions' database writes per bar).
WINDOW = PER_DAY + 300
LIVE = 180
RUNNERS = ("host", "builtin")
CAPITAL = D("30000")
FILL_MODEL = FillModel(slippage=FixedSlippage(D("0.01")), commission=PerShareCommission(D("0.005"), D("1")))
SOURCE = Path(parity_strategy.__file__).read_text()
LOOSE_RISK = {
    "daily_loss_limit": D("1000000"), "max_position_size": D("1000000"), "max_order_value": D("1000000"),
    "max_open_orders": 1000, "max_drawdown_percent": D("100"), "max_risk_per_trade": D("100"),
    "duplicate_window_seconds": 0,
}  # fmt: skip


def walk(symbol: str, start: float, seed: int) -> list[NormalizedBar]:
    """Three trading days of one-minute bars: a seeded random walk on cents, gapping overnight, with highs and
    lows around the open and close and a volume that varies."""
    rng = np.random.default_rng(seed)
    bars: list[NormalizedBar] = []
    close = start
    for day in DAYS:
        close *= float(np.exp(rng.normal(0, 0.01)))  # the overnight gap
        for minute in range(min(PER_DAY, WINDOW + LIVE - len(bars))):
            open_ = round(close * float(np.exp(rng.normal(0, 0.0003))), 2)
            close = round(open_ * float(np.exp(rng.normal(0, 0.0012))), 2)
            high = round(max(open_, close) * (1 + abs(float(rng.normal(0, 0.0008)))) + 0.005, 2)
            low = round(min(open_, close) * (1 - abs(float(rng.normal(0, 0.0008)))) - 0.005, 2)
            volume = int(rng.lognormal(9, 0.6))
            bars.append(NormalizedBar(symbol, "1Min", day + timedelta(minutes=minute), open_, high, low, close,
                                      volume, source="test"))  # fmt: skip
    return bars


BARS = {s: walk(s, start, seed) for s, start, seed in zip(SYMBOLS, (42.0, 87.5, 151.0), (7, 8, 9), strict=True)}


class LoadedHistory(ScriptedHistory):
    """The scripted history, which also tells when every session has read its window (before the first live bar
    is fed, or the window would take that bar in)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.read = threading.Condition()

    def __call__(self, symbol: str, timeframe: str, count: int, until: datetime) -> BarArrays:
        arrays = super().__call__(symbol, timeframe, count, until)
        with self.read:
            self.reads += 1
            self.read.notify_all()
        return arrays

    def wait_reads(self, n: int) -> None:
        with self.read:
            assert self.read.wait_for(lambda: self.reads >= n, 30), "a session did not load its history"


@pytest.fixture
def clock() -> SimClock:
    return SimClock(BARS[SYMBOLS[0]][WINDOW - 1].end)


@pytest.fixture
def history() -> LoadedHistory:
    h = LoadedHistory()
    for bars in BARS.values():
        h.add(*bars[:WINDOW])
    return h


@pytest.fixture
def prices() -> LastPrices:
    return LastPrices({s: D(repr(bars[WINDOW - 1].close)) for s, bars in BARS.items()})


@pytest.fixture
def sim(clock: SimClock) -> SimBroker:
    return SimBroker(FILL_MODEL, clock=clock)


@pytest.fixture
def config() -> PaperSessionConfig:
    return PaperSessionConfig(window_bars=WINDOW, cpu_seconds=5.0, memory_mb=1024)


def backtest(symbol: str) -> BacktestRun:
    """The backtest a session on ``symbol`` must equal: its window and the live bars, the window as warm-up."""
    bars = BARS[symbol][: WINDOW + LIVE]
    data = BarData.from_arrays(
        symbol,
        *(
            np.array(column, dtype=np.float64)
            for column in zip(
                *((b.timestamp.timestamp(), b.open, b.high, b.low, b.close, b.volume) for b in bars), strict=True
            )
        ),
    )
    config = BacktestConfig(starting_cash=CAPITAL, fill_model=FILL_MODEL, warmup_bars=WINDOW, close_at_end=False)
    return run_backtest(Parity(), data, config)


def play(market: Market) -> None:
    """The two live days, minute by minute, every symbol's bar of a minute before the next minute's."""
    for i in range(WINDOW, WINDOW + LIVE):
        market.feed(*(BARS[symbol][i] for symbol in SYMBOLS))


@pytest.fixture
def sessions(db: Database, manager: PaperSessionManager, history: LoadedHistory, make_user) -> Iterator[dict]:
    """One session per symbol for a trader running the saved source (confined host) and one for a trader running
    the same class built in, each with the backtest's cash as its capital."""
    started: dict[tuple[str, str], uuid.UUID] = {}
    for runner in RUNNERS:
        trader = make_user(runner, **LOOSE_RISK)
        for symbol in SYMBOLS:
            saved = save_strategy(db.session_factory, trader, StrategyDraft(f"Parity {symbol}", SOURCE))
            builtin = Parity if runner == "builtin" else None
            info = manager.start(trader, saved.id, [symbol], builtin=builtin, capital=CAPITAL)
            started[(runner, symbol)] = info.id
    history.wait_reads(len(started))
    yield started


def test_the_backtests_trade_every_kind_of_order_the_parity_is_about():
    runs = [backtest(symbol) for symbol in SYMBOLS]
    placed = {(o.reason, o.type.value, o.take_profit is not None) for run in runs for o in run.orders}
    assert {("market", "market", False), ("limit ladder", "limit", False), ("stop", "stop", False),
            ("stop limit", "stop_limit", False), ("bracket", "market", True), ("target", "market", False),
            ("exit", "market", False), ("limit exit", "limit", False), ("stop exit", "stop", False),
            ("overnight", "market", False), ("overnight limit", "limit", False)} <= placed  # fmt: skip
    exits = {f.reason for run in runs for f in run.fills}
    assert {"take_profit", "stop_loss"} <= exits  # both exits of a bracket fill somewhere


def parity_problems(db: Database, sessions: dict[tuple[str, str], uuid.UUID]) -> list[str]:
    """Every difference between each session's orders and fills and its backtest's."""
    problems: list[str] = []
    for symbol in SYMBOLS:
        run = backtest(symbol)
        for runner in RUNNERS:
            session_id = sessions[(runner, symbol)]
            orders = compare_orders(session_orders(db.session_factory, session_id), backtest_orders(run, symbol))
            fills = compare_fills(session_fills(db.session_factory, session_id), backtest_fills(run, symbol))
            problems += [f"{runner} orders: {m}" for m in orders] + [f"{runner} fills: {m}" for m in fills]
    return problems


def test_sessions_place_the_orders_and_get_the_fills_of_their_backtests(db, market, sessions, ledger):
    play(market)
    ledger.flush_acceptances()
    problems = parity_problems(db, sessions)
    assert problems == [], "\n".join(problems[:40]) + f"\n({len(problems)} in all)"
