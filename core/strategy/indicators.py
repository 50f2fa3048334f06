"""The built-in indicators a strategy computes over whole series in ``init``.

Strategies compute indicators once, vectorised over every bar (see :mod:`core.strategy.api`), so each
function here takes whole 1-D arrays and returns arrays of the same length. On a million bars most take
1-13 ms (session VWAP about 30), so a batch test of hundreds of parameter sets spends its time trading.

The arithmetic is TA-Lib's (the ``TA-Lib`` package, whose wheels bundle the C library): it is a
widely used reference implementation, it matches the textbook loops in
``tests/strategy/test_indicators.py`` to about 1e-13, and it is 5-25 times faster than pandas' ``rolling``
and ``ewm``. Where TA-Lib has no function (VWAP) or its own is not the textbook one (MACD, RSI of a flat
price), this module builds the indicator from TA-Lib's exact primitives instead.

Conventions shared by every function:

* Inputs are 1-D array-likes of numbers (converted to float64); inputs that go together must have the
  same length. Periods are whole numbers from 1 to :data:`MAX_PERIOD` (TA-Lib's own limit).
* Outputs are new float64 arrays of the input's length (never views of the input). A bar that does not yet
  have enough history is NaN ("warm-up"); each function's docstring says how many bars that is.
* Missing values: NaN (or ±inf) in any input marks a missing bar. Leading missing bars, such as another
  indicator's warm-up, are skipped, so ``sma(rsi(close), 5)`` starts 4 bars after ``rsi`` does. A missing
  bar later in the series splits it: that bar's output is NaN and the bars after it are computed as a fresh
  series, with a new warm-up. Why: a gap must neither be silently bridged (TA-Lib's RSI, ATR and MAX
  would skip it) nor poison every later bar (TA-Lib's SMA and EMA would), and re-starting is what a
  trader would do by hand.
* Causal: a bar's value depends on that bar and earlier ones only, so
  :func:`core.strategy.api.check_causal` accepts any strategy built on these.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
import talib

FloatArray = npt.NDArray[np.float64]

MAX_PERIOD = 100_000
"""The longest period TA-Lib accepts (about 256 trading days of one-minute bars)."""

NEW_YORK = ZoneInfo("America/New_York")


class Macd(NamedTuple):
    """MACD's three series; unpacks as ``line, signal, hist = macd(close)``."""

    line: FloatArray
    signal: FloatArray
    hist: FloatArray


class Bands(NamedTuple):
    """Bollinger bands; unpacks as ``mid, upper, lower = bollinger(close)``."""

    mid: FloatArray
    upper: FloatArray
    lower: FloatArray


# ---- the indicators -----------------------------------------------------------------------------------------


def sma(x: npt.ArrayLike, n: int) -> FloatArray:
    """Simple moving average: the mean of the last ``n`` values. Warm-up: ``n - 1`` bars."""
    a, n = _series(x, "x"), _period(n)
    return _piecewise(lambda v: (talib.SMA(v, n),), a)[0]


def ema(x: npt.ArrayLike, n: int) -> FloatArray:
    """Exponential moving average, alpha = 2 / (n + 1). Warm-up: ``n - 1`` bars.

    Seeded like TA-Lib and most textbooks: the first value (bar ``n - 1``) is the SMA of the first ``n``
    values, then ``ema[i] = ema[i-1] + alpha * (x[i] - ema[i-1])``. Why not pandas' ``ewm(adjust=False)``,
    which seeds with ``x[0]`` alone: its early values lean on that one bar, and differ from TA-Lib's (and
    this function's) for the first few times ``n`` bars."""
    a, n = _series(x, "x"), _period(n)
    return _piecewise(lambda v: (talib.EMA(v, n),), a)[0]


