"""Backtest results in numbers: drawdowns, risk-adjusted returns and trade statistics.

A backtest hands over an equity curve (one float64 mark per bar, at the bar's close), the bars'
open times (UTC epoch seconds) and its closed trades. :func:`compute_metrics` turns them into a
:class:`Metrics`, whose :meth:`Metrics.to_dict` is what the ``backtest_results`` JSONB column
stores. Everything over bars is vectorised numpy (a 1,000,000-bar curve takes a few tens of
milliseconds), because batches of backtests are summarised one after another and a per-bar Python
loop would dominate their run time. Trades are few, so they are read once into arrays.

Conventions (fixed here so that every stored result means the same thing):

* **Per-bar returns.** One return per bar: bar ``i`` returns ``equity[i] / equity[i-1] - 1`` and
  bar 0 returns ``equity[0] / starting_cash - 1`` (the starting cash is the value before the first
  bar). So the number of returns equals the number of bars, which is what ``periods_per_year``
  counts, and money lost before the first mark is not hidden.
* **Drawdowns** are measured from a high-water mark that starts at ``starting_cash``.
* **Annualisation** (:func:`infer_periods_per_year`): US equities, 252 sessions a year, a regular
  session of 390 minutes (6.5 hours). Intraday bars of spacing ``s`` count ``ceil(390 min / s)``
  bars per session, the number of clock-aligned buckets ``core.market.aggregate`` builds
  (1Min 390, 5Min 78, 15Min 26, 30Min 13, 1Hour 7: 09:30, 10:00, ..., 15:00). Bars of one session
  or a few days count 252 / days; bars a week apart or more count calendar time
  (365.25 days / spacing: weekly 52.2). Extended-hours curves should pass ``periods_per_year``.
* **Sharpe** = mean(r - rf) / std(r, ddof=1) * sqrt(periods_per_year), with the annual risk-free
  rate turned into a per-bar one geometrically: ``(1 + rf) ** (1 / periods_per_year) - 1``.
* **Sortino** = mean(r - rf) / downside deviation * sqrt(periods_per_year), the downside deviation
  being the root mean square of ``min(0, r - rf)`` over *all* bars (not only the losing ones), the
  usual convention (Sortino & Price; empyrical, quantstats).
* **CAGR** over the calendar span from the first bar's open to the last bar's close (last open +
  the median bar spacing), in years of 365.25 days. A curve that ends at or below zero has a CAGR
  of -1 (everything lost).
* **Undefined values are None, never NaN or inf** (they go to JSONB, and a missing value is more
  honest than a made-up 0): Sharpe and Sortino with no variation (std or downside deviation below
  1e-12 per bar: flat equity, or no losing bar for Sortino), volatility, Sharpe and Sortino of a
  single bar or of a curve that touched zero (returns after it are meaningless), CAGR when the span
  is unknown (a single bar), Calmar without a drawdown or CAGR,
  a CAGR too large for a float (a short, very lucky run), profit factor without a losing trade,
  every per-trade figure without trades, buy-and-hold without a benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol, SupportsFloat

import numpy as np

TRADING_DAYS_PER_YEAR = 252
SESSION_SECONDS = 390 * 60  # the regular session, 09:30-16:00 New York
DAY_SECONDS = 86_400
YEAR_SECONDS = 365.25 * DAY_SECONDS
# Per-bar standard deviations below this are treated as zero: float noise in a flat curve, not risk
# (1e-12 of 100 million dollars is a ten-thousandth of a cent).
_TINY = 1e-12


@dataclass(frozen=True, slots=True)
class Trade:
    """One closed trade, in floats: metrics only summarise, the ledger keeps the exact Decimals.

    ``size`` is in shares, positive for a long trade and negative for a short; ``pnl`` is money
    after costs (``fees`` included), ``return_pct`` is ``pnl`` over the entry notional (a fraction,
    0.01 = 1%). ``entry_bar``/``exit_bar`` index the equity curve. Any object with the same
    attributes (the engine's ``RoundTrip``, whose amounts are Decimals) is read the same way.
    """

    entry_time: float
    exit_time: float
    entry_price: float
    exit_price: float
    size: float
    pnl: float
    return_pct: float
    exit_reason: str
    entry_bar: int
    exit_bar: int
    fees: float = 0.0

    @property
    def duration(self) -> float:
        """Seconds from entry to exit."""
        return self.exit_time - self.entry_time


@dataclass(frozen=True, slots=True)
class DrawdownPeriods:
    """Every drawdown of a curve, one entry per episode, in time order.

    An episode runs from its peak (the last bar at the high-water mark before equity drops below
    it) to its recovery (the first bar back at or above that mark); an episode still open at the
    end runs to the last bar and has ``recovered`` False. ``peak_bar`` is -1 when the curve was
    below the initial peak (the starting cash) from its first bar. Durations are peak to recovery,
    the usual "time to recover" (pyfolio), not only the bars spent under water.
    """

    peak_bar: np.ndarray  # int64
    end_bar: np.ndarray  # int64: recovery bar, or the last bar if not recovered
    bars: np.ndarray  # int64: end_bar - peak_bar
    seconds: np.ndarray  # float64: time from peak to end
    depth: np.ndarray  # float64: the deepest drawdown of the episode (< 0)
    recovered: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.peak_bar)


@dataclass(frozen=True, slots=True)
class Metrics:
    """The summary of one backtest. Fractions are fractions (0.05 = 5%), durations are seconds.

    None marks a value that is undefined for this run (see the module docstring for which and why).
    """

    total_return: float
    annualized_return: float | None  # CAGR over the calendar span
    volatility: float | None  # annualised std of per-bar returns
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    max_drawdown: float  # <= 0
    max_drawdown_duration: float  # seconds, of the longest drawdown (by time)
    max_drawdown_duration_bars: int  # bars, of that same drawdown
    win_rate: float | None  # trades with pnl > 0 / all trades (break-even trades are not wins)
    profit_factor: float | None  # gross profit / gross loss
    expectancy: float | None  # mean pnl per trade, money
    exposure: float  # fraction of bars with a position
    trade_count: int
    avg_trade_pct: float | None
    best_trade_pct: float | None
    worst_trade_pct: float | None
    avg_trade_duration: float | None  # seconds
    buy_and_hold_return: float | None
    final_equity: float
    peak_equity: float  # the high-water mark, starting cash included
    bar_count: int
    periods_per_year: float | None  # the value used to annualise (given or inferred)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (float, int, None) for the JSONB column: never NaN or inf.

        Non-finite floats cannot occur by construction; they are still mapped to None here, because
        PostgreSQL refuses ``NaN`` in JSON and a refused insert would lose the whole result.
        """
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | np.integer):
                out[f.name] = int(value)
            elif value is None:
                out[f.name] = None
            else:
                number = float(value)
                out[f.name] = number if math.isfinite(number) else None
        return out


