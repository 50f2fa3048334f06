"""Helpers for session tests (also used by the Sessions panel's GUI tests): a scripted market played the way
the workstation plays the live feed.

Each bar goes to the last prices, then to the SimBroker (which fills orders placed at earlier bars: next-bar
fills), then to the sessions; the test then waits (with a timeout) until every session has handled it, so
each bar's decisions are on disk before the next bar arrives. Times follow the bars: the manager's and the
broker's clock read the end of the latest bar fed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from core.broker.sim import SimBroker
from core.domain.bars import BarArrays, NormalizedBar, to_arrays
from core.ledger.prices import LastPrices
from core.paper.manager import PaperSessionManager
from tests.paper import cross_strategy

PASSWORD = "Tr4ding-Pass-2026"
T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)  # a Monday, New York morning
CROSS_SOURCE = Path(cross_strategy.__file__).read_text()
# Closes: 12 history bars falling, then live bars rising (fast SMA crosses above the slow one at live bar 2) and
# falling again (below at live bar 8).
HISTORY = [100 - 0.5 * i for i in range(12)]
LIVE = [95, 96, 97, 98, 99, 100, 99, 97, 95, 93, 91, 90]
WAIT_S = 60.0


def bar(minute: int, close: float, *, prev: float | None = None, symbol: str = "ACME") -> NormalizedBar:
    """The 1-minute bar opening ``minute`` minutes after T0, opening at the previous close."""
    open_ = close if prev is None else prev
    return NormalizedBar(symbol, "1Min", T0 + timedelta(minutes=minute), open_, max(open_, close) + 0.1,
                         min(open_, close) - 0.1, close, 10_000, source="test")  # fmt: skip


def series(closes: Iterable[float], first_minute: int, prev: float | None = None, symbol: str = "ACME") -> list:
    out = []
    for i, close in enumerate(closes):
        out.append(bar(first_minute + i, close, prev=prev, symbol=symbol))
        prev = close
    return out


class SimClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FakeSubscriptions:
    """Records who wants which symbols (the workstation's ``want``/``release``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.owners: dict[str, frozenset[str]] = {}

    def want(self, owner: str, symbols: Iterable[str]) -> None:
        with self._lock:
            self.owners[owner] = frozenset(symbols)

    def release(self, owner: str) -> None:
        with self._lock:
            self.owners.pop(owner, None)


class ScriptedHistory:
    """A history loader over the bars a test scripted (and fed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bars: dict[tuple[str, str], list[NormalizedBar]] = {}

    def add(self, *bars: NormalizedBar) -> None:
        with self._lock:
            for b in bars:
                self.bars.setdefault((b.symbol, b.timeframe), []).append(b)

    def __call__(self, symbol: str, timeframe: str, count: int, until: datetime) -> BarArrays:
        with self._lock:
            bars = [b for b in self.bars.get((symbol, timeframe), []) if b.timestamp < until]
        return to_arrays(bars[-count:])


class Market:
    """Plays bars as the workstation does and waits for the sessions to handle each."""

    def __init__(self, clock: SimClock, prices: LastPrices, sim: SimBroker, history: ScriptedHistory) -> None:
        self.clock = clock
        self.prices = prices
        self.sim = sim
        self.history = history
        self.manager: PaperSessionManager | None = None

    def feed(self, *bars: NormalizedBar) -> None:
        assert self.manager is not None
        for b in bars:
            self.clock.now = b.end
            self.history.add(b)
            self.prices.update(b.symbol, Decimal(repr(b.close)))
            self.sim.on_bar(b)
            self.manager.on_bar(b)
            assert self.manager.wait_idle(WAIT_S), "a session did not handle a bar in time"
