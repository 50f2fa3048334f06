"""Where a session's window of past bars comes from when it starts (and when a coarse bar closes).

A loader is any ``(symbol, timeframe, count, until) -> BarArrays`` returning up to ``count`` of the most
recent bars opening before ``until``, oldest first. The app's is :func:`store_history`: the same history the
chart shows (stored bars, fetched through the history service when Alpaca is configured, coarser timeframes
aggregated from stored minutes), so a session starts from the bars the trader sees.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from core.domain.bars import BarArrays
from core.market.chart_bars import chart_bars
from core.market.history import HistoryService
from core.market.store import BarStore

HistoryLoader = Callable[[str, str, int, datetime], BarArrays]


def tail(arrays: BarArrays, count: int) -> BarArrays:
    """The last ``count`` bars of ``arrays``."""
    if len(arrays) <= count:
        return arrays
    return BarArrays(*(column[-count:] for column in arrays.columns()))


def store_history(store: BarStore, history: HistoryService | None = None) -> HistoryLoader:
    """A loader over the bar store (and the history service, if given)."""

    def load(symbol: str, timeframe: str, count: int, until: datetime) -> BarArrays:
        return tail(chart_bars(store, symbol, timeframe, until, history=history), count)

    return load
