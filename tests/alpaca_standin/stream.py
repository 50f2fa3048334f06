"""The trade-updates websocket of the stand-in: JSON frames, Alpaca's authenticate/listen handshake.

Runs a ``websockets`` server on its own asyncio loop in a daemon thread. ``publish``
may be called from any thread; it blocks until the frame has been written to every
listening connection, so events leave in the order tests cause them. Events
published while nobody listens are lost, as with the real stream.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

SEND_DEADLINE_S = 5.0


class TradeUpdatesHub:
    """Accepts stream clients, tracks which listen to trade_updates, broadcasts to them."""

    def __init__(self, key_id: str, secret_key: str) -> None:
        self.key_id = key_id
        self.secret_key = secret_key
        self.connections_accepted = 0  # every handshake that reached "listening", for reconnection tests
        self._listeners: set[ServerConnection] = set()
        self._all: set[ServerConnection] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="alpaca-standin-ws", daemon=True)
        self._server: Server | None = None
        self._changed = threading.Condition()
        self.port = 0

    def start(self) -> None:
        self._thread.start()
        self._server = self._call(self._serve())
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self) -> Server:
        return await serve(self._session, "127.0.0.1", 0)

    def stop(self) -> None:
        if self._server is not None:
            self._call(self._close_server(self._server))  # Server.close() must run on the hub's loop
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=SEND_DEADLINE_S)
        if not self._thread.is_alive():
            self._loop.close()

    @staticmethod
    async def _close_server(server: Server) -> None:
        server.close()
        await server.wait_closed()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(_as_coroutine(coro), self._loop).result(timeout=SEND_DEADLINE_S)

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


async def _as_coroutine(awaitable: Any) -> Any:
    return await awaitable
