"""The offline market: minute bars from a seeded random walk, or a replay of stored bars, at a chosen speed.

With no Alpaca keys StratForge still runs paper sessions, so this feed keeps the
live feed's timing: a bar is delivered when its minute is over (its open time
plus one minute on the simulated clock), never earlier, so a strategy cannot see
a bar before it could have in the market. ``speed`` scales the clock (60: a
simulated minute per second). A replay jumps over the nights and weekends
between stored bars (``skip_gaps``) instead of waiting through them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta

import pandas as pd

from core.domain.bars import NormalizedBar, timeframe_delta
from core.domain.clock import utc_now
from core.domain.symbols import normalize_symbol
from core.domain.timeframes import Timeframe
from core.market.live import BarSink, bars_of
from core.market.simulated import RandomWalkBarGenerator


class SimulatedBarFeed:
    """Same interface as AlpacaBarFeed: ``subscribe``/``unsubscribe``/``run``/``stop``, all on the loop."""

    def __init__(
        self,
        sink: BarSink,
        *,
        speed: float = 1.0,
        seed: int = 0,
        start: datetime | None = None,
        replay: Mapping[str, pd.DataFrame] | None = None,
        skip_gaps: bool = True,
        timeframe: str = Timeframe.MIN_1,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        self._sink = sink
        self._speed = speed
        self._seed = seed
        self._step = timeframe_delta(timeframe)
        self._timeframe = timeframe
        self._skip_gaps = skip_gaps
        self._mono = monotonic
        self._replay = {
            s.upper(): bars_of(s.upper(), timeframe, f, source="simulated") for s, f in (replay or {}).items()
        }
        if replay is not None:
            first = min((bars[0].timestamp for bars in self._replay.values() if bars), default=None)
            origin = start or first or now()
        else:
            origin = start or now()
            origin = origin - (origin - datetime(2000, 1, 1, tzinfo=UTC)) % self._step  # on a bar boundary
        self._sim_origin = origin
        self._mono_origin: float | None = None
        self._walks: dict[str, RandomWalkBarGenerator] = {}
        self._pending: dict[str, NormalizedBar] = {}  # the next bar of each subscribed symbol
        self._cursor: dict[str, int] = {}  # replay position per symbol
        self._changed: asyncio.Event | None = None
        self._stopping = False
        self.delivered = 0

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(self._pending) | frozenset(s for s in self._cursor if s not in self._pending)

    def sim_now(self) -> datetime:
        """The simulated clock (its origin until ``run`` starts it)."""
        if self._mono_origin is None:
            return self._sim_origin
        return self._sim_origin + timedelta(seconds=(self._mono() - self._mono_origin) * self._speed)

    def adopt_walk(self, walk: RandomWalkBarGenerator) -> None:
        """Continue ``walk`` (positioned at its next bar) for its symbol instead of starting a fresh walk: the
        simulated market continues the history it stored, so the live bars join the chart without a jump."""
        if self._replay:
            raise ValueError("a replay feed plays stored bars; it has no random walks")
        self._walks[walk.symbol.upper()] = walk

    async def subscribe(self, symbols: Iterable[str]) -> None:
        for symbol in {normalize_symbol(s) for s in symbols}:
            if symbol in self._pending:
                continue
            if self._replay:
                if symbol not in self._replay:
                    raise ValueError(f"{symbol} is not in this replay (it holds {', '.join(sorted(self._replay))})")
                index = self._cursor.get(symbol, 0)
                bars = self._replay[symbol]
                now = self.sim_now()
                while index < len(bars) and bars[index].end <= now and self._mono_origin is not None:
                    index += 1  # a replay joined late starts at the bar in progress
                self._cursor[symbol] = index
                if index < len(bars):
                    self._pending[symbol] = bars[index]
            else:
                walk = self._walks.get(symbol)
                if walk is None:
                    bar_start = self.sim_now() - (self.sim_now() - self._sim_origin) % self._step
                    seed = self._seed + zlib.crc32(symbol.encode())
                    walk = RandomWalkBarGenerator(symbol, bar_start, seed=seed, timeframe=self._timeframe)
                    self._walks[symbol] = walk
                self._pending[symbol] = walk.next_bar()
        self._wake()

    async def unsubscribe(self, symbols: Iterable[str]) -> None:
        for symbol in {normalize_symbol(s) for s in symbols}:
            self._pending.pop(symbol, None)
            self._walks.pop(symbol, None)
        self._wake()

    async def run(self) -> None:
        self._changed = asyncio.Event()
        self._stopping = False
        if self._mono_origin is None:
            self._mono_origin = self._mono()
        try:
            while not self._stopping:
                due = min((bar.end for bar in self._pending.values()), default=None)
                if due is None:
                    await self._wait(None)
                    continue
                now = self.sim_now()
                if due > now and self._replay and self._skip_gaps and due - now > self._step:
                    self._jump(due - now - self._step)  # a night or weekend between stored bars
                    continue
                if due > now:
                    await self._wait((due - now).total_seconds() / self._speed)
                    continue
                for symbol, bar in sorted(self._pending.items()):
                    if bar.end <= now:
                        self._deliver(symbol, bar)
        finally:
            self._changed = None

    async def stop(self) -> None:
        self._stopping = True
        self._wake()

    def _deliver(self, symbol: str, bar: NormalizedBar) -> None:
        self._sink.put(bar)
        self.delivered += 1
        if self._replay:
            index = self._cursor[symbol] + 1
            self._cursor[symbol] = index
            bars = self._replay[symbol]
            if index < len(bars):
                self._pending[symbol] = bars[index]
            else:
                del self._pending[symbol]  # the replay of this symbol is over
        else:
            self._pending[symbol] = self._walks[symbol].next_bar()

    def _jump(self, by: timedelta) -> None:
        self._sim_origin += by

    async def _wait(self, timeout: float | None) -> None:
        assert self._changed is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)
        self._changed.clear()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
