"""The allocation backtester: several symbols on one timeline, next-bar fills, the ledger's money.

The bars of every symbol are aligned on the union of their times. At each time, first the orders
working from earlier decisions meet the bars that exist at that time (through the same
``FillModel.evaluate`` the simulated broker uses; a symbol without a bar there cannot fill, its order
keeps working), sells before buys, as the rebalance placed them; then the book is marked at the
closes (a symbol without a bar carries its last close); then, at that close, the
:class:`~core.backtest.allocation_plan.Rebalancer` decides. An order is therefore first seen by the
bar after the one whose close decided it: no look-ahead.

The money is the per-symbol bookkeeping of ``core.backtest.engine`` (Decimal cash, exact cost basis,
realised P&L, round trips from flat to flat), one book per symbol whose cash is the symbol's cash
flow; the account's cash is the starting cash plus all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np

from core.backtest.allocation_plan import Decision, RebalancePlan, Rebalancer
from core.backtest.allocation_schedule import session_dates
from core.backtest.allocation_spec import AllocationSpec
from core.backtest.engine import BacktestConfig, BarValues, Books, Fill, RoundTrip, book_fill, float_decimal
from core.backtest.metrics import Metrics, compute_metrics
from core.broker.fill_model import WorkingOrder
from core.domain.orders import OrderSide, OrderType
from core.market.calendar import TradingCalendar
from core.strategy.api import BarData

ZERO = Decimal(0)
TOP_UPS = 2  # follow-up buying rounds after a trimmed rebalance; each closes ~97% of the remaining gap


@dataclass(frozen=True)
class AllocationFill:
    symbol: str
    fill: Fill  # ``fill.bar`` indexes the run's timeline


@dataclass(frozen=True)
class Rebalance:
    """A due rebalance, at the close of bar ``bar`` of the timeline."""

    bar: int
    decision: Decision


@dataclass
class AllocationRun:
    times: np.ndarray  # the union of the symbols' bar times (epoch seconds of each bar's open)
    equity: np.ndarray  # at each time's close
    cash: np.ndarray  # at each time's close
    positions: dict[str, np.ndarray]  # shares per symbol at each close
    fills: list[AllocationFill]
    trades: dict[str, list[RoundTrip]]  # per symbol, bars index the timeline
    rebalances: list[Rebalance]
    final_cash: Decimal
    starting_cash: Decimal
    benchmark_close: np.ndarray | None  # the benchmark's close on the timeline (carried, first close before it)
    benchmark_equity: np.ndarray | None  # the starting cash held in the benchmark from the first close, no costs

    def metrics(self) -> Metrics:
        """The run's metrics, with the benchmark's return as the buy-and-hold comparison."""
        trades = sorted((t for ts in self.trades.values() for t in ts), key=lambda t: (t.exit_bar, t.entry_bar))
        exposure = sum(self.positions.values(), np.zeros(len(self.times)))
        return compute_metrics(
            self.equity, self.times, trades, starting_cash=float(self.starting_cash),
            benchmark_close=self.benchmark_close, exposure=exposure,
        )  # fmt: skip

    def benchmark_metrics(self) -> Metrics | None:
        """The benchmark's own curve summarised the same way (None without a benchmark)."""
        if self.benchmark_equity is None:
            return None
        return compute_metrics(
            self.benchmark_equity, self.times, [], starting_cash=float(self.starting_cash),
            benchmark_close=self.benchmark_close, exposure=np.ones(len(self.times)),
        )  # fmt: skip


@dataclass
class _Timeline:
    times: np.ndarray
    index: dict[str, np.ndarray]  # per symbol: its bar index at each time, -1 where it has none
    closes: dict[str, np.ndarray]  # per symbol: the close carried forward, NaN before its first bar


