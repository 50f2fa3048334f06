"""The trade stream's connection hook and its health, with the real alpaca-py TradingStream against the stand-in.

alpaca-py reconnects by itself and says nothing, and Alpaca does not replay the events it sent meanwhile; these
tests pin that the hook this module adds to alpaca-py's private connection step still fires (they fail if a new
alpaca-py stops calling ``_start_ws``/``_auth``), on the dispatch thread, after the events received before it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest

from core.adapters.alpaca.broker import AlpacaBroker
from core.adapters.alpaca.stream_health import Severity, StreamHealth, StreamStatus
from core.adapters.alpaca.trade_stream import TradeUpdateStream, _ReportingTradingStream
from core.domain.orders import OrderEventType, OrderRequest, OrderSide
from tests.alpaca_standin import AlpacaStandIn
from tests.event_recorder import DEADLINE_S, Recorder
from tests.ledger.helpers_alpaca import event_loop_thread, make_broker


class Connections:
    """Records each connection's count, the thread it came on, and how many events were handed out before it."""

    def __init__(self, events: Recorder) -> None:
        self.events = events
        self.seen: list[tuple[int, str, int]] = []
        self._changed = threading.Condition()

    def __call__(self, count: int) -> None:
        with self._changed:
            self.seen.append((count, threading.current_thread().name, len(self.events.events)))
            self._changed.notify_all()

    def wait_for(self, n: int) -> list[tuple[int, str, int]]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.seen) >= n, DEADLINE_S), f"{n} connections: {self.seen}"
            return list(self.seen)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    with event_loop_thread() as running:
        yield running


def buy(qty: str) -> OrderRequest:
    return OrderRequest(client_order_id=str(uuid.uuid4()), symbol="AAPL", side=OrderSide.BUY, qty=Decimal(qty))


def test_each_reconnection_is_reported_with_its_count_on_the_dispatch_thread_after_earlier_events(
    alpaca: AlpacaStandIn, loop: asyncio.AbstractEventLoop
) -> None:
    broker = make_broker(alpaca)
    events = Recorder()
    connections = Connections(events)
    broker.add_event_handler(events)
    broker.add_connection_listener(connections)
    running = broker.start_stream(loop)
    try:
        assert connections.wait_for(1)[0][:2] == (1, "alpaca-dispatch")
        # The hook runs once the listen request is SENT; an order placed before the server has read it would have
        # its "new" dropped (as Alpaca drops it), which on a loaded machine made this test wait for nothing.
        assert alpaca.wait_for_listeners(1)
        order = broker.submit_order(buy("3"))
        events.wait_for(1)  # the order's "new", received before the drop

        alpaca.drop_connections()
        alpaca.fill(order.id, price="100")  # sent while nobody listens: lost, as with Alpaca
        second = connections.wait_for(2)[1]
        assert second[:2] == (2, "alpaca-dispatch")
        assert second[2] == 1  # the event received before the drop was handed out before the hook ran
        assert [e.type for e in events.events] == [OrderEventType.NEW]  # the fill was not replayed
        assert broker.get_order(order.id).filled_qty == Decimal("3")  # only REST knows: what the hook is for
    finally:
        asyncio.run_coroutine_threadsafe(broker.stop_stream(), loop).result(DEADLINE_S)
        running.result(DEADLINE_S)


def test_keys_refused_three_times_in_a_row_are_reported_once_and_logged_once(
    alpaca: AlpacaStandIn, loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    reports: list[StreamStatus] = []
    stream = TradeUpdateStream(
        "wrong-key", "wrong-secret", lambda data: None, alpaca.stream_url, on_status=reports.append, slow_retry_s=0.1
    )
    caplog.set_level(logging.WARNING, logger="core.adapters.alpaca.stream_health")
    running = asyncio.run_coroutine_threadsafe(stream.run(), loop)
    try:
        deadline = loop.time() + DEADLINE_S
        while stream.health.auth_failures < 5:  # three to be reported, then two more at the slow pace
            assert loop.time() < deadline, f"only {stream.health.auth_failures} refusals"
            threading.Event().wait(0.05)
    finally:
        asyncio.run_coroutine_threadsafe(stream.stop(), loop).result(DEADLINE_S)
        running.result(DEADLINE_S)
    assert [r.severity for r in reports] == [Severity.ERROR]
    assert reports[0].message.startswith("Trade updates: Alpaca refused the club's keys 3 times in a row")
    assert "check them in Settings" in reports[0].message
    assert [r.getMessage() for r in caplog.records if r.name.endswith("stream_health")] == [reports[0].message]
    assert stream.connections == 0


def test_a_refused_stream_retries_at_the_slow_pace_until_it_connects_again() -> None:
    """alpaca-py's own backoff starts at about a second; keys refused three times wait the slow interval."""
    health = StreamHealth("Trade updates", slow_retry_s=30.0)
    stream = _ReportingTradingStream("k", "s", paper=True, raw_data=True, health=health, on_connected=lambda: None)
    assert stream._reconnect_delay(1) <= 1.0
    for _ in range(2):
        health.refused(ValueError("failed to authenticate"))
    assert stream._reconnect_delay(1) <= 1.0 and health.status.ok  # two refusals may be a blip: not reported
    health.refused(ValueError("failed to authenticate"))
    assert stream._reconnect_delay(1) == 30.0 and health.status.severity is Severity.ERROR
    health.connected()
    assert stream._reconnect_delay(1) <= 1.0 and health.status.ok and health.auth_failures == 0


def test_the_trade_stream_status_reaches_the_broker_listeners(alpaca: AlpacaStandIn) -> None:
    broker = AlpacaBroker("wrong", "keys", url_override=alpaca.rest_url, stream_url_override=alpaca.stream_url)
    heard: list[StreamStatus] = []
    broker.add_stream_status_listener(heard.append)
    assert broker.stream_status.ok
    for _ in range(3):
        broker._stream.health.refused(ValueError("failed to authenticate"))
    assert [s.severity for s in heard] == [Severity.ERROR] and broker.stream_status == heard[0]
