"""Kite's order-update WebSocket waking the poller: on the stand-in's socket (real WebSocket, Kite's URL and 403)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal

from core.adapters.zerodha.broker import ZerodhaBroker
from core.adapters.zerodha.client import KiteSession
from core.adapters.zerodha.order_stream import OrderStream
from core.broker.errors import SessionExpired
from core.domain.orders import OrderEvent, OrderEventType, OrderRequest, OrderSide, OrderType
from tests.adapters.zerodha.conftest import MakeBroker
from tests.adapters.zerodha.standin import KiteStandIn

LONG_POLL_S = 30.0  # the poller alone would report a fill this late; the socket must beat it by far
WAIT_S = 5.0


def wait_for(condition: Callable[[], object], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def streaming_broker(make_broker: MakeBroker, kite: KiteStandIn, **options: object) -> ZerodhaBroker:
    return make_broker(
        stream_root=kite.stream_url, poll_interval_s=LONG_POLL_S, notified_poll_interval_s=LONG_POLL_S, **options
    )


def buy(client_order_id: str) -> OrderRequest:
    return OrderRequest(client_order_id, "NSE:INFY", OrderSide.BUY, Decimal(4), OrderType.LIMIT,
                        limit_price=Decimal("1450.00"))  # fmt: skip


def test_a_fill_is_reported_as_soon_as_kite_pushes_it_not_at_the_next_poll(
    make_broker: MakeBroker, kite: KiteStandIn
) -> None:
    broker = streaming_broker(make_broker, kite)
    events: list[OrderEvent] = []
    broker.add_event_handler(events.append)
    assert broker.stream is not None
    wait_for(broker.stream.connected.is_set, "the order-update socket")
    order = broker.submit_order(buy(f"ws{time.monotonic_ns()}"))
    wait_for(lambda: any(e.type is OrderEventType.NEW and e.order.id == order.id for e in events), "NEW")

    started = time.monotonic()
    kite.execute(order.id, Decimal(4), Decimal("1449.50"))
    wait_for(lambda: any(e.type is OrderEventType.FILL and e.order.id == order.id for e in events), "the fill")
    latency = time.monotonic() - started

    assert latency < 2.0, f"the fill took {latency:.2f} s; the next poll was {LONG_POLL_S} s away"
    assert broker.poller.interval_s == LONG_POLL_S
    fill = next(e for e in events if e.type is OrderEventType.FILL)
    assert fill.execution_id and fill.execution_id.startswith(f"zerodha:{order.id}:"), "ids come from the trade book"


def test_a_dropped_socket_reconnects_and_its_pushes_arrive_again(make_broker: MakeBroker, kite: KiteStandIn) -> None:
    broker = streaming_broker(make_broker, kite)
    stream = broker.stream
    assert stream is not None
    stream.initial_backoff_s = 0.05
    events: list[OrderEvent] = []
    broker.add_event_handler(events.append)
    wait_for(stream.connected.is_set, "the order-update socket")

    kite.drop_streams()
    wait_for(lambda: stream.connects >= 2 and stream.connected.is_set(), "the reconnection")
    order = broker.submit_order(buy(f"ws{time.monotonic_ns()}"))
    wait_for(lambda: any(e.type is OrderEventType.NEW and e.order.id == order.id for e in events), "NEW")
    started = time.monotonic()
    kite.execute(order.id, Decimal(4), Decimal("1449.50"))

    wait_for(lambda: any(e.type is OrderEventType.FILL and e.order.id == order.id for e in events), "the fill")
    assert time.monotonic() - started < 2.0, "the reconnected socket pushed the fill (the next poll was 30 s away)"


def test_polling_speeds_up_again_while_the_socket_is_down(make_broker: MakeBroker, kite: KiteStandIn) -> None:
    broker = make_broker(stream_root=kite.stream_url, poll_interval_s=0.2, notified_poll_interval_s=LONG_POLL_S)
    broker.start_updates()
    stream = broker.stream
    assert stream is not None
    stream.initial_backoff_s = stream.max_backoff_s = 0.05
    wait_for(stream.connected.is_set, "the order-update socket")
    assert broker.poller.interval_s == LONG_POLL_S, "the socket slows polling down"

    kite.refuse_streams(True)  # it cannot come back, but the session is still good: polling alone carries on
    try:
        kite.drop_streams()
        wait_for(lambda: stream.refused, "the refused reconnection")
        polls = broker.poller.polls
        wait_for(lambda: broker.poller.polls >= polls + 2, "polling every 0.2 s again", timeout=2.0)
    finally:
        kite.refuse_streams(False)
    assert broker.poller.interval_s == 0.2


def test_a_bad_token_stops_the_socket_and_reports_the_session_expired(kite: KiteStandIn) -> None:
    refused = threading.Event()
    stream = OrderStream(KiteSession(kite.api_key, "forged-token"), kite.stream_url, on_order=lambda _: None,
                         on_refused=refused.set, initial_backoff_s=0.01)  # fmt: skip
    before = len(kite.stream_handshakes)
    stream.start()
    try:
        assert refused.wait(WAIT_S)
        wait_for(lambda: not stream.running, "the stream to stop")
        assert kite.stream_handshakes[before:] == [403], "no retry after Kite's 403"
    finally:
        stream.close()


def test_an_expired_session_found_by_the_socket_reaches_the_session_listeners_once(
    make_broker: MakeBroker, kite: KiteStandIn
) -> None:
    expired: list[SessionExpired] = []
    broker = make_broker(stream_root=kite.stream_url, poll_interval_s=LONG_POLL_S)
    broker.add_session_listener(expired.append)
    kite.expire_sessions()  # 06:00 came (this module's later brokers get new sessions)

    broker.start_updates()

    stream = broker.stream
    assert stream is not None
    wait_for(lambda: stream.refused and not stream.running and not broker.poller.running, "both to find out")
    assert len(expired) == 1 and isinstance(expired[0], SessionExpired)


def test_a_refusal_for_a_valid_session_leaves_polling_alone_without_logging_out(
    make_broker: MakeBroker, kite: KiteStandIn
) -> None:
    expired: list[SessionExpired] = []
    broker = make_broker(stream_root=kite.stream_url, poll_interval_s=0.2)
    broker.add_session_listener(expired.append)
    kite.refuse_streams(True)
    try:
        broker.start_updates()
        assert broker.stream is not None
        wait_for(lambda: broker.stream is not None and broker.stream.refused, "the refusal")
        polls = broker.poller.polls
        wait_for(lambda: broker.poller.polls > polls, "polling to carry on")
    finally:
        kite.refuse_streams(False)
    assert expired == [] and broker.poller.interval_s == 0.2


def test_close_ends_the_socket_thread_within_a_second(make_broker: MakeBroker, kite: KiteStandIn) -> None:
    broker = streaming_broker(make_broker, kite)
    broker.start_updates()
    assert broker.stream is not None
    stream = broker.stream
    wait_for(stream.connected.is_set, "the order-update socket")

    started = time.monotonic()
    broker.close()
    took = time.monotonic() - started

    assert took < 1.0 and not stream.running
    wait_for(lambda: kite.open_streams() == 0, "the stand-in to see the socket closed")


def test_the_stream_never_shows_the_access_token(kite: KiteStandIn) -> None:
    stream = OrderStream(KiteSession(kite.api_key, "secret-token-123"), kite.stream_url, on_order=lambda _: None)

    assert "secret-token-123" not in repr(stream)
