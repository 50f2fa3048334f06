"""Angel One's order-update WebSocket wakes the poller: a fill comes at once instead of at the next poll, the
socket comes back after a drop, a refused session stops the retries and says so, closing is prompt, and a server
without a trusted certificate is never talked to."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.sync.server import serve

from core.adapters.angel import sdk
from core.adapters.angel.broker import AngelBroker
from core.adapters.angel.gate import RouteGate
from core.adapters.angel.link import AngelLink
from core.adapters.angel.order_stream import AUTH_REFUSED, OrderStream, stream_url
from core.broker.links import Endpoints
from core.domain.orders import OrderEvent, OrderEventType, OrderRequest, OrderSide, OrderType
from tests.adapters.angel.standin import AngelStandIn

LONG_POLL_S = 30.0  # the poller alone would report a fill up to this late
GATE = RouteGate()  # one per stand-in user: the brokers of this module share Angel's per-second limits


@pytest.fixture(scope="module")
def angel() -> Iterator[AngelStandIn]:
    with AngelStandIn() as standin:
        yield standin


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def open_broker(angel: AngelStandIn, jwt: str | None = None) -> AngelBroker:
    jwt = jwt or angel._jwt or angel.issue_session()
    connect = sdk.new_connect(angel.api_key, root=angel.root, timeout_s=3, access_token=jwt)
    return AngelBroker(
        connect, client_code=angel.client_code, api_root=angel.root, timeout_s=3, gate=GATE,
        poll_interval_s=LONG_POLL_S, stream_url=stream_url(angel.stream_root),
    )  # fmt: skip


def place(broker: AngelBroker, cid: str) -> str:
    request = OrderRequest(cid, "NSE:INFY", OrderSide.BUY, Decimal(2), OrderType.LIMIT, limit_price=Decimal("1400.05"))
    return broker.submit_order(request).id


def fill_latency(angel: AngelStandIn, broker: AngelBroker, cid: str) -> float:
    """Place an order, let the poller settle into its (long) pace, fill it: seconds until the FILL event."""
    events: list[OrderEvent] = []
    filled = threading.Event()

    def on_event(event: OrderEvent) -> None:
        events.append(event)
        if event.type is OrderEventType.FILL:
            filled.set()

    broker.add_event_handler(on_event)
    try:
        order_id = place(broker, cid)
        assert wait_for(lambda: any(e.type is OrderEventType.NEW and e.order.id == order_id for e in events))
        time.sleep(0.1)  # the poll that reported NEW is over: the poller now sleeps LONG_POLL_S
        started = time.monotonic()
        angel.execute(order_id, Decimal(2), Decimal("1400.05"))
        assert filled.wait(5.0), "the fill waited for the next poll"
        return time.monotonic() - started
    finally:
        broker.remove_event_handler(on_event)


def test_a_fill_is_reported_at_once_though_the_next_poll_is_half_a_minute_away(angel: AngelStandIn) -> None:
    broker = open_broker(angel)
    try:
        assert wait_for(lambda: broker.order_stream is not None and broker.order_stream.connected.is_set())
        latency = fill_latency(angel, broker, "ws-fill-1")

        assert latency < 2.0  # at most one wait for Angel's one-read-a-second gate, not LONG_POLL_S
        assert angel.refused_for_rate == 0  # the nudge still waited for the gate
        assert broker.updates_error is None
    finally:
        broker.close()


def test_after_a_dropped_socket_it_reconnects_and_fills_come_at_once_again(angel: AngelStandIn) -> None:
    broker = open_broker(angel)
    try:
        stream = broker.order_stream
        assert stream is not None and wait_for(stream.connected.is_set)
        angel.drop_streams()
        assert wait_for(lambda: stream.connects == 2 and stream.connected.is_set())

        assert fill_latency(angel, broker, "ws-fill-2") < 2.0
        assert broker.updates_error is None
    finally:
        broker.close()


def test_a_forged_token_is_refused_once_and_the_stream_stops_saying_so(angel: AngelStandIn) -> None:
    angel.issue_session()
    refused_before = len(angel.stream_refusals)
    nudges: list[float] = []
    stream = OrderStream(stream_url(angel.stream_root), "eyJforged-token", lambda: nudges.append(1), first_retry_s=0.05)
    stream.start()
    try:
        assert wait_for(lambda: not stream.running)

        assert stream.last_error == AUTH_REFUSED and nudges == []
        assert angel.stream_refusals[refused_before:] == [401]  # no retry with a session Angel refused
        assert "eyJforged" not in repr(stream)
    finally:
        stream.stop()


def test_an_ended_session_shows_in_the_brokers_updates_error(angel: AngelStandIn) -> None:
    broker = open_broker(angel, jwt="eyJforged-token")
    try:
        stream = broker.order_stream
        assert stream is not None and wait_for(lambda: not stream.running)

        assert stream.last_error == AUTH_REFUSED and broker.updates_error
    finally:
        broker.close()


def test_closing_the_broker_closes_the_socket_within_a_second(angel: AngelStandIn) -> None:
    broker = open_broker(angel)
    stream = broker.order_stream
    assert stream is not None and wait_for(stream.connected.is_set) and wait_for(lambda: angel.open_streams() == 1)

    started = time.monotonic()
    closing = threading.Thread(target=broker.close)
    closing.start()
    assert wait_for(lambda: angel.open_streams() == 0 and not stream.running, 1.0)
    took = time.monotonic() - started
    closing.join(5.0)

    assert took < 1.0 and not closing.is_alive()


def test_the_link_opens_angels_socket_in_production_the_standins_when_given_and_none_for_a_rest_only_standin(
    angel: AngelStandIn,
) -> None:
    assert stream_url(None) == "wss://tns.angelone.in/smart-order-update"
    credentials = {"api_key": angel.api_key, "client_code": angel.client_code, "pin": angel.pin}
    session = {"jwt_token": angel._jwt or angel.issue_session(), "client_code": angel.client_code}
    link = AngelLink(timeout_s=3, per_second={}, poll_interval_s=LONG_POLL_S)  # no REST call is awaited here

    with_stream = link.open_broker(credentials, session, Endpoints(api_root=angel.root, stream_root=angel.stream_root))
    rest_only = link.open_broker(credentials, session, Endpoints(api_root=angel.root))
    try:
        assert with_stream.order_stream is not None and wait_for(with_stream.order_stream.connected.is_set)
        assert rest_only.order_stream is None
    finally:
        with_stream.close()
        rest_only.close()


def test_the_heartbeat_keeps_a_quiet_socket_open_and_nothing_but_order_messages_nudges(angel: AngelStandIn) -> None:
    nudges: list[float] = []
    stream = OrderStream(
        stream_url(angel.stream_root), angel._jwt or angel.issue_session(), lambda: nudges.append(1), heartbeat_s=0.1
    )
    stream.start()
    try:
        assert wait_for(stream.connected.is_set)
        time.sleep(0.5)  # five heartbeats with no order message: answered pings keep it open

        assert stream.connects == 1 and stream.connected.is_set() and stream.last_error is None
        assert nudges == [1]  # the one on connecting (a change may have been missed); the AB00 greeting is none
    finally:
        stream.stop()


def test_a_socket_that_goes_silent_is_given_up_and_opened_again_after_a_pause() -> None:
    """A server that completes the handshake and then answers nothing, not even pings (a half-dead link)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[tuple[float, socket.socket]] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            key = conn.recv(4096).split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0]
            digest = hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + base64.b64encode(digest) + b"\r\n\r\n")  # fmt: skip
            accepted.append((time.monotonic(), conn))

    threading.Thread(target=accept, daemon=True).start()
    url = f"ws://127.0.0.1:{listener.getsockname()[1]}/smart-order-update"
    stream = OrderStream(url, "eyJ", lambda: None, heartbeat_s=0.1, first_retry_s=0.2)
    stream.start()
    try:
        assert wait_for(lambda: len(accepted) >= 2, 3.0)

        gap = accepted[1][0] - accepted[0][0]
        assert gap >= 0.2 + 0.2  # two heartbeats of silence, then the retry pause: not a tight reconnect loop
    finally:
        stream.stop()
        listener.close()
        for _, conn in accepted:
            conn.close()


def test_a_server_with_an_untrusted_certificate_is_never_talked_to(tmp_path: Path) -> None:
    """TLS is verified (the SDK's socket turned it off): a self-signed server gets no connection, so no token."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed(tmp_path))
    heard: list[str] = []
    with serve(lambda c: heard.append(str(c.request.headers if c.request else "")), "127.0.0.1", 0, ssl=context) as srv:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        port = srv.socket.getsockname()[1]
        stream = OrderStream(f"wss://localhost:{port}/smart-order-update", "eyJsecret", lambda: None, first_retry_s=5)
        stream.start()
        try:
            assert wait_for(lambda: stream.last_error is not None)
            assert not stream.connected.is_set() and heard == []
            assert "reached" in (stream.last_error or "")
        finally:
            stream.stop()
        srv.shutdown()


def self_signed(tmp_path: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)
