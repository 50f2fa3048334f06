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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from alpaca.trading.stream import TradingStream

from core.market.dispatch_thread import DispatchThread

log = logging.getLogger(__name__)

CLOSE_DEADLINE_S = 5.0


class TradeUpdateStream:
    """One trade-updates connection; ``run`` until ``stop``. ``deliver`` gets each raw message's ``data``."""

    def __init__(
        self, api_key: str, secret_key: str, deliver: Callable[[dict[str, Any]], None], url_override: str | None
    ) -> None:
        self._api_key = api_key
        self._secret_key = secret_key
        self._deliver = deliver
        self._url_override = url_override
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
        stream = TradingStream(
            self._api_key,
            self._secret_key,
            paper=True,
            raw_data=True,
            # alpaca-py annotates url_override as str but defaults it to None (its own URL), as None means here
            url_override=self._url_override,  # type: ignore[arg-type]
        )
        dispatch = DispatchThread(self._deliver_message)
        self._dispatch = dispatch

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

    def _deliver_message(self, message: dict[str, Any]) -> None:
        if message.get("stream") == "trade_updates" and isinstance(message.get("data"), dict):
            self._deliver(message["data"])