def rsi(close: npt.ArrayLike, n: int = 14) -> FloatArray:
    """Wilder's relative strength index, 0..100. Warm-up: ``n`` bars (it needs ``n`` price changes).

    Average gain and loss are Wilder-smoothed (seeded with the mean of the first ``n`` changes, then
    ``avg = (avg * (n - 1) + change) / n``) and RSI = 100 * gain / (gain + loss). While the price has not
    moved at all, RSI is 50, not TA-Lib's 0 (or another tool's 100 or NaN). Why: a flat price is neither
    oversold nor overbought, and 0 would fire every "buy below 30" rule on a halted or illiquid symbol."""
    c, n = _series(close, "close"), _period(n)

    def run(v: FloatArray) -> tuple[FloatArray]:
        change = np.diff(v, prepend=v[:1])
        gain = _wilder(np.maximum(change, 0.0), n)
        loss = _wilder(np.maximum(-change, 0.0), n)
        total = gain + loss
        out = np.full(len(v), 50.0)
        np.divide(100.0 * gain, total, out=out, where=total > 0)
        out[np.isnan(total)] = np.nan
        return (out,)

    return _piecewise(run, c)[0]


def macd(close: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9) -> Macd:
    """MACD: ``line = ema(close, fast) - ema(close, slow)``, ``signal = ema(line, signal)``, ``hist = line - signal``.

    Warm-up: the line ``slow - 1`` bars, signal and hist ``slow + signal - 2`` bars. Built from :func:`ema`
    rather than TA-Lib's MACD, which starts its fast EMA late (at the slow EMA's first bar) and so differs
    from the textbook definition for the first ~150 bars, and hides the line until the signal exists."""
    c = _series(close, "close")
    fast, slow, signal = _period(fast, "fast"), _period(slow, "slow"), _period(signal, "signal")
    if fast >= slow:
        raise ValueError(f"fast ({fast}) must be shorter than slow ({slow})")
    line = ema(c, fast) - ema(c, slow)
    sig = ema(line, signal)  # the line's warm-up is skipped: the signal is seeded with its first values
    return Macd(line, sig, line - sig)


def bollinger(close: npt.ArrayLike, n: int = 20, k: float = 2.0) -> Bands:
    """Bollinger bands: ``mid = sma(close, n)``, ``mid ± k`` standard deviations of the last ``n`` closes.

    Warm-up: ``n - 1`` bars. The deviation is the population one (divide by ``n``), as Bollinger defines
    it and TA-Lib computes it; pandas' ``rolling().std()`` defaults to the sample one (divide by
    ``n - 1``), which makes bands about 2.6% wider at ``n = 20``."""
    c, n = _series(close, "close"), _period(n)
    if isinstance(k, bool) or not isinstance(k, numbers.Real) or not math.isfinite(k) or k < 0:
        raise ValueError(f"k must be a number of standard deviations >= 0, got {k!r}")
    width = float(k)

    def run(v: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        if n == 1:  # TA-Lib wants n >= 2; one value deviates by nothing
            return v.copy(), v.copy(), v.copy()
        upper, mid, lower = talib.BBANDS(v, n, width, width, talib.MA_Type.SMA)
        return mid, upper, lower

    return Bands(*_piecewise(run, c))


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, n: int = 14) -> FloatArray:
    """Wilder's average true range. Warm-up: ``n`` bars.

    True range = max(high - low, |high - previous close|, |low - previous close|), from the second bar on
    (the first has no previous close). The first ATR (bar ``n``) is the mean of the first ``n`` true ranges,
    then ``atr = (atr * (n - 1) + tr) / n``, as TA-Lib. Some libraries count the first bar's high - low as
    a true range and so start one bar earlier with slightly different early values."""
    h, lo, c = _series(high, "high"), _series(low, "low"), _series(close, "close")
    _same_length(high=h, low=lo, close=c)
    n = _period(n)
    return _piecewise(lambda hh, ll, cc: (talib.ATR(hh, ll, cc, n),), h, lo, c)[0]


def highest(x: npt.ArrayLike, n: int) -> FloatArray:
    """The highest of the last ``n`` values (a Donchian channel's top). Warm-up: ``n - 1`` bars."""
    a, n = _series(x, "x"), _period(n)
    return _piecewise(lambda v: (v.copy() if n == 1 else talib.MAX(v, n),), a)[0]


def lowest(x: npt.ArrayLike, n: int) -> FloatArray:
    """The lowest of the last ``n`` values (a Donchian channel's bottom). Warm-up: ``n - 1`` bars."""
    a, n = _series(x, "x"), _period(n)
    return _piecewise(lambda v: (v.copy() if n == 1 else talib.MIN(v, n),), a)[0]


