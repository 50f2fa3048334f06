"""A websockets server on its own asyncio loop thread: what both stand-in streams run on.

Tests drive the stand-in from ordinary threads, so each hub owns a loop in a
daemon thread, runs coroutines there with a deadline (``call``), and closes its
server on that same loop (websockets' ``Server.close`` is not thread-safe).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve

SEND_DEADLINE_S = 5.0


class LoopServer:
    """Subclasses implement ``_session``; ``start``/``stop`` from any thread; ``port`` once started."""

    def __init__(self, thread_name: str, **serve_options: Any) -> None:
        self._serve_options = serve_options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=thread_name, daemon=True)
        self._server: Server | None = None
        self.port = 0

    async def _session(self, ws: ServerConnection) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()
        self._server = self._call(self._serve())
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self) -> Server:
        return await serve(self._session, "127.0.0.1", 0, **self._serve_options)  # needs the hub's running loop

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

    def _call(self, awaitable: Any) -> Any:
        """Run ``awaitable`` on the hub's loop and wait for its result (at most SEND_DEADLINE_S)."""
        return asyncio.run_coroutine_threadsafe(_as_coroutine(awaitable), self._loop).result(timeout=SEND_DEADLINE_S)


async def _as_coroutine(awaitable: Any) -> Any:
    return await awaitable
