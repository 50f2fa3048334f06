"""The bars a session decides on: a rolling window of closed bars per symbol, and when a bar closes.

The live feed publishes 1-minute bars. A 1Min session decides on each of them. A coarser session folds the
minutes into buckets on the New York clock (``core.market.chart_bars``, as the stored aggregation builds them)
and decides once a bucket has closed: when its last minute arrives, or when a minute of a later bucket
does (a quiet minute with no trades never arrives; a daily bar closes with the next day's first minute).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from core.domain.bars import BarArrays, NormalizedBar, timeframe_delta
from core.domain.timeframes import Timeframe
from core.market.chart_bars import bucket_open
from core.strategy.api import BarData

_MINUTE = Timeframe.MIN_1


@dataclass(frozen=True)
class ClosedBar:
    symbol: str
    time: datetime  # open time, UTC
    open: float
    high: float
    low: float
    close: float
    volume: float

    @classmethod
    def of(cls, bar: NormalizedBar) -> ClosedBar:
        return cls(bar.symbol, bar.timestamp, bar.open, bar.high, bar.low, bar.close, bar.volume)


class BarWindow:
    """The last ``size`` closed bars of one symbol, oldest first; a bar not newer than the last is ignored
    (a replay, or a live bar the history already had)."""

    def __init__(self, symbol: str, size: int) -> None:
        self.symbol = symbol
        self._rows: deque[tuple[float, float, float, float, float, float]] = deque(maxlen=size)

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def last_time(self) -> float | None:
        """Open time (epoch seconds) of the newest bar."""
        return self._rows[-1][0] if self._rows else None

    def replace_with(self, arrays: BarArrays) -> None:
        """Start over from stored history (epoch-second times, oldest first)."""
        self._rows.clear()
        for row in zip(*(np.asarray(c, dtype=np.float64).tolist() for c in arrays.columns()), strict=True):
            self._rows.append(row)

    def last(self) -> ClosedBar:
        t, o, h, lo, c, v = self._rows[-1]
        return ClosedBar(self.symbol, datetime.fromtimestamp(t, UTC), o, h, lo, c, v)

    def add(self, bar: ClosedBar) -> bool:
        t = bar.time.timestamp()
        if self._rows and t <= self._rows[-1][0]:
            return False
        self._rows.append((t, bar.open, bar.high, bar.low, bar.close, bar.volume))
        return True

    def data(self) -> BarData:
        columns = np.array(self._rows, dtype=np.float64).reshape(-1, 6).T
        return BarData.from_arrays(self.symbol, *columns)


class BucketFolder:
    """Folds one symbol's live minutes into ``timeframe`` bars; ``add`` returns the bars that closed."""

    def __init__(self, timeframe: str) -> None:
        self.timeframe = timeframe
        self._step = timeframe_delta(timeframe)
        self._current: NormalizedBar | None = None

    def add(self, minute: NormalizedBar) -> list[NormalizedBar]:
        if self.timeframe == _MINUTE:
            return [minute]
        opened = bucket_open(minute.timestamp, self.timeframe)
        closed: list[NormalizedBar] = []
        bar = self._current
        if bar is not None and opened < bar.timestamp:
            return []  # a minute of a bucket already closed: too late to matter
        if bar is not None and opened > bar.timestamp:
            closed.append(bar)
            bar = None
        if bar is None:
            bar = replace(minute, timeframe=self.timeframe, timestamp=opened)
        else:
            bar = replace(
                bar, high=max(bar.high, minute.high), low=min(bar.low, minute.low), close=minute.close,
                volume=bar.volume + minute.volume,
            )  # fmt: skip
        if minute.end >= _bucket_end(opened, self.timeframe, self._step):
            closed.append(bar)
            self._current = None
        else:
            self._current = bar
        return closed


def _bucket_end(opened: datetime, timeframe: str, step: timedelta) -> datetime:
    if timeframe == Timeframe.DAY_1:
        # The next New York midnight (23 or 25 hours away on a clock change): the bucket of a minute after it.
        return bucket_open(opened + Timeframe.DAY_1.delta + Timeframe.HOUR_1.delta * 2, Timeframe.DAY_1)
    return (opened + step).astimezone(UTC)
