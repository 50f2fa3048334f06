"""A deterministic random-walk market, for the solo user without keys and for tests.

The walk is geometric (prices stay positive), each bar opens at the previous close, and high/low
envelope open and close, so every bar passes `NormalizedBar` validation. All random numbers come
from one seeded generator consumed in a fixed order (four normals per bar), which makes
`history(n)` produce exactly the same bars as `n` calls of `next_bar()`: a simulated session and
its backtest see the same market.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np

from core.domain.bars import BarArrays, MalformedBar, NormalizedBar, timeframe_delta
from core.domain.timeframes import Timeframe

# Per-minute log-return volatility (about 1.6% a day over 390 minutes, a lively large-cap stock).
_SIGMA_PER_MINUTE = 0.0008
_BASE_VOLUME = 5_000.0
SOURCE = "simulated"


class RandomWalkBarGenerator:
    """Produces consecutive bars of one symbol starting at `start` (the first bar's open time)."""

    def __init__(
        self,
        symbol: str,
        start: datetime,
        start_price: float = 100.0,
        seed: int = 0,
        timeframe: str = Timeframe.MIN_1,
    ) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            raise MalformedBar(f"generator start {start.isoformat()} is naive; it must carry a time zone")
        if not math.isfinite(start_price) or start_price <= 0:
            raise MalformedBar(f"generator start_price must be a finite number > 0, got {start_price!r}")
        if not symbol.strip():
            raise MalformedBar("generator symbol must be a non-empty string")
        self.symbol = symbol
        self.timeframe = timeframe
        self._step_seconds = timeframe_delta(timeframe).total_seconds()
        self._sigma = _SIGMA_PER_MINUTE * math.sqrt(self._step_seconds / 60.0)
        self._start_epoch = start.timestamp()
        self._rng = np.random.default_rng(seed)
        self._last_close = float(start_price)
        self._index = 0  # index of the next bar to produce

    @property
    def next_timestamp_epoch(self) -> float:
        """Open time (epoch seconds, UTC) of the bar the next call will produce."""
        return self._start_epoch + self._index * self._step_seconds

    def history_arrays(self, n: int) -> BarArrays:
        """The next `n` bars as column arrays, without building bar objects (fast for millions)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        z = self._rng.standard_normal((n, 4))
        sigma = self._sigma
        growth = np.exp(sigma * z[:, 0])
        # multiply.accumulate is a sequential left-to-right product, so history(n) and n x next_bar()
        # give bit-identical prices.
        chain = np.multiply.accumulate(np.concatenate(([self._last_close], growth)))
        opens = chain[:-1]
        closes = chain[1:]
        highs = np.maximum(opens, closes) * np.exp(0.5 * sigma * np.abs(z[:, 1]))
        lows = np.minimum(opens, closes) * np.exp(-0.5 * sigma * np.abs(z[:, 2]))
        volumes = np.round(_BASE_VOLUME * np.exp(0.5 * z[:, 3]))
        t = self._start_epoch + (self._index + np.arange(n, dtype=np.float64)) * self._step_seconds
        if n:
            self._last_close = float(closes[-1])
        self._index += n
        return BarArrays(t, opens.copy(), highs, lows, closes.copy(), volumes)

    def history(self, n: int) -> list[NormalizedBar]:
        """The next `n` bars as validated NormalizedBar objects."""
        return bars_from_arrays(self.history_arrays(n), self.symbol, self.timeframe)

    def next_bar(self) -> NormalizedBar:
        """The next bar (one timeframe step after the previous one)."""
        return self.history(1)[0]


def bars_from_arrays(arrays: BarArrays, symbol: str, timeframe: str, source: str = SOURCE) -> list[NormalizedBar]:
    """Build validated bars from column arrays (used by the generator; handy for tests)."""
    bars: list[NormalizedBar] = []
    for t, o, h, lo, c, v in zip(*(col.tolist() for col in arrays), strict=True):
        bars.append(
            NormalizedBar(
                symbol=symbol,
                timeframe=timeframe,
                timestamp=datetime.fromtimestamp(t, UTC),
                open=o,
                high=h,
                low=lo,
                close=c,
                volume=v,
                trade_count=max(1, int(v) // 100),
                vwap=(h + lo + c) / 3.0,
                source=source,
            )
        )
    return bars
