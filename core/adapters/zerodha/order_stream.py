"""Kite's order-update WebSocket, read only to wake the order poller.

Why a socket beside the poller: polling ``GET /orders`` reports a fill at the next poll (up to a second while an
order works, more when idle); Kite's WebSocket (``wss://ws.kite.trade?api_key=...&access_token=...``, the URL the
SDK's ``KiteTicker`` opens) pushes a text frame ``{"type": "order", "data": {...}}`` for each change of the user's
orders. The message carries no trade ids, so the order and trade books stay the source of truth (and of the stable
execution ids): a message only makes the poller read them now. While the socket is up the poller may poll less.

Why not ``KiteTicker``: it runs on Twisted's process-wide reactor, which cannot be started again once stopped, so
a ticker cannot be closed and reopened in one process (a log-out and log-in). This module uses the maintained
``websocket-client`` on one daemon thread that it can end at any time.

Behaviour: every connect has a timeout; a dropped or silent socket (Kite sends a heartbeat every second) is
reconnected with a doubling backoff; a 403 at the handshake (Kite's answer to a bad or expired token, and to an
app whose plan has no WebSocket) stops the stream and calls ``on_refused`` once, which tells the two apart.
``close`` returns within about a second.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import urlencode

import websocket

from core.adapters.zerodha.client import KiteSession

log = logging.getLogger(__name__)

PRODUCTION_STREAM_ROOT = "wss://ws.kite.trade"
CONNECT_TIMEOUT_S = 7.0
READ_SLICE_S = 0.25  # how often the reading thread looks at the stop flag: bounds ``close``
SILENCE_S = 10.0  # Kite's heartbeat is every second; this long without a frame means the socket is dead
INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0


class OrderStream:
    """One session's order-update socket on a background thread.

    ``on_order(data)``: each ``"order"`` message's order row (the broker wakes its poller). ``on_up()`` /
    ``on_down()``: the socket opened / was lost (the broker slows / restores its polling). ``on_refused()``: Kite
    refused the handshake with 403; the stream has stopped for good.
    """

    def __init__(
        self,
        session: KiteSession,
        stream_root: str,
        *,
        on_order: Callable[[dict[str, object]], None],
        on_up: Callable[[], None] = lambda: None,
        on_down: Callable[[], None] = lambda: None,
        on_refused: Callable[[], None] = lambda: None,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        silence_s: float = SILENCE_S,
        initial_backoff_s: float = INITIAL_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
    ) -> None:
        query = urlencode({"api_key": session.api_key, "access_token": session.access_token})
        self._url = f"{stream_root.rstrip('/')}?{query}"
        self._on_order = on_order
        self._on_up = on_up
        self._on_down = on_down
        self._on_refused = on_refused
        self.connect_timeout_s = connect_timeout_s
        self.silence_s = silence_s
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket: websocket.WebSocket | None = None
        self._socket_lock = threading.Lock()
        self.connected = threading.Event()  # set while the socket is open, for the broker and tests
        self.connects = 0  # successful handshakes, for tests and diagnostics
        self.refused = False

    def __repr__(self) -> str:  # the URL holds the access token: never show it
        return f"OrderStream(connected={self.connected.is_set()}, connects={self.connects})"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running or self.refused:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="zerodha-order-stream", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 1.0) -> None:
        """End the stream; returns within ``timeout`` (the thread sees the flag within one read slice)."""
        self._stop.set()
        with self._socket_lock:
            sock = self._socket
        if sock is not None:
            with contextlib.suppress(Exception):  # already closed: nothing to wake
                sock.abort()  # wakes a connect or read in progress
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        backoff = self.initial_backoff_s
        while not self._stop.is_set():
            try:
                sock = self._connect()
            except websocket.WebSocketBadStatusException as exc:
                if exc.status_code == 403:
                    self.refused = True
                    log.warning("Zerodha refused the order-update socket (403); order updates come by polling")
                    self._on_refused()
                    return
                log.info("Zerodha's order-update socket answered %s; retrying in %.1f s", exc.status_code, backoff)
            except (OSError, websocket.WebSocketException) as exc:
                name = type(exc).__name__
                log.info("Zerodha's order-update socket unreachable (%s); retrying in %.1f s", name, backoff)
            else:
                backoff = self.initial_backoff_s
                self._read(sock)
            if self._stop.wait(backoff):
                return
            backoff = min(self.max_backoff_s, backoff * 2)

    def _connect(self) -> websocket.WebSocket:
        sock = websocket.WebSocket()
        with self._socket_lock:
            if self._stop.is_set():
                raise websocket.WebSocketException("closing")
            self._socket = sock
        sock.settimeout(self.connect_timeout_s)
        sock.connect(self._url)
        sock.settimeout(READ_SLICE_S)
        self.connects += 1
        return sock

    def _read(self, sock: websocket.WebSocket) -> None:
        self.connected.set()
        self._on_up()
        last_frame = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    opcode, payload = sock.recv_data()
                except websocket.WebSocketTimeoutException:
                    if time.monotonic() - last_frame > self.silence_s:
                        log.info("Zerodha's order-update socket went silent; reconnecting")
                        return
                    continue
                last_frame = time.monotonic()
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    self._message(payload)
                elif opcode == websocket.ABNF.OPCODE_CLOSE:
                    return
        except (OSError, websocket.WebSocketException) as exc:
            if not self._stop.is_set():
                log.info("Zerodha's order-update socket dropped (%s); reconnecting", type(exc).__name__)
        finally:
            self.connected.clear()
            with self._socket_lock:
                self._socket = None
            with contextlib.suppress(Exception):  # the peer is gone already
                sock.close(timeout=0.2)
            if not self._stop.is_set():
                self._on_down()

    def _message(self, payload: bytes) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        if message.get("type") == "order" and isinstance(message.get("data"), dict):
            try:
                self._on_order(message["data"])
            except Exception:  # the broker's bug must not end the stream
                log.exception("Zerodha order update handler failed")
        elif message.get("type") == "error":
            log.warning("Zerodha's order-update socket reported an error: %.200s", message.get("data"))
