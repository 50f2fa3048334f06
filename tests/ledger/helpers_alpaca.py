"""Running AlpacaBroker's stream against the stand-in in tests: a loop thread and an event recorder."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from core.adapters.alpaca.broker import AlpacaBroker
from tests.alpaca_standin import AlpacaStandIn
from tests.event_recorder import DEADLINE_S


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
