"""Last traded prices the ledger values orders and positions at."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Protocol


class PriceSource(Protocol):
    def last_price(self, symbol: str) -> Decimal | None: ...


class LastPrices:
    """A thread-safe symbol -> last price map, fed by whichever bar feed is running."""

    def __init__(self, prices: dict[str, Decimal] | None = None) -> None:
        self._lock = threading.Lock()
        self._prices: dict[str, Decimal] = dict(prices or {})

    def update(self, symbol: str, price: Decimal | float) -> None:
        value = price if isinstance(price, Decimal) else Decimal(str(price))
        with self._lock:
            self._prices[symbol] = value

    def last_price(self, symbol: str) -> Decimal | None:
        with self._lock:
            return self._prices.get(symbol)
