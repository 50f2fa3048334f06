"""The built-in market of a StratForge with no Alpaca keys: random-walk minute bars, stored like real ones.

When a symbol is first wanted, the market brings its stored 1-minute series up to the current minute (at most
`backfill` of history, continuing from the last stored close, so a restart does not make the price jump), then
hands the same walk to the live feed, which delivers each following bar when its minute is over. The stored
series is therefore the one the chart shows and the one a backtest later reads. The simulated market trades
around the clock; the SIMULATED mode label says so.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from core.domain.bars import timeframe_delta
from core.domain.clock import utc_now
from core.domain.symbols import normalize_symbol
from core.domain.timeframes import Timeframe
from core.market.live import bars_frame
from core.market.simulated import SOURCE, RandomWalkBarGenerator
from core.market.simulated_feed import SimulatedBarFeed
from core.market.store import BarStore

log = logging.getLogger(__name__)

TIMEFRAME = Timeframe.MIN_1
DEFAULT_BACKFILL = timedelta(days=3)



def opening_price(symbol: str) -> float:
    """A stable first price per symbol (between 20 and 500), so two symbols do not look alike."""
    return 20.0 + (zlib.crc32(symbol.encode()) % 48_000) / 100.0


class SimulatedMarket:
    """Thread-safe `prepare(symbol)`: call it off the GUI thread before subscribing the symbol on the feed."""

    def __init__(
        self,
        store: BarStore,
        feed: SimulatedBarFeed,
        *,
        backfill: timedelta = DEFAULT_BACKFILL,
        seed: int = 0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._feed = feed
        self._backfill = backfill
        self._seed = seed
        self._now = clock
        self._prepared: set[str] = set()
        self._lock = threading.Lock()

    def prepare(self, symbol: str) -> int:
        """Store the bars missing up to the current minute and give the feed the walk that continues them.
        Returns the number of bars stored (0 when the symbol was prepared already)."""
        symbol = normalize_symbol(symbol)
        with self._lock:
            if symbol in self._prepared:
                return 0
            step = timeframe_delta(TIMEFRAME)
            now = self._now()
            current = now - (now - datetime(2000, 1, 1, tzinfo=UTC)) % step  # the minute in progress
            earliest = current - self._backfill
            last_open = self._store.last_open(symbol, TIMEFRAME)
            start, price = earliest, opening_price(symbol)
            if last_open is not None:
                start = max(earliest, last_open + step)  # older than the backfill: a gap, as after a holiday
                stored = self._store.load(symbol, TIMEFRAME, last_open, last_open + step)
                if len(stored.close):
                    price = float(stored.close[-1])  # the price continues where it stopped
            seed = self._seed + zlib.crc32(f"{symbol}@{start.isoformat()}".encode())
            walk = RandomWalkBarGenerator(symbol, start, start_price=price, seed=seed, timeframe=TIMEFRAME)
            missing = max(0, int((current - start) / step))
            if missing:
                self._store.insert(symbol, TIMEFRAME, bars_frame(walk.history(missing)), source=SOURCE)
            self._feed.adopt_walk(walk)
            self._prepared.add(symbol)
        log.info("simulated market: %s ready (%d bars stored)", symbol, missing)
        return missing
