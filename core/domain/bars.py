"""The one bar type every feed, store and consumer of market data agrees on.

Alpaca, the simulated market and the database all speak slightly different dialects (field names,
time zones, integer vs float volume). Everything is converted to `NormalizedBar` at the edge, and the
constructor refuses anything malformed, so a bad bar fails loudly where it enters instead of
silently corrupting a chart, an indicator or a fill far downstream.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from core.domain.timeframes import Timeframe

# Bar sizes we accept (core.domain.timeframes), with their lengths: a timeframe string travels from the UI to the
# data API and the database unchanged.
TIMEFRAMES: dict[str, timedelta] = {timeframe.value: timeframe.delta for timeframe in Timeframe}


class MalformedBar(ValueError):
    """A bar that cannot be real (bad prices, bad time, bad timeframe); the message says which rule failed."""


def timeframe_delta(timeframe: str) -> timedelta:
    """Length of one bar of `timeframe`; raises MalformedBar for a timeframe we do not support."""
    try:
        return TIMEFRAMES[timeframe]
    except KeyError:
        allowed = ", ".join(TIMEFRAMES)
        raise MalformedBar(f"unknown timeframe {timeframe!r} (allowed: {allowed})") from None


@dataclass(frozen=True, slots=True)
class NormalizedBar:
    """One OHLCV bar. `timestamp` is the bar's open time in UTC.

    Validation happens in `__post_init__` so that an invalid bar cannot exist at all. Numbers are
    coerced to float (volume included: crypto and some feeds report fractional volume) and the
    timestamp is converted to UTC, so equal bars compare equal whatever zone they arrived in.
    """

    symbol: str
    timeframe: str
    timestamp: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    trade_count: int | None = None
    vwap: float | None = None
    source: str = "unknown"

    def __post_init__(self) -> None:
        where = f"{self.symbol!r} {self.timeframe} bar"
        if not isinstance(self.symbol, str) or not self.symbol.strip():
            raise MalformedBar(f"bar symbol must be a non-empty string, got {self.symbol!r}")
        if self.timeframe not in TIMEFRAMES:
            timeframe_delta(self.timeframe)  # raises with the list of allowed timeframes
        self._set("timestamp", _utc_timestamp(self.timestamp, where))
        where = f"{self.symbol!r} {self.timeframe} bar at {self.timestamp.isoformat()}"

        for name in ("open", "high", "low", "close"):
            value = _finite_float(getattr(self, name), name, where)
            if value <= 0:
                raise MalformedBar(f"{where}: {name} must be > 0, got {value!r}")
            self._set(name, value)
        o, h, lo, c = self.open, self.high, self.low, self.close
        if h < lo:
            raise MalformedBar(f"{where}: high {h!r} is below low {lo!r}")
        if h < max(o, c):
            raise MalformedBar(f"{where}: high {h!r} is below open/close ({o!r}, {c!r})")
        if lo > min(o, c):
            raise MalformedBar(f"{where}: low {lo!r} is above open/close ({o!r}, {c!r})")

        volume = _finite_float(self.volume, "volume", where)
        if volume < 0:
            raise MalformedBar(f"{where}: volume must be >= 0, got {volume!r}")
        self._set("volume", volume)

        if self.trade_count is not None:
            if isinstance(self.trade_count, bool) or not isinstance(self.trade_count, int | np.integer):
                raise MalformedBar(f"{where}: trade_count must be an integer or None, got {self.trade_count!r}")
            if self.trade_count < 0:
                raise MalformedBar(f"{where}: trade_count must be >= 0, got {self.trade_count!r}")
            self._set("trade_count", int(self.trade_count))
        if self.vwap is not None:
            vwap = _finite_float(self.vwap, "vwap", where)
            if vwap <= 0:
                raise MalformedBar(f"{where}: vwap must be > 0, got {vwap!r}")
            self._set("vwap", vwap)
        if not isinstance(self.source, str) or not self.source:
            raise MalformedBar(f"{where}: source must be a non-empty string, got {self.source!r}")

    def _set(self, name: str, value: object) -> None:
        # The dataclass is frozen for everyone else; normalisation during construction is the exception.
        object.__setattr__(self, name, value)

    @property
    def end(self) -> datetime:
        """Close time of the bar (exclusive): a strategy may only see the bar once this has passed."""
        return self.timestamp + TIMEFRAMES[self.timeframe]


def _utc_timestamp(value: object, where: str) -> datetime:
    if not isinstance(value, datetime):
        raise MalformedBar(f"{where}: timestamp must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise MalformedBar(f"{where}: timestamp {value.isoformat()} is naive; it must carry a time zone")
    return value.astimezone(UTC)


def _finite_float(value: object, name: str, where: str) -> float:
    if isinstance(value, bool):
        raise MalformedBar(f"{where}: {name} must be a number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise MalformedBar(f"{where}: {name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise MalformedBar(f"{where}: {name} must be finite, got {number!r}")
    return number


@dataclass(frozen=True, slots=True)
class BarArrays:
    """Column arrays of many bars (float64; time in epoch seconds of the bar open, UTC).

    Charts and vectorised indicators want columns, not millions of objects. Iterating yields
    (t, open, high, low, close, volume) so `chart.set_bars(*arrays)` works.
    """

    t: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __post_init__(self) -> None:
        lengths = {len(a) for a in self.columns()}
        if len(lengths) > 1:
            raise ValueError(f"BarArrays columns differ in length: {sorted(lengths)}")

    def columns(self) -> tuple[np.ndarray, ...]:
        return (self.t, self.open, self.high, self.low, self.close, self.volume)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.columns())

    def __len__(self) -> int:
        return len(self.t)


def to_arrays(bars: Iterable[NormalizedBar]) -> BarArrays:
    """Column view of `bars` (in the given order) for charts and vectorised maths."""
    seq: Sequence[NormalizedBar] = bars if isinstance(bars, Sequence) else list(bars)
    n = len(seq)
    data = np.empty((6, n), dtype=np.float64)
    for i, bar in enumerate(seq):
        data[0, i] = bar.timestamp.timestamp()
        data[1, i] = bar.open
        data[2, i] = bar.high
        data[3, i] = bar.low
        data[4, i] = bar.close
        data[5, i] = bar.volume
    return BarArrays(*(data[k].copy() for k in range(6)))