def _carry(data: BarData, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``times``: the index of ``data``'s bar opening exactly then (-1 if none), and its last close
    at or before then (NaN before its first bar)."""
    own = np.asarray(data.time, dtype=np.float64)
    last = np.searchsorted(own, times, side="right") - 1
    safe = np.maximum(last, 0)
    close = np.where(last >= 0, np.asarray(data.close, dtype=np.float64)[safe] if len(own) else np.nan, np.nan)
    exact = (last >= 0) & (own[safe] == times) if len(own) else np.zeros(len(times), dtype=bool)
    return np.where(exact, last, -1), close


def _align(bars: Mapping[str, BarData]) -> _Timeline:
    """Put every symbol on the union of their times."""
    for symbol, data in bars.items():
        t = np.asarray(data.time, dtype=np.float64)
        if len(t) > 1 and not (np.diff(t) > 0).all():
            raise ValueError(f"the bars of {symbol} are not in strictly increasing time order")
    times = np.unique(np.concatenate([np.asarray(d.time, dtype=np.float64) for d in bars.values()]))
    carried = {symbol: _carry(data, times) for symbol, data in bars.items()}
    return _Timeline(times, {s: c[0] for s, c in carried.items()}, {s: c[1] for s, c in carried.items()})


def _bar_length(times: np.ndarray) -> float:
    """The bars' length: the smallest spacing (a minute for minute bars, about a day for daily ones)."""
    gaps = np.diff(times)
    gaps = gaps[gaps > 0]
    return float(gaps.min()) if gaps.size else 60.0


@dataclass
class _Working:
    symbol: str
    order: WorkingOrder
    reason: str


@dataclass
class _Account:
    starting_cash: Decimal
    books: dict[str, Books]
    trades: dict[str, list[RoundTrip]]
    fills: list[AllocationFill] = field(default_factory=list)
    working: list[_Working] = field(default_factory=list)

    @property
    def cash(self) -> Decimal:
        return self.starting_cash + sum((b.cash for b in self.books.values()), ZERO)

    def positions(self) -> dict[str, Decimal]:
        return {s: b.qty for s, b in self.books.items() if b.qty}

    def book(self, symbol: str, fill: Fill, times: np.ndarray) -> None:
        book_fill(self.books[symbol], fill, times, self.trades[symbol])
        self.fills.append(AllocationFill(symbol, fill))


def _fill_working(account: _Account, k: int, bars: Mapping[str, BarData], tl: _Timeline, cfg: BacktestConfig) -> None:
    """Let the working orders meet the bars that exist at time ``k`` (sells were queued before buys)."""
    still = []
    for w in account.working:
        i = int(tl.index[w.symbol][k])
        if i < 0:
            still.append(w)
            continue
        d = bars[w.symbol]
        bar = BarValues(float(d.open[i]), float(d.high[i]), float(d.low[i]), float(d.close[i]), float(d.volume[i]))
        decision = cfg.fill_model.evaluate(w.order, bar)
        if decision is None or not decision.filled:
            still.append(w)
            continue
        assert decision.price is not None
        account.book(w.symbol, Fill(k, w.order.side, decision.qty, decision.price, decision.fee, w.reason), tl.times)
        left = w.order.qty - decision.qty
        if left > 0:
            still.append(_Working(w.symbol, WorkingOrder(w.order.side, OrderType.MARKET, left), w.reason))
    account.working = still


def _queue(account: _Account, plan: RebalancePlan, reason: str) -> None:
    account.working = [_Working(o.symbol, WorkingOrder(o.side, OrderType.MARKET, o.qty), reason) for o in plan.orders]


def _closes_at(tl: _Timeline, k: int, symbols: set[str]) -> dict[str, Decimal] | None:
    """The last close of every symbol as Decimal, or None while one of them has not traded yet."""
    out = {}
    for s in symbols:
        c = tl.closes[s][k]
        if not np.isfinite(c):
            return None
        out[s] = float_decimal(c)
    return out


def run_allocation_backtest(
    spec: AllocationSpec, bars: Mapping[str, BarData], config: BacktestConfig | None = None,
    benchmark: BarData | None = None, *, calendar: TradingCalendar | None = None,
) -> AllocationRun:  # fmt: skip
    """Backtest ``spec`` over ``bars`` (one BarData per symbol, whole float64 columns, epoch-second times).

    Without ``benchmark``, the bars of ``spec.benchmark`` are used when they are among ``bars``.
    """
    cfg = config or BacktestConfig()
    missing = sorted(set(spec.symbols) - set(bars))
    if missing:
        raise ValueError(f"no bars for {', '.join(missing)}")
    if not any(len(d) for d in bars.values()):
        raise ValueError("no bars to backtest")
    tl = _align(bars)
    n, step = len(tl.times), _bar_length(tl.times)
    sessions = session_dates(tl.times)
    rebalancer = Rebalancer(spec, calendar=calendar, fractional=cfg.fractional, commission=cfg.fill_model.commission)
    account = _Account(cfg.starting_cash, {s: Books(ZERO) for s in bars}, {s: [] for s in bars})
    equity, cash_curve, held = np.empty(n), np.empty(n), {s: np.zeros(n) for s in bars}
    rebalances: list[Rebalance] = []
    last: date | None = None
    top_ups = 0
    for k in range(n):
        if account.working:
            _fill_working(account, k, bars, tl, cfg)
        cash, positions = account.cash, account.positions()
        cash_curve[k] = float(cash)
        equity[k] = float(cash) + sum(float(q) * float(tl.closes[s][k]) for s, q in positions.items())
        for s, q in positions.items():
            held[s][k] = float(q)
        now = datetime.fromtimestamp(tl.times[k] + step, UTC)
        topping_up = top_ups and not account.working
        if not (topping_up or rebalancer.schedule.due(sessions[k], now, last)):
            continue
        closes = _closes_at(tl, k, {*spec.symbols, *positions})
        if closes is None:
            continue  # a symbol has no price yet: a due rebalance waits for it
        decision = rebalancer.decide(sessions[k], now, last, closes, positions, cash)
        if decision is not None:
            last = decision.session
            rebalances.append(Rebalance(k, decision))
            _queue(account, decision.plan, "rebalance")
            top_ups = TOP_UPS if decision.plan.trimmed else 0
        elif topping_up:
            plan = rebalancer.top_up(closes, positions, cash)
            _queue(account, plan, "top_up")
            top_ups = top_ups - 1 if plan.orders else 0
    if cfg.close_at_end and n:
        _close_out(account, tl, cfg)
        equity[-1] = cash_curve[-1] = float(account.cash)
    bench = _benchmark(benchmark if benchmark is not None else bars.get(spec.benchmark), tl.times)
    bench_equity = None if bench is None else float(cfg.starting_cash) * bench / bench[0]
    return AllocationRun(
        tl.times, equity, cash_curve, held, account.fills, account.trades, rebalances, account.cash,
        cfg.starting_cash, bench, bench_equity,
    )  # fmt: skip


def _close_out(account: _Account, tl: _Timeline, cfg: BacktestConfig) -> None:
    """Value what is still held at its last close as an ``end_of_data`` exit, as the engine does."""
    k = len(tl.times) - 1
    for symbol, qty in sorted(account.positions().items()):
        price = float_decimal(tl.closes[symbol][k])
        fee = cfg.fill_model.commission.fee(price, qty)
        account.book(symbol, Fill(k, OrderSide.SELL, qty, price, fee, "end_of_data"), tl.times)


def _benchmark(data: BarData | None, times: np.ndarray) -> np.ndarray | None:
    """The benchmark's close on the timeline: carried forward, and its first close before its first bar."""
    if data is None or not len(data):
        return None
    close = _carry(data, times)[1]
    return np.where(np.isfinite(close), close, float(np.asarray(data.close, dtype=np.float64)[0]))
