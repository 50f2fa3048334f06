"""Bars for backtests and batches, from the bar store: the stored timeframe, or 1-minute bars aggregated.

A backtest over a range with no stored bars must say so (and how to get them), not run on nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import numpy as np

from core.domain.timeframes import Timeframe
from core.market.aggregate import aggregate
from core.market.store import BarStore
from core.strategy.api import BarData


class NoBarsError(LookupError):
    """No bars for a symbol in the requested range."""


def stored_bars(store: BarStore, timeframe: str, start: datetime, end: datetime) -> Callable[[str], BarData]:
    """A loader ``symbol -> BarData`` over ``[start, end)``; raises NoBarsError for an empty range."""

    def load(symbol: str) -> BarData:
        symbol = symbol.upper()
        arrays = store.load(symbol, timeframe, start, end)
        if len(arrays.t) == 0 and timeframe != Timeframe.MIN_1:
            frame = aggregate(store.load_frame(symbol, Timeframe.MIN_1, start, end), timeframe)
            seconds = frame["timestamp"].to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
            return _checked(symbol, BarData.from_arrays(
                symbol, seconds, *(frame[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume"))
            ), timeframe, start, end)  # fmt: skip
        data = BarData.from_arrays(symbol, arrays.t, arrays.open, arrays.high, arrays.low, arrays.close, arrays.volume)
        return _checked(symbol, data, timeframe, start, end)

    return load


def _checked(symbol: str, data: BarData, timeframe: str, start: datetime, end: datetime) -> BarData:
    if len(data) == 0:
        raise NoBarsError(
            f"no {timeframe} bars stored for {symbol} from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC; "
            "import or fetch them first (stratforge-market import / fetch)"
        )
    return data
