"""Last prices the ledger values orders and positions at: live when the feed has given one, else the last
stored close, and a quote that says which.

Before the first live bar of a symbol closes (up to a minute after start, longer outside market hours) the
chart already shows its stored bars; refusing an order with "no price is known" then, or valuing a position at
its cost, contradicts what the trader sees. So a ``LastPrices`` may be given a ``stored`` lookup (the newest
stored bar's close: ``core.ledger.stored_prices.StoredCloses``) that answers until the feed does. Every
answer can be asked for as a ``PriceQuote`` that carries its origin, so a view marks a stored close as such.

The club's router must cross traders' orders at a price the market is trading at now, never at last night's
close: it is given ``live_only`` (the same live map, without the fallback).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from core.domain.clock import utc_now


class PriceSource(Protocol):
    def last_price(self, symbol: str) -> Decimal | None: ...


class PriceOrigin(StrEnum):
    LIVE = "live"  # from the running feed
    STORED = "last close"  # the newest stored bar's close: live data not yet received


@dataclass(frozen=True)
class PriceQuote:
    """A price and where it came from. ``as_of``: when a live price arrived, or when the stored bar closed."""

    symbol: str
    price: Decimal
    as_of: datetime
    source: PriceOrigin

    @property
    def stale(self) -> bool:
        """True for a stored close: the market may have moved since."""
        return self.source is PriceOrigin.STORED


StoredLookup = Callable[[str], PriceQuote | None]


class _LiveOnly:
    """The live half of a ``LastPrices``: what the club's router crosses orders at."""

    def __init__(self, prices: LastPrices) -> None:
        self._prices = prices

    def last_price(self, symbol: str) -> Decimal | None:
        return self._prices.live_price(symbol)


class LastPrices:
    """A thread-safe symbol -> last price map, fed by whichever bar feed is running; with ``stored``, a symbol
    the feed has not priced yet falls back to its last stored close (the lookup may block on the database:
    call ``last_price``/``quote`` off the GUI thread; ``cached_quote`` never blocks)."""

    def __init__(
        self,
        prices: dict[str, Decimal] | None = None,
        *,
        stored: StoredLookup | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        now = clock()
        self._prices: dict[str, tuple[Decimal, datetime]] = {s: (p, now) for s, p in (prices or {}).items()}
        self._stored = stored
        self._stored_seen: dict[str, PriceQuote] = {}  # what the lookup answered, for cached_quote
        self.live_only: PriceSource = _LiveOnly(self)

    def update(self, symbol: str, price: Decimal | float, at: datetime | None = None) -> None:
        value = price if isinstance(price, Decimal) else Decimal(str(price))
        with self._lock:
            self._prices[symbol] = (value, at or self._clock())

    def live_price(self, symbol: str) -> Decimal | None:
        """The feed's last price only (None before its first bar of ``symbol``)."""
        with self._lock:
            found = self._prices.get(symbol)
        return found[0] if found is not None else None

    def last_price(self, symbol: str) -> Decimal | None:
        quote = self.quote(symbol)
        return quote.price if quote is not None else None

    def quote(self, symbol: str) -> PriceQuote | None:
        """The live price, else the last stored close (None when there is neither)."""
        live = self.cached_quote(symbol)
        if live is not None and not live.stale:
            return live
        if self._stored is None:
            return None
        stored = self._stored(symbol)
        if stored is not None:
            with self._lock:
                self._stored_seen[symbol] = stored
        return stored

    def cached_quote(self, symbol: str) -> PriceQuote | None:
        """What is known without reading the database: the live price, else a stored close already read."""
        with self._lock:
            found = self._prices.get(symbol)
            if found is not None:
                return PriceQuote(symbol, found[0], found[1], PriceOrigin.LIVE)
            return self._stored_seen.get(symbol)