def vwap(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    times: npt.ArrayLike | None = None,
    *,
    window: int | None = None,
) -> FloatArray:
    """Volume-weighted average of the typical price (high + low + close) / 3.

    Give exactly one of:

    * ``times`` (epoch seconds, UTC, of each bar's open, as :class:`~core.strategy.api.BarData` holds them):
      session VWAP, the running VWAP since the session's first bar, where a session is a New York calendar
      date (zoneinfo America/New_York, so daylight saving time is handled). Why New York: the app trades US
      equities, and a UTC date would cut sessions at 19:00 or 20:00 New York time. Extended-hours bars
      count in their date's session. A new session starts wherever the date differs from the bar before.
    * ``window``: rolling VWAP over the last ``window`` bars (warm-up ``window - 1`` bars).

    Volume must not be negative. A session (or window) with no volume yet has no average price: NaN."""
    h, lo, c, v = _series(high, "high"), _series(low, "low"), _series(close, "close"), _series(volume, "volume")
    _same_length(high=h, low=lo, close=c, volume=v)
    if (times is None) == (window is None):
        raise ValueError("give times (session VWAP) or window (rolling VWAP), not both or neither")
    if np.any(v < 0):
        raise ValueError(f"volume must not be negative (bar {int(np.flatnonzero(v < 0)[0])})")

    if window is not None:
        w = _period(window, "window")

        def rolling(hh: FloatArray, ll: FloatArray, cc: FloatArray, vv: FloatArray) -> tuple[FloatArray]:
            pv = (hh + ll + cc) / 3.0 * vv
            if w == 1:  # TA-Lib's SUM wants a period >= 2
                return (_ratio(pv, vv, vv > 0),)
            # Counting the bars with volume tells an empty window apart from a running sum's rounding residue.
            traded = talib.SUM((vv > 0).astype(np.float64), w)
            return (_ratio(talib.SUM(pv, w), talib.SUM(vv, w), traded > 0),)

        return _piecewise(rolling, h, lo, c, v)[0]

    assert times is not None  # exactly one of times and window is given (checked above)
    t = _series(times, "times")
    _same_length(high=h, times=t)
    if not np.isfinite(t).all():
        raise ValueError("times must all be finite epoch seconds")
    day = _new_york_days(t).astype(np.float64)  # an input of _piecewise, so a gap also starts a new session

    def session(hh: FloatArray, ll: FloatArray, cc: FloatArray, vv: FloatArray, dd: FloatArray) -> tuple[FloatArray]:
        starts = np.empty(len(dd), dtype=bool)
        starts[:1] = True
        np.not_equal(dd[1:], dd[:-1], out=starts[1:])
        sessions = np.cumsum(starts)
        # groupby's cumulative sum restarts at zero in each session, so a session's first bars carry no
        # rounding residue from the sessions before it (a global cumsum minus its value at the session start would).
        sums = pd.DataFrame({"pv": (hh + ll + cc) / 3.0 * vv, "v": vv}).groupby(sessions, sort=False).cumsum()
        pv, vol = sums["pv"].to_numpy(np.float64), sums["v"].to_numpy(np.float64)
        return (_ratio(pv, vol, vol > 0),)

    return _piecewise(session, h, lo, c, v, day)[0]


# ---- helpers ------------------------------------------------------------------------------------------------


def _series(x: npt.ArrayLike, name: str) -> FloatArray:
    """``x`` as a contiguous 1-D float64 array (TA-Lib reads raw memory), or ValueError saying why not."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of numbers ({exc})") from None
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D series, got an array of shape {a.shape}")
    return np.ascontiguousarray(a)


def _period(n: object, name: str = "n") -> int:
    """``n`` as a whole number of bars in 1..MAX_PERIOD (``20.0`` is accepted; ``2.5`` and ``True`` are not)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Real) or not float(n).is_integer():
        raise ValueError(f"{name} must be a whole number of bars, got {n!r}")
    # (an Integral converts itself exactly; any other Real here has a whole-number float value, checked above)
    value = int(n) if isinstance(n, numbers.Integral) else int(float(n))
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    if value > MAX_PERIOD:
        raise ValueError(f"{name} must be at most {MAX_PERIOD}, got {value}")
    return value


