"""Running AlpacaBroker's stream against the stand-in in tests: a loop thread and an event recorder."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from core.broker.alpaca import AlpacaBroker
from core.broker.types import OrderEvent
from tests.alpaca_standin import AlpacaStandIn

DEADLINE_S = 10.0


class Recorder:
    """An event handler registered AFTER the ledger's: once it has seen an event, so has the ledger."""

    def __init__(self) -> None:
        self.events: list[OrderEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: OrderEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = DEADLINE_S) -> list[OrderEvent]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.events) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"expected {count} events, got {[e.type.value for e in self.events]}"
                self._cond.wait(left)
            return list(self.events)

    def kinds(self) -> list[str]:
        with self._cond:
            return [e.type.value for e in self.events]


@contextmanager
def event_loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """A running loop on its own thread, like the GUI's qasync loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-loop", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(DEADLINE_S)
        loop.close()


def make_broker(alpaca: AlpacaStandIn, timeout_s: float = 3) -> AlpacaBroker:
    return AlpacaBroker(
        alpaca.key_id,
        alpaca.secret_key,
        url_override=alpaca.rest_url,
        stream_url_override=alpaca.stream_url,
        timeout_s=timeout_s,
    )


@contextmanager
def streaming(broker: AlpacaBroker, alpaca: AlpacaStandIn, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """The broker's trade-updates stream running on ``loop`` (connected before the body runs)."""
    before = alpaca.connections_accepted
    running = broker.start_stream(loop)
    try:
        assert alpaca.wait_for_listeners(1, DEADLINE_S, accepted_at_least=before + 1), "stream did not connect"
        yield
    finally:
        asyncio.run_coroutine_threadsafe(broker.stop_stream(), loop).result(DEADLINE_S)
        running.result(DEADLINE_S)
        assert broker.wait_for_dispatch(DEADLINE_S)
