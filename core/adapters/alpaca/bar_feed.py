"""Live minute bars from Alpaca: alpaca-py's ``StockDataStream`` as a task on the application's loop.

What alpaca-py does and what this adds (see ``../shared/ALPACA_PROTOCOL.md``):

* ``run()`` would call ``asyncio.run``; the stream's ``_run_forever`` coroutine runs as
  a task on the loop the app already has instead, as the trade stream does.
* ``_run_forever`` spins without yielding time while nothing is subscribed
  (alpaca-py #762), so the task only exists while at least one symbol is.
* ``subscribe_bars`` while running blocks on the loop it runs on; subscriptions
  change through the stream's handler table and its own subscribe message, awaited
  on the loop.
* alpaca-py reconnects by itself (jittered backoff, 1 s doubling to 30 s) but says
  nothing when it does, and bars of the minutes it was away are lost. The stream is
  a subclass that reports each (re)connection; after a reconnection the missed
  minutes are fetched through the history path (``HistoryService``), stored, and
  published, so the stored series has no hole.
* A refusal is retried forever by alpaca-py and said only on its own logger. The subclass
  also tells a ``StreamHealth`` about each refused authentication: a 406 (another
  connection holds the account's one data stream) or three refused logins in a row reach
  ``on_status`` once per change, and the stream then retries every 30 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from alpaca.data.enums import DataFeed
from alpaca.data.live import StockDataStream

from core.adapters.alpaca.stream_health import SLOW_RETRY_S, StatusCallback, StreamHealth, StreamStatus
from core.domain.clock import utc_now
from core.domain.symbols import normalize_symbol
from core.domain.timeframes import Timeframe
from core.market.errors import MarketDataError
from core.market.history import HistoryService
from core.market.live import BarSink, bars_of

log = logging.getLogger(__name__)

CLOSE_DEADLINE_S = 5.0
MINUTE = timedelta(minutes=1)


STREAM_NAME = "Market data"


class _ReportingStockDataStream(StockDataStream):
    """alpaca-py's stream, reporting every successful connect + authenticate, and every refusal to ``health``."""

    def __init__(
        self, *args: Any, on_connected: Callable[[], None], health: StreamHealth | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._on_connected = on_connected
        self._health = health

    async def _auth(self) -> None:
        try:
            await super()._auth()
        except ValueError as exc:  # alpaca-py raises the server's error message (406, 402...) as a ValueError
            if self._health is not None:
                self._health.refused(exc)
            raise

    async def _start_ws(self) -> None:
        await super()._start_ws()
        if self._health is not None:
            self._health.connected()
        self._on_connected()

    def _reconnect_delay(self, retries: int) -> float:
        if self._health is not None and self._health.slow_retry:
            return self._health.slow_retry_s
        return super()._reconnect_delay(retries)


class AlpacaBarFeed:
    """One market-data connection for this client's symbols. ``run`` until ``stop``; all methods on the loop."""

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        sink: BarSink,
        *,
        history: HistoryService | None = None,
        url_override: str | None = None,
        feed: str = "iex",
        clock: Callable[[], datetime] = utc_now,
        on_status: StatusCallback | None = None,
        slow_retry_s: float = SLOW_RETRY_S,
    ) -> None:
        """``on_status``: called (on the loop) when the connection's health changes, e.g. a 406 and its end."""
        self._api_key = api_key
        self._secret_key = secret_key
        self._sink = sink
        self._history = history
        self._url_override = url_override
        self._feed = DataFeed(feed)
        self._now = clock
        self._symbols: set[str] = set()
        self._last_bar: dict[str, datetime] = {}  # open time of the newest bar seen per symbol
        self._stream: _ReportingStockDataStream | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed: asyncio.Event | None = None
        self._stopping = False
        self._connected_at: datetime | None = None
        self._backfill_tasks: set[asyncio.Task[None]] = set()
        self.connections = 0
        self.backfills = 0
        self.backfill_errors: list[str] = []
        self.health = StreamHealth(STREAM_NAME, on_status, slow_retry_s=slow_retry_s)

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(self._symbols)

    @property
    def status(self) -> StreamStatus:
        return self.health.status

    async def subscribe(self, symbols: Iterable[str]) -> None:
        new = {normalize_symbol(s) for s in symbols} - self._symbols
        if not new:
            return
        self._symbols |= new
        stream = self._stream
        if stream is not None:
            for symbol in new:
                stream._handlers["bars"][symbol] = self._on_bar
            if stream._running:
                await stream._send_subscribe_msg()
        self._wake()

    async def unsubscribe(self, symbols: Iterable[str]) -> None:
        gone = {normalize_symbol(s) for s in symbols} & self._symbols
        if not gone:
            return
        self._symbols -= gone
        stream = self._stream
        if stream is not None:
            if stream._running:
                with contextlib.suppress(Exception):  # a dead socket: the reconnect subscribes afresh anyway
                    await stream._send_unsubscribe_msg("bars", sorted(gone))
            for symbol in gone:
                stream._handlers["bars"].pop(symbol, None)
        self._wake()

    async def run(self) -> None:
        """Stream while anything is subscribed, until ``stop()``."""
        self._changed = asyncio.Event()
        self._stopping = False
        try:
            while not self._stopping:
                if not self._symbols:
                    await self._changed.wait()
                    self._changed.clear()
                    continue
                await self._stream_until_idle()
        finally:
            self._changed = None

    async def stop(self) -> None:
        self._stopping = True
        await self._close_stream()
        self._wake()
        if self._backfill_tasks:  # a backfill in progress finishes storing what it fetched
            await asyncio.wait(set(self._backfill_tasks), timeout=CLOSE_DEADLINE_S)

    async def _stream_until_idle(self) -> None:
        stream = _ReportingStockDataStream(
            self._api_key,
            self._secret_key,
            raw_data=True,
            feed=self._feed,
            url_override=self._url_override,
            on_connected=self._on_connected,
            health=self.health,
        )
        for symbol in self._symbols:
            stream._handlers["bars"][symbol] = self._on_bar
        self._stream = stream
        self._task = asyncio.ensure_future(stream._run_forever())
        assert self._changed is not None
        try:
            while self._symbols and not self._stopping and not self._task.done():
                waiter = asyncio.ensure_future(self._changed.wait())
                await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                self._changed.clear()
        finally:
            await self._close_stream()

    async def _close_stream(self) -> None:
        stream, task = self._stream, self._task
        self._stream = self._task = None
        if stream is None or task is None:
            return
        with contextlib.suppress(Exception):
            await stream.stop_ws()
        task.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, CLOSE_DEADLINE_S)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(stream.close(), CLOSE_DEADLINE_S)

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def _on_connected(self) -> None:
        self.connections += 1
        now = self._now()
        if self.connections > 1 and self._history is not None:
            since = self._connected_at or now
            task = asyncio.ensure_future(self._backfill(sorted(self._symbols), since, now))
            self._backfill_tasks.add(task)
            task.add_done_callback(self._backfill_tasks.discard)
        self._connected_at = self._connected_at or now

    async def _on_bar(self, message: dict[str, Any]) -> None:
        symbol = str(message.get("S", ""))
        stamp: object = message.get("t")
        if hasattr(stamp, "to_datetime"):
            opened = stamp.to_datetime()
            if opened > self._last_bar.get(symbol, opened - MINUTE):
                self._last_bar[symbol] = opened
        self._sink.put(message)

    async def _backfill(self, symbols: list[str], since: datetime, now: datetime) -> None:
        """Fetch, store and publish the minutes a reconnection may have missed (history path, off the loop)."""
        assert self._history is not None
        self.backfills += 1
        for symbol in symbols:
            start = self._last_bar.get(symbol, since - MINUTE) + MINUTE
            if start >= now:
                continue
            try:
                result = await asyncio.to_thread(self._history.bars, symbol, Timeframe.MIN_1, start, now)
            except MarketDataError as exc:
                self.backfill_errors.append(str(exc))
                log.warning("backfill of %s after a reconnect failed: %s", symbol, exc)
                continue
            # Every bar of [start, now) was missed: the last one seen came before start, and bars opening after
            # the reconnection arrive live. Published in time order, after the bars already delivered.
            missed = bars_of(symbol, Timeframe.MIN_1, result.frame, source="alpaca")
            if missed:
                self._last_bar[symbol] = max(self._last_bar.get(symbol, missed[-1].timestamp), missed[-1].timestamp)
                self._sink.publish_stored(missed)