def _sample_std(values: np.ndarray, scratch: np.ndarray) -> float:
    """``values.std(ddof=1)`` computed as numpy does it (mean, squared deviations, sum over n - 1), with the
    deviations in ``scratch`` instead of a new array as long as the curve."""
    deviations = np.subtract(values, np.add.reduce(values) / values.size, out=scratch)
    np.multiply(deviations, deviations, out=deviations)
    return math.sqrt(float(np.add.reduce(deviations) / (values.size - 1)))


def _as_curve(values: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has NaN or infinite values")
    return arr


def _running_peak(equity: np.ndarray, initial_peak: float | None, out: np.ndarray | None = None) -> np.ndarray:
    peak = np.maximum.accumulate(equity, out=out)
    if initial_peak is not None:
        np.maximum(peak, initial_peak, out=peak)
    return peak


def drawdown(equity: np.ndarray, *, initial_peak: float | None = None) -> np.ndarray:
    """Per bar, the fraction below the running peak: ``equity / peak - 1`` (0 at a new high, < 0 below).

    A fraction rather than money so runs of different sizes compare. ``initial_peak`` (the starting
    cash) seeds the high-water mark, so a curve that starts below its money counts as in drawdown.
    The peak must be positive (equity curves of cash accounts are).
    """
    return _drawdown_of(_as_curve(equity, "equity"), initial_peak)


def _drawdown_of(eq: np.ndarray, initial_peak: float | None, out: np.ndarray | None = None) -> np.ndarray:
    dd = _running_peak(eq, initial_peak, out)
    np.divide(eq, dd, out=dd)
    dd -= 1.0
    return dd


def _median_spacing(times: np.ndarray, scratch: np.ndarray | None = None) -> float:
    """The median bar spacing; ``scratch`` (as long as ``times``) receives the differences, reordered."""
    if times.size < 2:
        return 0.0
    gaps = np.subtract(times[1:], times[:-1], out=None if scratch is None else scratch[: times.size - 1])
    return float(np.median(gaps, overwrite_input=True))  # the differences are ours to reorder


def drawdown_durations(equity: np.ndarray, times: np.ndarray, *, initial_peak: float | None = None) -> DrawdownPeriods:
    """All drawdown episodes of ``equity`` with their durations in bars and seconds.

    ``times`` are the bars' open times; equity is marked at each close, and differences between
    bars are the same either way. For an episode that starts before the first bar (``peak_bar`` -1,
    only with ``initial_peak``) the peak is placed one median bar spacing before the first bar.
    Vectorised: episodes are the runs of under-water bars, found with one ``diff``.
    """
    eq = _as_curve(equity, "equity")
    t = _as_curve(times, "times")
    if t.shape != eq.shape:
        raise ValueError(f"times has {t.size} values for {eq.size} equity values")
    return _episodes(_drawdown_of(eq, initial_peak), t, _median_spacing(t))


def _episodes(dd: np.ndarray, t: np.ndarray, spacing: float) -> DrawdownPeriods:
    n = dd.size
    under = dd < 0.0
    edges = np.diff(under.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)  # first bar under water
    stops = np.flatnonzero(edges == -1)  # first bar back at the peak, or n
    peak_bar = starts - 1
    recovered = stops < n
    end_bar = np.where(recovered, stops, n - 1)
    peak_time = t[np.maximum(peak_bar, 0)] - np.where(peak_bar < 0, spacing, 0.0)
    # Between episodes dd is 0, so the minimum over [start_k, start_{k+1}) is episode k's depth.
    depth = np.minimum.reduceat(dd, starts) if starts.size else np.empty(0)
    return DrawdownPeriods(
        peak_bar=peak_bar.astype(np.int64),
        end_bar=end_bar.astype(np.int64),
        bars=(end_bar - peak_bar).astype(np.int64),
        seconds=t[end_bar] - peak_time,
        depth=depth,
        recovered=recovered,
    )


def infer_periods_per_year(times: np.ndarray) -> float | None:
    """Bars per year for US equities, from the median bar spacing; None with fewer than two bars.

    The median, not the mean, so nights, weekends and holidays between bars do not count as
    spacing. Rule (see the module docstring): spacing below a regular session (6.5 hours) ->
    252 * ceil(390 minutes / spacing); up to six days -> 252 / whole days; a week or more ->
    365.25 days / spacing. Only regular-session bars are assumed: pass ``periods_per_year`` to
    :func:`compute_metrics` for extended-hours data.
    """
    return _periods_per_year(_median_spacing(np.asarray(times, dtype=np.float64)))


def _periods_per_year(spacing: float) -> float | None:
    if not spacing > 0.0:
        return None
    if spacing < SESSION_SECONDS:
        # 1e-9 absorbs float error in spacings that divide the session exactly (60 s -> 390, not 391).
        return float(TRADING_DAYS_PER_YEAR * math.ceil(SESSION_SECONDS / spacing - 1e-9))
    if spacing < 6 * DAY_SECONDS:
        return TRADING_DAYS_PER_YEAR / max(1, round(spacing / DAY_SECONDS))
    return YEAR_SECONDS / spacing


def _cagr(final: float, starting_cash: float, span_seconds: float) -> float | None:
    if not span_seconds > 0.0:
        return None
    if final <= 0.0:
        return -1.0
    exponent = math.log(final / starting_cash) / (span_seconds / YEAR_SECONDS)
    if exponent > 700.0:  # exp overflows float64 near 709.8: the figure is meaningless anyway
        return None
    return math.expm1(exponent)


def _ratio(numerator: float, denominator: float | None) -> float | None:
    if denominator is None or not denominator > _TINY:
        return None
    return numerator / denominator


def _exposure(n: int, mask: np.ndarray | None, entry_bar: np.ndarray, exit_bar: np.ndarray) -> float:
    if mask is not None:
        held = np.asarray(mask)
        if held.shape != (n,):
            raise ValueError(f"exposure has shape {held.shape}, expected ({n},)")
        return float(np.count_nonzero(held)) / n
    if entry_bar.size == 0:
        return 0.0
    # Without a mask: the bars in which a trade was open at some moment, entry and exit bars
    # included (backtesting.py's "Exposure Time"), overlapping trades counted once.
    lo = np.clip(entry_bar, 0, n - 1)
    hi = np.clip(exit_bar, lo, n - 1)
    coverage = np.zeros(n + 1, dtype=np.int64)
    np.add.at(coverage, lo, 1)
    np.add.at(coverage, hi + 1, -1)
    return float(np.count_nonzero(np.cumsum(coverage[:n]))) / n


class ClosedTrade(Protocol):
    """What the metrics read of one trade: a :class:`Trade`, or the engine's ``RoundTrip`` (its pnl a Decimal)."""

    @property
    def pnl(self) -> SupportsFloat: ...
    @property
    def return_pct(self) -> float: ...
    @property
    def entry_time(self) -> float: ...
    @property
    def exit_time(self) -> float: ...
    @property
    def entry_bar(self) -> int: ...
    @property
    def exit_bar(self) -> int: ...


@dataclass(frozen=True)
class TradeColumns:
    """The trade fields the metrics read, as arrays: what a vectorised backtest already has, so a summary of
    ten thousand trades builds no ten thousand objects."""

    pnl: np.ndarray
    return_pct: np.ndarray
    entry_time: np.ndarray
    exit_time: np.ndarray
    entry_bar: np.ndarray
    exit_bar: np.ndarray

    @classmethod
    def of(cls, trades: Sequence[ClosedTrade]) -> TradeColumns:
        n = len(trades)

        def column(name: str, kind: type) -> np.ndarray:
            return np.fromiter((kind(getattr(t, name)) for t in trades), np.float64 if kind is float else np.int64, n)

        return cls(
            column("pnl", float), column("return_pct", float), column("entry_time", float),
            column("exit_time", float), column("entry_bar", int), column("exit_bar", int),
        )  # fmt: skip


def compute_metrics(
    equity: np.ndarray,
    times: np.ndarray,
    trades: Sequence[ClosedTrade] | TradeColumns,
    *,
    starting_cash: float,
    benchmark_close: np.ndarray | None = None,
    risk_free_rate: float = 0.0,
    periods_per_year: float | None = None,
    exposure: np.ndarray | None = None,
) -> Metrics:
    """Summarise one backtest: returns, risk, drawdowns, trades (conventions in the module docstring).

    ``equity`` holds one mark per bar (at the close) and ``times`` the bars' open times in epoch
    seconds. ``periods_per_year`` overrides :func:`infer_periods_per_year`. ``exposure`` is a mask
    (or the position per bar: nonzero = exposed) of bars holding a position; without it, exposure
    is derived from the trades' entry and exit bars. ``benchmark_close`` gives buy-and-hold
    (last / first - 1). ``risk_free_rate`` is annual, as a fraction.
    """
    eq = _as_curve(equity, "equity")
    t = _as_curve(times, "times")
    if t.shape != eq.shape:
        raise ValueError(f"times has {t.size} values for {eq.size} equity values")
    cash = float(starting_cash)
    if not (math.isfinite(cash) and cash > 0.0):
        raise ValueError(f"starting_cash must be positive, got {starting_cash!r}")
    n = eq.size
    # The curves are a million values for a million bars, and the first run in a process pays for every new
    # array in fresh pages: two buffers serve every step below (``out=``, in place), with the same arithmetic.
    scratch = np.empty(n)
    spacing = _median_spacing(t, scratch)  # a partition of all the bars: computed once
    ppy = float(periods_per_year) if periods_per_year is not None else _periods_per_year(spacing)
    if ppy is not None and not (math.isfinite(ppy) and ppy > 0.0):
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year!r}")

    final = float(eq[-1])
    total_return = final / cash - 1.0
    annualized = _cagr(final, cash, float(t[-1] - t[0]) + spacing)

    # Per-bar returns, bar 0 against the starting cash. A mark at or below zero makes the next
    # return meaningless, and with it every return-based statistic; so does a single return
    # (no dispersion to measure).
    previous = scratch
    previous[0], previous[1:] = cash, eq[:-1]
    volatility = sharpe = sortino = None
    returns = None
    if ppy is not None and n >= 2 and (previous > 0.0).all():
        returns = np.divide(eq, previous)
        returns -= 1.0
        rf_per_bar = (1.0 + risk_free_rate) ** (1.0 / ppy) - 1.0
        excess = np.subtract(returns, rf_per_bar, out=previous)
        mean_excess = float(excess.mean())
        shortfall = np.minimum(excess, 0.0, out=excess)
        downside = math.sqrt(float(np.square(shortfall, out=shortfall).mean()))
        scale = math.sqrt(ppy)
        std = _sample_std(returns, scratch=shortfall)
        volatility = std * scale
        sharpe = _ratio(mean_excess, std)
        sortino = _ratio(mean_excess, downside)
        sharpe = None if sharpe is None else sharpe * scale
        sortino = None if sortino is None else sortino * scale
    dd = _drawdown_of(eq, cash, out=returns)
    max_drawdown = float(dd.min())
    periods = _episodes(dd, t, spacing)
    if len(periods):
        longest = int(np.lexsort((periods.bars, periods.seconds))[-1])  # most seconds, then most bars
        dd_seconds, dd_bars = float(periods.seconds[longest]), int(periods.bars[longest])
    else:
        dd_seconds, dd_bars = 0.0, 0
    calmar = None if annualized is None or max_drawdown >= 0.0 else annualized / abs(max_drawdown)

    columns = trades if isinstance(trades, TradeColumns) else TradeColumns.of(trades)
    count = len(columns.pnl)
    pnl, pct, entry_bar, exit_bar = columns.pnl, columns.return_pct, columns.entry_bar, columns.exit_bar
    held_for = columns.exit_time - columns.entry_time
    win_rate = profit_factor = expectancy = avg_pct = best_pct = worst_pct = avg_duration = None
    if count:
        gross_profit = float(pnl[pnl > 0.0].sum())
        gross_loss = -float(pnl[pnl < 0.0].sum())
        win_rate = float(np.count_nonzero(pnl > 0.0)) / count
        profit_factor = gross_profit / gross_loss if gross_loss > 0.0 else None
        expectancy = float(pnl.mean())
        avg_pct, best_pct, worst_pct = float(pct.mean()), float(pct.max()), float(pct.min())
        avg_duration = float(held_for.mean())

    buy_and_hold = None
    if benchmark_close is not None:
        bench = np.asarray(benchmark_close, dtype=np.float64)
        if bench.size and bench[0] > 0.0 and math.isfinite(bench[0]) and math.isfinite(bench[-1]):
            buy_and_hold = float(bench[-1] / bench[0] - 1.0)

    return Metrics(
        total_return=total_return,
        annualized_return=annualized,
        volatility=volatility,
        sharpe=sharpe,
        sortino=sortino,
        calmar=calmar,
        max_drawdown=max_drawdown,
        max_drawdown_duration=dd_seconds,
        max_drawdown_duration_bars=dd_bars,
        win_rate=win_rate,
        profit_factor=profit_factor,
        expectancy=expectancy,
        exposure=_exposure(n, exposure, entry_bar, exit_bar),
        trade_count=count,
        avg_trade_pct=avg_pct,
        best_trade_pct=best_pct,
        worst_trade_pct=worst_pct,
        avg_trade_duration=avg_duration,
        buy_and_hold_return=buy_and_hold,
        final_equity=final,
        peak_equity=max(cash, float(eq.max())),
        bar_count=n,
        periods_per_year=ppy,
    )
