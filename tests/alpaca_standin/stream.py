"""The trade-updates websocket of the stand-in: JSON frames, Alpaca's authenticate/listen handshake.

Runs a ``websockets`` server on its own asyncio loop in a daemon thread. ``publish``
may be called from any thread; it blocks until the frame has been written to every
listening connection, so events leave in the order tests cause them. Events
published while nobody listens are lost, as with the real stream: Alpaca replays
nothing after a reconnect. While ``down`` the hub refuses every handshake with HTTP 503,
so a client cannot come back until the outage ends.
"""

from __future__ import annotations

import json
import threading
import time
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.alpaca_standin.ws_server import LoopServer


class TradeUpdatesHub(LoopServer):
    """Accepts stream clients, tracks which listen to trade_updates, broadcasts to them."""

    def __init__(self, key_id: str, secret_key: str) -> None:
        super().__init__("alpaca-standin-ws", process_request=self._refuse_while_down)
        self.down = False  # set from test threads; read on the hub's loop
        self.refused_while_down = 0
        self.key_id = key_id
        self.secret_key = secret_key
        self.connections_accepted = 0  # every handshake that reached "listening", for reconnection tests
        self._listeners: set[ServerConnection] = set()
        self._all: set[ServerConnection] = set()
        self._changed = threading.Condition()

    def _refuse_while_down(self, connection: ServerConnection, request: Request) -> Response | None:
        if not self.down:
            return None
        self.refused_while_down += 1
        return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "trade stream down\n")

    async def _session(self, ws: ServerConnection) -> None:
        self._all.add(ws)
        try:
            auth = json.loads(await ws.recv())
            data = auth.get("data") or {}
            ok = auth.get("action") in ("authenticate", "auth") and (
                data.get("key_id") == self.key_id and data.get("secret_key") == self.secret_key
            )
            status = "authorized" if ok else "unauthorized"
            await ws.send(json.dumps({"stream": "authorization", "data": {"action": "authenticate", "status": status}}))
            if not ok:
                await ws.close(1008, "unauthorized")
                return
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("action") == "listen":
                    if self.down:  # a handshake begun before the outage ends with the other connections
                        ws.transport.abort()
                        return
                    streams = [s for s in (msg.get("data") or {}).get("streams", []) if s == "trade_updates"]
                    await ws.send(json.dumps({"stream": "listening", "data": {"streams": streams}}))
                    with self._changed:
                        if streams:
                            self._listeners.add(ws)
                            self.connections_accepted += 1
                        else:
                            self._listeners.discard(ws)
                        self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self._all.discard(ws)
            with self._changed:
                self._listeners.discard(ws)
                self._changed.notify_all()

    # ---- used by the stand-in facade, from test threads ----

    @property
    def listener_count(self) -> int:
        with self._changed:
            return len(self._listeners)

    def wait_for_listeners(self, count: int = 1, timeout: float = 10.0, accepted_at_least: int = 0) -> bool:
        """Block until ``count`` clients listen (and ``accepted_at_least`` handshakes happened in total)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._listeners) < count or self.connections_accepted < accepted_at_least:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def publish(self, data: dict[str, Any]) -> None:
        frame = json.dumps({"stream": "trade_updates", "data": data})
        self._call(self._broadcast(frame))

    async def _broadcast(self, frame: str) -> None:
        for ws in list(self._listeners):
            try:
                await ws.send(frame)
            except ConnectionClosed:
                self._listeners.discard(ws)

    def drop_connections(self) -> None:
        """Cut every stream connection without a close handshake, like a network failure."""

        async def _abort() -> None:
            for ws in list(self._all):
                ws.transport.abort()

        self._call(_abort())
        with self._changed:
            self._listeners.clear()
            self._changed.notify_all()
