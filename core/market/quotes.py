"""Last price and change per symbol, for the watchlist, kept from the live bars.

"Change" is measured the way a trader reads it on any quote screen: from the previous trading day's last
close. The day is the New York calendar day of the bar's open time, so pre-market bars already count against
yesterday's close. Before a previous close is known (a symbol first seen today, no stored history), the first
price seen is the reference and the quote says so (`reference_is_prior_close` False).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from core.domain.bars import NormalizedBar
from core.market.calendar import NEW_YORK


@dataclass(frozen=True)
class Quote:
    symbol: str
    last: float
    at: datetime  # open time of the bar that gave `last` (UTC)
    reference: float
    reference_is_prior_close: bool

    @property
    def change(self) -> float:
        return self.last - self.reference

    @property
    def change_pct(self) -> float:
        return (self.last / self.reference - 1.0) * 100.0 if self.reference else math.nan


@dataclass
class _State:
    last: float
    at: datetime
    day: date
    reference: float
    prior_close: bool


def _ny_day(t: datetime) -> date:
    return t.astimezone(NEW_YORK).date()


class QuoteBoard:
    """Thread-safe: live bars arrive on the feed's thread, the GUI reads snapshots."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, _State] = {}

    def seed(self, symbol: str, times: np.ndarray, closes: np.ndarray) -> None:
        """Start `symbol` from stored bars (open times in epoch seconds, ascending): its last close, and the
        close of the last bar of the day before the last bar's day as the reference."""
        if len(times) == 0:
            return
        at = datetime.fromtimestamp(float(times[-1]), UTC)
        day = _ny_day(at)
        days = np.array([_ny_day(datetime.fromtimestamp(float(t), UTC)) for t in times[-2000:]])
        earlier = np.nonzero(days < day)[0]
        if len(earlier):
            offset = len(times) - len(days)
            reference, prior = float(closes[offset + earlier[-1]]), True
        else:
            reference, prior = float(closes[0]), False
        with self._lock:
            self._state[symbol.upper()] = _State(float(closes[-1]), at, day, reference, prior)

    def update(self, bar: NormalizedBar) -> Quote:
        """Take a live bar; a bar older than the last one seen is ignored (the quote is returned unchanged)."""
        symbol = bar.symbol.upper()
        day = _ny_day(bar.timestamp)
        with self._lock:
            state = self._state.get(symbol)
            if state is None:
                state = _State(bar.close, bar.timestamp, day, bar.open, False)
                self._state[symbol] = state
            elif bar.timestamp >= state.at:
                if day > state.day:
                    state.reference, state.prior_close, state.day = state.last, True, day
                state.last, state.at = bar.close, bar.timestamp
            return _quote(symbol, state)

    def quote(self, symbol: str) -> Quote | None:
        with self._lock:
            state = self._state.get(symbol.upper())
            return None if state is None else _quote(symbol.upper(), state)

    def quotes(self, symbols: list[str]) -> list[Quote]:
        """Quotes of the symbols that have one, in the order asked."""
        found = (self.quote(s) for s in symbols)
        return [q for q in found if q is not None]


def _quote(symbol: str, state: _State) -> Quote:
    return Quote(symbol, state.last, state.at, state.reference, state.prior_close)
