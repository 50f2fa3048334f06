"""Alpaca trade updates: alpaca-py's TradingStream on the caller's loop, handlers on a dispatch thread.

Why this shape:
- ``TradingStream.run()`` calls ``asyncio.run`` and ``stop()`` deadlocks when called on
  the loop's own thread, so the stream's coroutine (``_run_forever``, the body of
  ``run()``) runs as a task on the loop the app already has (qasync's, in the GUI),
  and stopping cancels that task and closes the socket ourselves.
- Reconnection is alpaca-py's own: after a dropped connection ``_run_forever`` reconnects,
  re-authenticates and re-listens with jittered exponential backoff (1 s doubling, capped
  at 30 s, reset once data flowed). Events sent while disconnected are lost, as with
  Alpaca itself; the ledger reconciles over REST.
- The loop only enqueues raw messages. One dispatch thread converts them and calls the
  handlers in arrival order, so database work in handlers never runs on the GUI thread
  and a slow handler never stalls the websocket.
- alpaca-py says nothing when it reconnects, and Alpaca does not replay what was sent in
  between, so ``on_connected(count)`` is called (on the dispatch thread, after every event
  received before it) each time the stream has authenticated and asked to listen: count 1
  is the first connection of a ``run()``, more is a reconnection, after which whoever books
  events must re-read the open orders over REST. This needs alpaca-py's connection step,
  which has no hook: ``_ReportingTradingStream`` overrides its ``_start_ws`` and ``_auth``
  (private methods; checked against alpaca-py 0.44.0 by tests/adapters/alpaca/
  test_trade_stream_reconnect.py, which fails if they stop being called).
- Refused authentications are counted (``StreamHealth``): three in a row are reported
  through ``on_status`` and retried every 30 s instead of alpaca-py's 1 s doubling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alpaca.trading.stream import TradingStream

from core.adapters.alpaca.stream_health import SLOW_RETRY_S, StatusCallback, StreamHealth
from core.market.dispatch_thread import DispatchThread

log = logging.getLogger(__name__)

CLOSE_DEADLINE_S = 5.0
STREAM_NAME = "Trade updates"


@dataclass(frozen=True)
class _Connected:
    """Queued behind the events received before a (re)connection, so the hook sees them handed out first."""

    count: int


class _ReportingTradingStream(TradingStream):
    """alpaca-py's TradingStream, telling ``health`` and ``on_connected`` how each connection attempt went."""

    def __init__(self, *args: Any, health: StreamHealth, on_connected: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._health = health
        self._on_connected = on_connected

    async def _auth(self) -> None:
        try:
            await super()._auth()
        except ValueError as exc:  # alpaca-py's way of saying the server refused the keys
            self._health.refused(exc)
            raise

    async def _start_ws(self) -> None:
        await super()._start_ws()  # connect, authenticate, send the listen request
        self._health.connected()
        self._on_connected()

    def _reconnect_delay(self, retries: int) -> float:
        if self._health.slow_retry:
            return self._health.slow_retry_s
        return super()._reconnect_delay(retries)


class TradeUpdateStream:
    """One trade-updates connection; ``run`` until ``stop``. ``deliver`` gets each raw message's ``data``.

    ``on_connected(count)``: on the dispatch thread after each (re)connection (see the module docstring).
    ``on_status``: on the loop's thread, when the stream's health changes (keep it short: it stores a value).
    """

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        deliver: Callable[[dict[str, Any]], None],
        url_override: str | None,
        *,
        on_connected: Callable[[int], None] | None = None,
        on_status: StatusCallback | None = None,
        slow_retry_s: float = SLOW_RETRY_S,
    ) -> None:
        self._api_key = api_key
        self._secret_key = secret_key
        self._deliver = deliver
        self._url_override = url_override
        self._on_connected = on_connected
        self.health = StreamHealth(STREAM_NAME, on_status, slow_retry_s=slow_retry_s)
        self._connections = 0
        self._stream: TradingStream | None = None
        self._task: asyncio.Task[None] | None = None
        self._dispatch: DispatchThread | None = None
        self._stopped: asyncio.Event | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None

    async def run(self) -> None:
        """Stream until ``stop()`` (returns) or until the calling task is cancelled (raises)."""
        if self._task is not None:
            raise RuntimeError("the Alpaca trade-updates stream is already running")
        dispatch = DispatchThread(self._deliver_message)
        self._dispatch = dispatch
        self._connections = 0

        def connected() -> None:
            self._connections += 1
            dispatch.put(_Connected(self._connections))

        stream = _ReportingTradingStream(
            self._api_key,
            self._secret_key,
            paper=True,
            raw_data=True,
            url_override=self._url_override,
            health=self.health,
            on_connected=connected,
        )

        async def on_message(message: dict[str, Any]) -> None:
            dispatch.put(message)

        stream.subscribe_trade_updates(on_message)
        self._stream, self._stopping, self._stopped = stream, False, asyncio.Event()
        self._task = asyncio.ensure_future(stream._run_forever())  # run() minus asyncio.run; see module doc
        try:
            await self._task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not self._stopping or (current is not None and current.cancelling()):
                raise
        finally:
            self._task.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(stream.close(), CLOSE_DEADLINE_S)
            dispatch.close()
            self._task = self._stream = None
            self._stopped.set()

    async def stop(self, timeout: float = CLOSE_DEADLINE_S) -> None:
        """Stop streaming and wait (at most ``timeout`` s) until the connection is closed.

        Events already received are still delivered, by the dispatch thread, afterwards.
        """
        task, stream, stopped = self._task, self._stream, self._stopped
        if task is None or stream is None or stopped is None:
            return
        self._stopping = True
        await stream.stop_ws()
        task.cancel()
        try:
            await asyncio.wait_for(stopped.wait(), timeout)
        except TimeoutError:
            log.warning("Alpaca trade-updates stream did not stop within %s s", timeout)

    def join_dispatch(self, timeout: float) -> bool:
        """Wait until events received before ``stop`` were handed out (for worker threads and tests)."""
        return self._dispatch.join(timeout) if self._dispatch is not None else True

    @property
    def connections(self) -> int:
        """Successful connections in the current (or last) ``run()``: more than 1 means it reconnected."""
        return self._connections

    def _deliver_message(self, message: dict[str, Any] | _Connected) -> None:
        if isinstance(message, _Connected):
            if self._on_connected is not None:
                self._on_connected(message.count)
            return
        if message.get("stream") == "trade_updates" and isinstance(message.get("data"), dict):
            self._deliver(message["data"])
