"""Indicator series for the chart, computed by the strategy indicators (core.strategy.indicators), never here.

A trader should see on the chart exactly the numbers a strategy would compute, so every value comes from the
same functions strategies call. What this module adds is bookkeeping: which columns of the bars an
indicator reads, where it is drawn (over the prices or in a pane of its own), and how to keep it current
when a live bar arrives without recomputing it over a million bars.

Live bars: the value at the newest bar is recomputed from a tail of the bars only, through the same core
function, and written into a growable buffer (one row per bar, like the bars themselves).

* Windowed indicators (SMA, Bollinger, highest, lowest, rolling VWAP) depend on the last `period` bars only,
  so the tail is exactly that window: the live value equals a full recompute (up to float rounding, ~1e-12).
* Session VWAP depends on the bars of the current New York date; the tail starts 26 hours back, before any
  such date begins (a date lasts at most 25 hours), so it is exact too.
* Recursive indicators (EMA, RSI, ATR, MACD) depend on all history. The tail is a warm-up of
  ``max(500, 30 x period)`` bars (MACD: its slow plus signal periods): inside the tail the series is seeded
  afresh, and the seed's error shrinks by (1 - 1/period) per bar for Wilder smoothing (the slowest decay),
  so after 29 x period bars it is below e^-29 ~ 3e-13 of the seed's own error: below float noise for prices.
  Each live value is computed independently from the raw bars, so these errors never accumulate.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.views.bar_buffer import BarBuffer, GrowableColumns
from core.strategy import indicators as ind

PRICE = "price"  # drawn over the candles
PANE = "pane"  # drawn in a small pane of its own under the volume

WARMUP_MIN_BARS = 500
WARMUP_PERIODS = 30
SESSION_LOOKBACK_SECONDS = 26 * 3600  # a New York date lasts at most 25 hours (the autumn DST change)

Columns = tuple[np.ndarray, ...]
Compute = Callable[[BarBuffer, int, int, int | None], Columns]
TailStart = Callable[[BarBuffer, int, int | None], int]


@dataclass(frozen=True, slots=True)
class IndicatorKind:
    """What the chart knows about one indicator: its name, outputs, where it goes and how to compute it."""

    name: str  # the id used by add_indicator: "sma"
    label: str  # shown to the trader: "SMA"
    outputs: tuple[str, ...]  # one line per output: ("mid", "upper", "lower")
    placement: str  # PRICE or PANE
    default_period: int | None  # None: the indicator takes no period (or it is optional)
    period_required: bool
    compute: Compute  # (bars, start, stop, period) -> one array per output over bars[start:stop]
    tail_start: TailStart  # (bars, index, period) -> first bar needed to compute the value at `index`
    exact_tail: bool  # False: the tail value is the warm-up approximation described in the module docstring
    y_range: tuple[float, float] | None = None  # fixed pane range (RSI: 0..100)
    guides: tuple[float, ...] = ()  # horizontal guide lines in its pane (RSI: 30, 70)
    histogram: tuple[str, ...] = ()  # outputs drawn as bars from zero rather than lines


def _window(period_of: Callable[[int | None], int]) -> TailStart:
    def start(bars: BarBuffer, index: int, period: int | None) -> int:
        return max(0, index + 1 - period_of(period))

    return start


def _warmup(periods_of: Callable[[int | None], int]) -> TailStart:
    def start(bars: BarBuffer, index: int, period: int | None) -> int:
        bars_needed = max(WARMUP_MIN_BARS, WARMUP_PERIODS * periods_of(period))
        return max(0, index + 1 - bars_needed)

    return start


def _session_or_window(bars: BarBuffer, index: int, period: int | None) -> int:
    if period is not None:
        return max(0, index + 1 - period)
    t = bars.t
    return int(np.searchsorted(t[: index + 1], t[index] - SESSION_LOOKBACK_SECONDS, side="left"))


def _p(period: int | None) -> int:
    assert period is not None  # guaranteed by IndicatorSeries for kinds with period_required
    return period


def _vwap(b: BarBuffer, s: int, e: int, p: int | None) -> Columns:
    h, lo, c, v = b.high[s:e], b.low[s:e], b.close[s:e], b.volume[s:e]
    if p is None:
        return (ind.vwap(h, lo, c, v, times=b.t[s:e]),)
    return (ind.vwap(h, lo, c, v, window=p),)


MACD_PERIODS = (12, 26, 9)

KINDS: dict[str, IndicatorKind] = {
    k.name: k
    for k in (
        IndicatorKind(
            "sma", "SMA", ("sma",), PRICE, 20, True,
            lambda b, s, e, p: (ind.sma(b.close[s:e], _p(p)),), _window(_p), True,
        ),
        IndicatorKind(
            "ema", "EMA", ("ema",), PRICE, 20, True,
            lambda b, s, e, p: (ind.ema(b.close[s:e], _p(p)),), _warmup(_p), False,
        ),
        IndicatorKind(
            "bollinger", "BB", ("mid", "upper", "lower"), PRICE, 20, True,
            lambda b, s, e, p: tuple(ind.bollinger(b.close[s:e], _p(p))), _window(_p), True,
        ),
        IndicatorKind("vwap", "VWAP", ("vwap",), PRICE, None, False, _vwap, _session_or_window, True),
        IndicatorKind(
            "highest", "High", ("highest",), PRICE, 20, True,
            lambda b, s, e, p: (ind.highest(b.high[s:e], _p(p)),), _window(_p), True,
        ),
        IndicatorKind(
            "lowest", "Low", ("lowest",), PRICE, 20, True,
            lambda b, s, e, p: (ind.lowest(b.low[s:e], _p(p)),), _window(_p), True,
        ),
        IndicatorKind(
            "rsi", "RSI", ("rsi",), PANE, 14, True,
            lambda b, s, e, p: (ind.rsi(b.close[s:e], _p(p)),), _warmup(_p), False,
            y_range=(0.0, 100.0), guides=(30.0, 70.0),
        ),
        IndicatorKind(
            "macd", "MACD", ("line", "signal", "hist"), PANE, None, False,
            lambda b, s, e, p: tuple(ind.macd(b.close[s:e], *MACD_PERIODS)),
            _warmup(lambda _p: MACD_PERIODS[1] + MACD_PERIODS[2]), False,
            guides=(0.0,), histogram=("hist",),
        ),
        IndicatorKind(
            "atr", "ATR", ("atr",), PANE, 14, True,
            lambda b, s, e, p: (ind.atr(b.high[s:e], b.low[s:e], b.close[s:e], _p(p)),), _warmup(_p), False,
        ),
    )
}  # fmt: skip


def indicator_kind(name: str) -> IndicatorKind:
    try:
        return KINDS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown indicator {name!r} (choose from {', '.join(KINDS)})") from None


def check_period(kind: IndicatorKind, period: int | None) -> int | None:
    """The period to use for `kind`: the default when none is given; ValueError for one it cannot take."""
    if period is None:
        return kind.default_period if kind.period_required else None
    if kind.name == "macd":
        raise ValueError(f"MACD takes no period here (it uses {'/'.join(map(str, MACD_PERIODS))})")
    if isinstance(period, bool) or not isinstance(period, numbers.Real) or not float(period).is_integer():
        raise ValueError(f"the period must be a whole number of bars, got {period!r}")
    if not 1 <= int(period) <= ind.MAX_PERIOD:
        raise ValueError(f"the period must be between 1 and {ind.MAX_PERIOD} bars, got {int(period)}")
    return int(period)


class IndicatorSeries:
    """One indicator's values, one row per bar, kept in step with the chart's bars."""

    _ids = itertools.count(1)

    def __init__(self, kind: IndicatorKind, period: int | None) -> None:
        self.kind = kind
        self.period = check_period(kind, period)
        self.id = f"{kind.name}{self.period or ''}-{next(self._ids)}"
        self.values = GrowableColumns(len(kind.outputs))
        self.tail_recomputes = 0  # live updates done from a tail (tests check nothing recomputed everything)

    @property
    def label(self) -> str:
        if self.kind.name == "macd":
            return f"MACD {'/'.join(map(str, MACD_PERIODS))}"
        return self.kind.label if self.period is None else f"{self.kind.label} {self.period}"

    def __len__(self) -> int:
        return len(self.values)

    def column(self, output: int | str) -> np.ndarray:
        k = self.kind.outputs.index(output) if isinstance(output, str) else output
        return self.values.column(k)

    def recompute(self, bars: BarBuffer) -> None:
        """All bars were replaced: compute the whole series once (the only full pass)."""
        n = len(bars)
        if n == 0:
            self.values.set_columns([np.empty(0)] * self.values.width)
            return
        self.values.set_columns(self.kind.compute(bars, 0, n, self.period))

    def bar_written(self, bars: BarBuffer, index: int) -> None:
        """Bar `index` was appended (index == len(self)) or rewritten (the last one): update its row only."""
        start = self.kind.tail_start(bars, index, self.period)
        tail = self.kind.compute(bars, start, index + 1, self.period)
        row = [float(column[-1]) for column in tail]
        self.tail_recomputes += 1
        if index == len(self.values):
            self.values.append(row)
        elif index == len(self.values) - 1:
            self.values.replace_last(row)
        else:  # out of step (should not happen): be right rather than fast
            self.recompute(bars)

    def values_at(self, index: int) -> tuple[float, ...] | None:
        if not 0 <= index < len(self.values):
            return None
        return self.values.values_at(index)

    def format_at(self, index: int) -> str:
        """`label value[/value...]` at bar `index`, for the chart's readout ('—' during the warm-up)."""
        values = self.values_at(index)
        if values is None:
            return f"{self.label} —"
        shown = " / ".join("—" if not math.isfinite(v) else format_number(v) for v in values)
        return f"{self.label} {shown}"


def format_number(value: float) -> str:
    """Prices and indicator values: two decimals for ordinary prices, more for small ones."""
    magnitude = abs(value)
    if magnitude >= 1 or magnitude == 0:
        return f"{value:,.2f}"
    if magnitude >= 0.01:
        return f"{value:.4f}"
    return f"{value:.6g}"
