"""Bars for the chart: a stored (or fetched) history of any timeframe, and live minutes folded into its last bar.

The live feed delivers 1-minute bars. A chart of 5Min..1Day shows a *forming* bar: the minutes of the bucket in
progress merged (first open, highest high, lowest low, last close, summed volume), replaced in place as each
minute arrives, exactly as the stored aggregation (core.market.aggregate, New York clock buckets, all hours)
will later build it from the same minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta

import numpy as np

from core.domain.bars import BarArrays, NormalizedBar, timeframe_delta
from core.domain.symbols import normalize_symbol
from core.domain.timeframes import Timeframe
from core.market.aggregate import aggregate
from core.market.calendar import NEW_YORK
from core.market.frames import frame_to_arrays
from core.market.history import HistoryService
from core.market.store import BarStore

TIMEFRAMES = tuple(Timeframe)
LOOKBACK: dict[str, timedelta] = {
    Timeframe.MIN_1: timedelta(days=5),
    Timeframe.MIN_5: timedelta(days=30),
    Timeframe.MIN_15: timedelta(days=60),
    Timeframe.MIN_30: timedelta(days=120),
    Timeframe.HOUR_1: timedelta(days=365),
    Timeframe.DAY_1: timedelta(days=3650),
}
_EMPTY = BarArrays(*(np.empty(0, dtype=np.float64) for _ in range(6)))


def bucket_open(t: datetime, timeframe: str) -> datetime:
    """Open time of the `timeframe` bar containing minute `t` (New York clock; daily bars at New York midnight)."""
    if timeframe == Timeframe.DAY_1:
        local = t.astimezone(NEW_YORK)
        return datetime.combine(local.date(), time(0), NEW_YORK).astimezone(UTC)
    step = timeframe_delta(timeframe)
    local = t.astimezone(NEW_YORK)
    midnight = datetime.combine(local.date(), time(0), NEW_YORK)
    return (midnight + ((local - midnight) // step) * step).astimezone(UTC)


@dataclass
class FormingBar:
    """Folds live minutes into bars of `timeframe`; `update` returns the bar to show (same open time: replace)."""

    timeframe: str
    current: NormalizedBar | None = None

    def update(self, minute: NormalizedBar) -> NormalizedBar:
        if self.timeframe == Timeframe.MIN_1:
            self.current = minute
            return minute
        opened = bucket_open(minute.timestamp, self.timeframe)
        bar = self.current
        if bar is None or bar.timestamp != opened:
            bar = replace(minute, timeframe=self.timeframe, timestamp=opened, trade_count=minute.trade_count)
        else:
            bar = replace(
                bar, high=max(bar.high, minute.high), low=min(bar.low, minute.low), close=minute.close,
                volume=bar.volume + minute.volume,
                trade_count=(bar.trade_count or 0) + (minute.trade_count or 0) if bar.trade_count is not None else None,
            )  # fmt: skip
        self.current = bar
        return bar

    def seed(self, last: NormalizedBar | None) -> None:
        """Continue from the chart's last stored bar (a restart inside a bucket keeps its earlier minutes)."""
        self.current = last


def chart_bars(
    store: BarStore,
    symbol: str,
    timeframe: str,
    now: datetime,
    *,
    history: HistoryService | None = None,
    lookback: timedelta | None = None,
) -> BarArrays:
    """The chart's history of `symbol` in `timeframe` up to `now`: fetched through `history` (Alpaca: only what
    was never fetched is requested) or read from the store; coarser bars are aggregated from stored minutes when
    none of that timeframe is stored."""
    if timeframe not in TIMEFRAMES:
        raise ValueError(f"unknown timeframe {timeframe!r} (choose from {', '.join(TIMEFRAMES)})")
    symbol = normalize_symbol(symbol)
    start = now - (lookback or LOOKBACK[timeframe])
    if history is not None:
        return frame_to_arrays(history.bars(symbol, timeframe, start, now).frame)
    stored = store.load(symbol, timeframe, start, now)
    if len(stored.t) or timeframe == Timeframe.MIN_1:
        return stored
    minutes = store.load_frame(symbol, Timeframe.MIN_1, start, now)
    if minutes.empty:
        return _EMPTY
    return frame_to_arrays(aggregate(minutes, timeframe, session="all"))
