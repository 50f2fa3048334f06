"""The last stored close of a symbol: the price until live data arrives (``LastPrices(stored=StoredCloses(...))``).

The newest bar of any timeframe counts: a symbol imported only as daily bars has a price too, and where a
symbol has minutes and days, whichever closed last wins (the finer one on a tie). One indexed read per
timeframe (``ORDER BY timestamp DESC LIMIT 1`` on the primary key), all in one statement; the answer is cached
for the app's life, since once the feed prices a symbol the live price is used instead. A symbol with no stored
bar is asked again after ``miss_ttl_s`` (an import or the simulated market's backfill may store some).
A failed read is logged and answers None: a price lookup never breaks an order's risk check or a portfolio.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal

from sqlalchemy import Engine

from core.db.raw import raw_connection
from core.domain.symbols import normalize_symbol
from core.domain.timeframes import Timeframe
from core.ledger.prices import PriceOrigin, PriceQuote
from core.market.calendar import NEW_YORK

log = logging.getLogger(__name__)

MISS_TTL_S = 30.0
REGULAR_CLOSE = clock_time(16, 0)  # a daily bar's close is the regular session's close, New York time

# The newest bar of each timeframe of one symbol: one primary-key probe per timeframe, not a scan of its bars.
_NEWEST = """
SELECT tf, last.timestamp, last.close
  FROM tickers t
 CROSS JOIN unnest(%(timeframes)s::text[]) AS tf
 CROSS JOIN LATERAL (SELECT b.timestamp, b.close FROM ohlcv_bars b
                      WHERE b.ticker_id = t.id AND b.timeframe = tf
                      ORDER BY b.timestamp DESC LIMIT 1) AS last
 WHERE t.symbol = %(symbol)s
"""
_FINEST_FIRST = tuple(Timeframe)


def bar_close_time(timeframe: str, opened: datetime) -> datetime:
    """When a bar that opened at ``opened`` closed: an intraday bar one step later, a daily bar at 16:00 New York
    time of its day (its open time is New York midnight)."""
    tf = Timeframe(timeframe)
    if tf is Timeframe.DAY_1:
        day = opened.astimezone(NEW_YORK).date()
        return datetime.combine(day, REGULAR_CLOSE, NEW_YORK).astimezone(UTC)
    return opened + tf.delta


def newest_close(rows: list[tuple[str, datetime, float]], symbol: str) -> PriceQuote | None:
    """The close of the bar that closed last among ``rows`` (timeframe, open time, close); the finer timeframe
    on a tie. Bar prices are float64, converted through their shortest repr as the live feed converts them."""
    best: tuple[datetime, int, float] | None = None
    for timeframe, opened, close in rows:
        closed = bar_close_time(timeframe, opened)
        rank = -_FINEST_FIRST.index(Timeframe(timeframe))
        if best is None or (closed, rank) > best[:2]:
            best = (closed, rank, close)
    if best is None:
        return None
    return PriceQuote(symbol, Decimal(repr(best[2])), best[0], PriceOrigin.STORED)


class StoredCloses:
    """``symbol -> PriceQuote | None``: the last stored close, cached (thread-safe)."""

    def __init__(
        self, engine: Engine, *, miss_ttl_s: float = MISS_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._engine = engine
        self._miss_ttl = timedelta(seconds=miss_ttl_s).total_seconds()
        self._clock = clock
        self._lock = threading.Lock()
        self._found: dict[str, PriceQuote] = {}
        self._missed: dict[str, float] = {}  # symbol -> when a read found no bar

    def __call__(self, symbol: str) -> PriceQuote | None:
        symbol = normalize_symbol(symbol)
        with self._lock:
            if symbol in self._found:
                return self._found[symbol]
            missed = self._missed.get(symbol)
            if missed is not None and self._clock() - missed < self._miss_ttl:
                return None
        try:
            quote = self._read(symbol)
        except Exception:
            log.warning("could not read the last stored close of %s", symbol, exc_info=True)
            return None
        with self._lock:
            if quote is None:
                self._missed[symbol] = self._clock()
            else:
                self._found[symbol] = quote
                self._missed.pop(symbol, None)
        return quote

    def forget(self, symbol: str) -> None:
        """Read ``symbol`` again next time (its bars were replaced or deleted)."""
        symbol = normalize_symbol(symbol)
        with self._lock:
            self._found.pop(symbol, None)
            self._missed.pop(symbol, None)

    def _read(self, symbol: str) -> PriceQuote | None:
        with raw_connection(self._engine, autocommit=True) as conn:
            rows = conn.execute(_NEWEST, {"timeframes": [str(tf) for tf in Timeframe], "symbol": symbol}).fetchall()
        return newest_close([(str(tf), at, float(close)) for tf, at, close in rows], symbol)
