"""Angel One's order-update WebSocket, used only to wake the order-book poller the moment an order changes.

Angel pushes each change of the trader's orders on ``wss://tns.angelone.in/smart-order-update`` (the header
``Authorization: Bearer <jwt>``; a first message with ``"order-status": "AB00"``, then one per change). The books stay
the source of truth: they carry the trade ids that make fills exactly-once, and a message missed while the socket
was down is caught by the next poll anyway. So a message only calls ``on_change`` (the poller's ``nudge``), which
still waits for Angel's one-read-a-second gate.

Why not the SDK's ``SmartWebSocketOrderUpdate``: it turns TLS certificate checks off and gives up after two
retries. Here ``websocket-client`` verifies certificates (its default), every connect has a timeout, a dropped
socket is retried with a growing pause, and a refused session (HTTP 401/403 on the handshake) stops the retries and
says so in ``last_error`` (nothing will work until the trader logs in again). Heartbeat as the SDK's: a ping frame
every ``HEARTBEAT_S``; Angel's pings are answered by the library; a socket silent for two heartbeats is dead.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

import websocket

log = logging.getLogger(__name__)

STREAM_ROOT = "wss://tns.angelone.in"
STREAM_PATH = "/smart-order-update"
HEARTBEAT_S = 10.0
CONNECT_TIMEOUT_S = 10.0
FIRST_RETRY_S = 0.5
MAX_RETRY_S = 30.0
READ_SLICE_S = 0.2  # how often the reading thread looks at the stop flag: close() returns within about this
AUTH_REFUSED = "Angel One refused the order-update connection: the session has ended; log in to Angel One again."


def stream_url(stream_root: str | None) -> str:
    return (stream_root or STREAM_ROOT).rstrip("/") + STREAM_PATH


class OrderStream:
    """One background connection; ``on_change`` is called on its thread after each order message."""

    def __init__(
        self,
        url: str,
        jwt: str,
        on_change: Callable[[], None],
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        heartbeat_s: float = HEARTBEAT_S,
        first_retry_s: float = FIRST_RETRY_S,
        max_retry_s: float = MAX_RETRY_S,
    ) -> None:
        self._url = url
        self._jwt = jwt
        self._on_change = on_change
        self._connect_timeout_s = connect_timeout_s
        self._heartbeat_s = heartbeat_s
        self._first_retry_s = first_retry_s
        self._max_retry_s = max_retry_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._ws: websocket.WebSocket | None = None
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()  # set while a connection is open (for a health display and tests)
        self.connects = 0  # successful connections so far
        self.last_error: str | None = None  # why updates are not pushed now; None while connected

    def __repr__(self) -> str:
        return f"OrderStream({self._url!r})"  # never the token

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="angel-order-stream", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the thread still connects or reads (False after ``stop`` or a refused session)."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float = 1.0) -> None:
        """Close the socket and end the thread; returns within ``timeout_s`` (a connect in progress is abandoned:
        the thread is a daemon and exits as soon as that connect returns)."""
        self._stop.set()
        with self._lock:
            ws = self._ws
        if ws is not None:
            ws.abort()  # wakes a blocked read at once
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.connected.clear()

    def _run(self) -> None:
        pause = self._first_retry_s
        while not self._stop.is_set():
            try:
                ws = websocket.create_connection(
                    self._url,
                    timeout=self._connect_timeout_s,
                    header=[f"Authorization: Bearer {self._jwt}"],
                    enable_multithread=True,
                )
            except websocket.WebSocketBadStatusException as exc:
                if exc.status_code in (401, 403):
                    self.last_error = AUTH_REFUSED
                    log.warning("Angel One order-update socket refused the session (HTTP %s)", exc.status_code)
                    return
                self.last_error = f"Angel One's order-update socket answered HTTP {exc.status_code}; retrying."
            except (OSError, websocket.WebSocketException) as exc:
                self.last_error = "Angel One's order-update socket cannot be reached; retrying."
                log.info("Angel One order-update socket connect failed: %s", type(exc).__name__)
            else:
                opened = time.monotonic()
                self._serve(ws)
                if time.monotonic() - opened > self._max_retry_s:  # it worked a while: the next drop is news
                    pause = self._first_retry_s
            # after a failed connect and after a drop alike: a server that accepts and drops at once (Angel allows
            # three connections per client) is not hammered
            self._stop.wait(pause)
            pause = min(pause * 2, self._max_retry_s)

    def _serve(self, ws: websocket.WebSocket) -> None:
        with self._lock:
            if self._stop.is_set():
                ws.close(timeout=0)
                return
            self._ws = ws
        self.connects += 1
        self.last_error = None
        self.connected.set()
        self._on_change()  # anything may have changed while the socket was down: look now
        ws.settimeout(min(READ_SLICE_S, self._heartbeat_s / 4))  # a ping is never a whole read late
        heard = pinged = time.monotonic()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now - heard > 2 * self._heartbeat_s:
                    self.last_error = "Angel One's order-update socket went silent; reconnecting."
                    break
                if now - pinged >= self._heartbeat_s:
                    ws.ping("ping")
                    pinged = now
                try:
                    opcode, data = ws.recv_data(control_frame=True)
                except websocket.WebSocketTimeoutException:
                    continue
                heard = time.monotonic()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    break
                if opcode == websocket.ABNF.OPCODE_TEXT and _is_order_change(data):
                    self._on_change()
        except (OSError, websocket.WebSocketException) as exc:
            if not self._stop.is_set():
                self.last_error = "Angel One's order-update socket dropped; reconnecting."
                log.info("Angel One order-update socket dropped: %s", type(exc).__name__)
        finally:
            self.connected.clear()
            with self._lock:
                self._ws = None
            ws.shutdown()


def _is_order_change(data: bytes) -> bool:
    """An order message (not the connect acknowledgement AB00, not a heartbeat answer)."""
    try:
        message = json.loads(data)
    except ValueError:
        return False  # "pong" and other text
    return isinstance(message, dict) and bool(message.get("order-status")) and message["order-status"] != "AB00"
