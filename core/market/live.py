"""Where live bars go: checked, stored, then published, off the event loop.

Feeds run on the application's asyncio loop (qasync's, in the GUI), where no
database call may block. Every feed hands its raw bars to one ``LiveBars``
sink, which does the rest on its own thread, in arrival order: convert and
validate (a malformed bar is counted and logged, never stored or shown), store
(so the series a chart shows is the series a backtest later reads), and only
then call the listeners. Listeners run on that thread; Qt code marshals to the
GUI thread with a queued signal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

import pandas as pd

from core.domain.bars import MalformedBar, NormalizedBar
from core.domain.timeframes import Timeframe
from core.market.dispatch_thread import DispatchThread
from core.market.frames import BAR_COLUMNS
from core.market.store import BarStore

log = logging.getLogger(__name__)

BarListener = Callable[[NormalizedBar], None]


class BarSink(Protocol):
    """What feeds deliver to (``LiveBars``, or a recorder in tests)."""

    def put(self, bar: NormalizedBar | dict[str, Any]) -> None: ...

    def publish_stored(self, bars: Iterable[NormalizedBar]) -> None: ...


def bar_from_alpaca(message: dict[str, Any], timeframe: str = Timeframe.MIN_1) -> NormalizedBar:
    """A bar message of Alpaca's data stream (raw: ``T``, ``S``, ``o`` ... ``t`` as a msgpack Timestamp)."""
    stamp: object = message.get("t")
    if hasattr(stamp, "to_datetime"):
        stamp = stamp.to_datetime()
    elif isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    elif isinstance(stamp, datetime) and stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)  # alpaca-py's parsed models carry UTC times without a zone
    return NormalizedBar(
        symbol=str(message.get("S", "")),
        timeframe=timeframe,
        timestamp=stamp,  # type: ignore[arg-type]
        open=message.get("o"),  # type: ignore[arg-type]
        high=message.get("h"),  # type: ignore[arg-type]
        low=message.get("l"),  # type: ignore[arg-type]
        close=message.get("c"),  # type: ignore[arg-type]
        volume=message.get("v"),  # type: ignore[arg-type]
        trade_count=message.get("n"),
        vwap=message.get("vw"),
        source="alpaca",
    )


def bars_frame(bars: Iterable[NormalizedBar]) -> pd.DataFrame:
    """A bar frame (``core.market.frames``) of bars of one series."""
    rows = [
        (b.timestamp, b.open, b.high, b.low, b.close, b.volume, b.trade_count, b.vwap) for b in bars
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(BAR_COLUMNS))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    frame["trade_count"] = frame["trade_count"].astype("Int64")
    frame["vwap"] = frame["vwap"].astype("float64")
    return frame


def bars_of(symbol: str, timeframe: str, frame: pd.DataFrame, *, source: str) -> list[NormalizedBar]:
    """The rows of a bar frame as bars (for publishing bars read back from the store)."""
    counts = frame["trade_count"].astype("Int64")
    return [
        NormalizedBar(
            symbol, timeframe, stamp.to_pydatetime(), o, h, lo, c, v,
            None if pd.isna(n) else int(n), None if pd.isna(vw) else vw, source=source,
        )
        for stamp, o, h, lo, c, v, n, vw in zip(
            frame["timestamp"], frame["open"], frame["high"], frame["low"], frame["close"], frame["volume"], counts,
            frame["vwap"], strict=True,
        )
    ]  # fmt: skip


class LiveBars:
    """The sink every feed delivers to. ``store`` None: bars are only published (e.g. a replay of stored bars)."""

    def __init__(self, store: BarStore | None, *, name: str = "live-bars") -> None:
        self._store = store
        self._listeners: list[BarListener] = []
        self._lock = threading.Lock()
        self._dispatch = DispatchThread(self._handle, name=name)
        self.received = 0
        self.rejected = 0
        self.stored = 0
        self.last_error: str | None = None

    def add_listener(self, listener: BarListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: BarListener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def put(self, bar: NormalizedBar | dict[str, Any]) -> None:
        """Queue a bar (a NormalizedBar or a raw Alpaca message); returns at once (safe on the loop)."""
        self._dispatch.put(bar)

    def publish_stored(self, bars: Iterable[NormalizedBar]) -> None:
        """Queue bars that are already stored (a backfill): published in order, not stored again."""
        self._dispatch.put(("stored", list(bars)))

    def close(self, timeout: float = 5.0) -> bool:
        """Finish what is queued, then stop; True when everything was handled within ``timeout``."""
        self._dispatch.close()
        return self._dispatch.join(timeout)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far has been handled (for tests and orderly shutdown)."""
        done = threading.Event()
        self._dispatch.put(("call", done.set))
        return done.wait(timeout)

    def _handle(self, item: Any) -> None:
        if isinstance(item, tuple) and item[0] == "call":
            item[1]()
            return
        if isinstance(item, tuple) and item[0] == "stored":
            for bar in item[1]:
                self._publish(bar)
            return
        self.received += 1
        try:
            bar = item if isinstance(item, NormalizedBar) else bar_from_alpaca(item)
        except MalformedBar as exc:
            self.rejected += 1
            self.last_error = str(exc)
            log.warning("live bar rejected: %s", exc)
            return
        if self._store is not None:
            try:
                result = self._store.insert(bar.symbol, bar.timeframe, bars_frame([bar]), source=bar.source)
            except Exception as exc:  # the database is down: show the bar anyway, the backfill stores it later
                self.last_error = f"could not store {bar.symbol} bar: {exc}"
                log.exception("could not store live bar %s %s", bar.symbol, bar.timestamp)
            else:
                self.stored += result.inserted
        self._publish(bar)

    def _publish(self, bar: NormalizedBar) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(bar)
            except Exception:
                log.exception("bar listener failed")