def _same_length(**arrays: FloatArray) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name} {size}" for name, size in lengths.items())
        raise ValueError(f"inputs must have the same length, got {listed}")


def _piecewise(fn: Callable[..., tuple[FloatArray, ...]], *inputs: FloatArray) -> tuple[FloatArray, ...]:
    """Apply ``fn`` to each stretch of bars where every input is finite; NaN elsewhere.

    This is the missing-value rule of the module docstring in one place: ``fn`` only ever sees finite data
    and computes each stretch as a series of its own. The common cases (no gap, or only a leading warm-up)
    cost one ``isfinite`` pass and one call."""
    size = len(inputs[0])
    ok = np.isfinite(inputs[0])
    for a in inputs[1:]:
        ok &= np.isfinite(a)
    first = int(ok.argmax()) if size else 0
    if ok[first:].all():
        if first == 0:
            return fn(*inputs)
        runs = [(first, size)]
    else:
        edges = np.diff(ok.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
        runs = list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))
    outs: tuple[FloatArray, ...] | None = None
    for start, stop in runs:
        parts = fn(*(a[start:stop] for a in inputs))
        if outs is None:
            outs = tuple(np.full(size, np.nan) for _ in parts)
        for out, part in zip(outs, parts, strict=True):
            out[start:stop] = part
    if outs is None:  # nothing finite at all: run fn on no bars just to learn how many outputs it has
        outs = tuple(np.full(size, np.nan) for _ in fn(*(a[:0] for a in inputs)))
    return outs


def _wilder(x: FloatArray, n: int) -> FloatArray:
    """Wilder's smoothing of ``x[1:]`` (``x >= 0``): NaN up to bar ``n``, the mean of ``x[1..n]`` at bar ``n``,
    then ``avg = (avg * (n - 1) + x[i]) / n``.

    Computed by TA-Lib's ATR, which is exactly this smoothing of the true range from the second bar on; with
    low = close = 0 and high = x >= 0 the true range max(x - 0, |x - 0|, |0 - 0|) is ``x`` itself. Why not
    TA-Lib's RSI directly: it hides the two averages, and RSI needs both to tell a flat price from a falling
    one."""
    zeros = np.zeros_like(x)
    return talib.ATR(x, zeros, zeros, n)


def _ratio(numerator: FloatArray, denominator: FloatArray, defined: npt.NDArray[np.bool_]) -> FloatArray:
    """``numerator / denominator`` where ``defined``, NaN elsewhere (and no divide-by-zero warnings)."""
    out = np.full(len(numerator), np.nan)
    np.divide(numerator, denominator, out=out, where=defined & np.isfinite(denominator))
    return out


def _new_york_days(times: FloatArray) -> npt.NDArray[np.int64]:
    """The New York calendar date of each epoch-second time, as whole days since 1970-01-01.

    Converting a million times one by one through zoneinfo would take seconds, so only the first time of
    each run of bars in the same UTC hour is converted (by pandas, with the zoneinfo zone) and its UTC
    offset applied to the whole run. That is exact: New York's offsets are whole hours and its clocks change
    on the hour, so the offset never changes inside a UTC hour."""
    seconds = np.floor(times).astype(np.int64)
    if not len(seconds):
        return seconds
    hours = seconds // 3600
    new_hour = np.empty(len(hours), dtype=bool)
    new_hour[0] = True
    np.not_equal(hours[1:], hours[:-1], out=new_hour[1:])
    starts = np.flatnonzero(new_hour)
    utc = hours[starts] * 3600
    wall = pd.DatetimeIndex(utc.astype("datetime64[s]")).tz_localize("UTC").tz_convert(NEW_YORK).tz_localize(None)
    offsets: npt.NDArray[np.int64] = wall.to_numpy().astype("datetime64[s]").astype(np.int64) - utc
    run_lengths = np.diff(np.append(starts, len(seconds)))
    return (seconds + np.repeat(offsets, run_lengths)) // 86_400
