"""Simulated live bars for the walking skeleton: history first, then one new bar per tick.

Time is compressed: a new one-minute bar arrives every `interval_ms` of wall time, so the chart
visibly moves. A later issue replaces this with the feed service (Alpaca or simulated, stored and
published); the window only depends on `preload()` and the `barReady` signal.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from PySide6.QtCore import QObject, QTimer, Signal

from core.market.bars import BarArrays, timeframe_delta, to_arrays
from core.market.simulated import RandomWalkBarGenerator


class SimFeed(QObject):
    """QTimer-driven random-walk feed on the GUI thread (generating one bar costs microseconds)."""

    barReady = Signal(object)  # a NormalizedBar

    def __init__(
        self,
        symbol: str = "SIM",
        timeframe: str = "1Min",
        history_bars: int = 2000,
        interval_ms: int = 1000,
        seed: int | None = None,
        now: datetime | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.symbol = symbol
        self.timeframe = timeframe
        self.history_bars = history_bars
        step = timeframe_delta(timeframe)
        now = (now or datetime.now(UTC)).astimezone(UTC)
        # Bars line up on timeframe boundaries and the history ends just before the current bar.
        aligned = datetime.fromtimestamp(now.timestamp() // step.total_seconds() * step.total_seconds(), UTC)
        start = aligned - history_bars * step
        self._generator = RandomWalkBarGenerator(
            symbol, start, seed=secrets.randbits(32) if seed is None else seed, timeframe=timeframe
        )
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._preloaded = False

    def preload(self) -> BarArrays:
        """The history bars (validated NormalizedBars, as columns). Call once, before start()."""
        if self._preloaded:
            raise RuntimeError("SimFeed.preload() may only be called once")
        self._preloaded = True
        return to_arrays(self._generator.history(self.history_bars))

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def is_running(self) -> bool:
        return self._timer.isActive()

    def _tick(self) -> None:
        self.barReady.emit(self._generator.next_bar())
