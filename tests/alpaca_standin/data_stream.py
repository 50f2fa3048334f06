"""The stand-in's market-data websocket (Alpaca's ``/v2/iex``), for alpaca-py's real ``StockDataStream``.

Live bars reach the app through that client, so tests need the Alpaca behaviours it
must survive, not just a happy path: msgpack frames both ways (the client sends
``Content-Type: application/msgpack``), the connected/authenticated greeting, 402 on
wrong keys, 406 "connection limit exceeded" while the account already has a data
connection open (Alpaca allows one), bars sent only to connections subscribed to the
symbol (others are dropped, as are bars sent while nobody listens), and connections
cut without a close handshake so the client's own reconnection can be exercised.

Runs like ``stream.TradeUpdatesHub``: a ``websockets`` server on its own loop thread;
``publish_bar`` may be called from any thread and blocks until the frame is written.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgpack
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tests.alpaca_standin.ws_server import LoopServer

CLOSE_TIMEOUT_S = 2.0
# Channels a client may subscribe to; Alpaca adds corrections and cancelErrors along with trades.
CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds")
Msg = dict[str, Any]


class MarketDataHub(LoopServer):
    """Accepts data-stream clients (one per account), tracks their subscriptions, sends them bars."""

    def __init__(self, key_id: str, secret_key: str) -> None:
        super().__init__("alpaca-standin-data-ws", close_timeout=CLOSE_TIMEOUT_S)
        self.key_id = key_id
        self.secret_key = secret_key
        self.connections_accepted = 0  # authenticated connections so far; grows by one per (re)connection
        self.connection_refusals = 0  # 406s: right keys, but the account already had a connection open
        self.auth_failures = 0  # 402s: wrong keys
        self._all: set[ServerConnection] = set()
        self._authenticated: dict[str, ServerConnection] = {}  # key -> the account's one open connection
        self._subs: dict[ServerConnection, dict[str, set[str]]] = {}
        self._changed = threading.Condition()

    # ---- one client connection, on the hub's loop ----

    async def _session(self, ws: ServerConnection) -> None:
        self._all.add(ws)
        try:
            await _send(ws, {"T": "success", "msg": "connected"})
            if not await self._authenticate(ws):
                return
            async for raw in ws:
                msg = _decode(raw)
                action = msg.get("action") if msg is not None else None
                if action in ("subscribe", "unsubscribe"):
                    await _send(ws, self._update_subscriptions(ws, msg or {}, add=action == "subscribe"))
                elif action == "auth":
                    await _send(ws, _error(403, "already authenticated"))
                else:
                    await _send(ws, _error(400, "invalid syntax"))
        except ConnectionClosed:
            pass
        finally:
            self._all.discard(ws)
            with self._changed:
                if self._authenticated.get(self.key_id) is ws:
                    del self._authenticated[self.key_id]
                self._subs.pop(ws, None)
                self._changed.notify_all()

    async def _authenticate(self, ws: ServerConnection) -> bool:
        msg = _decode(await ws.recv()) or {}
        if msg.get("action") != "auth":
            return await _refuse(ws, 401, "not authenticated")
        if msg.get("key") != self.key_id or msg.get("secret") != self.secret_key:
            with self._changed:
                self.auth_failures += 1
            return await _refuse(ws, 402, "auth failed")
        with self._changed:
            refused = self.key_id in self._authenticated
            if refused:
                self.connection_refusals += 1
            else:
                self._authenticated[self.key_id] = ws
                self._subs[ws] = {channel: set() for channel in CHANNELS}
                self.connections_accepted += 1
            self._changed.notify_all()
        if refused:
            return await _refuse(ws, 406, "connection limit exceeded")
        await _send(ws, {"T": "success", "msg": "authenticated"})
        return True

    def _update_subscriptions(self, ws: ServerConnection, msg: Msg, add: bool) -> Msg:
        """Apply a (un)subscribe message; return Alpaca's reply listing everything now subscribed."""
        with self._changed:
            subs = self._subs.get(ws) or {channel: set() for channel in CHANNELS}
            for channel in CHANNELS:
                symbols = msg.get(channel) or []
                for symbol in symbols if isinstance(symbols, list) else []:
                    if add:
                        subs[channel].add(str(symbol))
                    else:
                        subs[channel].discard(str(symbol))
            self._changed.notify_all()
            reply: Msg = {"T": "subscription", **{channel: sorted(subs[channel]) for channel in CHANNELS}}
        reply["corrections"] = list(reply["trades"])
        reply["cancelErrors"] = list(reply["trades"])
        return reply

    # ---- used by the stand-in facade, from test threads ----

    def _bar_subscribers(self, symbol: str) -> list[ServerConnection]:
        return [ws for ws, subs in self._subs.items() if symbol in subs["bars"] or "*" in subs["bars"]]

    @property
    def subscriptions(self) -> dict[str, int]:
        """Bar subscriptions now: symbol (or ``"*"``) -> number of connections subscribed."""
        with self._changed:
            counts: dict[str, int] = {}
            for subs in self._subs.values():
                for symbol in subs["bars"]:
                    counts[symbol] = counts.get(symbol, 0) + 1
            return counts

    @property
    def open_connections(self) -> int:
        """Websocket connections open now, authenticated or not."""
        return len(self._all)

    def wait_for_subscribers(self, symbol: str, count: int = 1, timeout: float = 10.0) -> bool:
        """True once ``count`` connections would receive ``symbol``'s bars (False after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._bar_subscribers(symbol)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def publish_bar(self, symbol: str, bar: Mapping[str, Any]) -> int:
        """Send a minute bar to the connections subscribed to ``symbol``; returns how many got it.

        ``bar`` holds timestamp (timezone-aware), open, high, low, close, volume and
        optionally trade_count and vwap (a dict, or a row of a bar frame).
        """
        frame = msgpack.packb([_bar_message(symbol, bar)])
        return self._call(self._broadcast(symbol, frame))

    async def _broadcast(self, symbol: str, frame: bytes) -> int:
        with self._changed:
            targets = self._bar_subscribers(symbol)
        sent = 0
        for ws in targets:
            try:
                await ws.send(frame)
                sent += 1
            except ConnectionClosed:
                pass
        return sent

    def drop_connections(self) -> None:
        """Cut every data connection without a close handshake, like a network failure."""

        async def _abort() -> None:
            for ws in list(self._all):
                ws.transport.abort()

        self._call(_abort())
        with self._changed:
            self._authenticated.clear()
            self._subs.clear()
            self._changed.notify_all()


def _bar_message(symbol: str, bar: Mapping[str, Any]) -> Msg:
    stamp: datetime = bar["timestamp"]
    if stamp.tzinfo is None:
        raise ValueError("bar timestamp must be timezone-aware")
    return {
        "T": "b",
        "S": symbol,
        "o": float(bar["open"]),
        "h": float(bar["high"]),
        "l": float(bar["low"]),
        "c": float(bar["close"]),
        "v": _volume(bar["volume"]),
        "t": msgpack.Timestamp.from_datetime(stamp),
        "n": None if _missing(bar.get("trade_count")) else int(bar["trade_count"]),
        "vw": None if _missing(bar.get("vwap")) else float(bar["vwap"]),
    }


def _volume(value: Any) -> int | float:
    """Whole volumes go out as integers, as Alpaca sends stock volumes."""
    volume = float(value)
    return int(volume) if volume.is_integer() else volume


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _decode(raw: str | bytes) -> Msg | None:
    """A client message (msgpack, as alpaca-py sends); None when it is not a msgpack map."""
    try:
        msg = msgpack.unpackb(raw.encode() if isinstance(raw, str) else raw)
    except (ValueError, msgpack.UnpackException):
        return None
    return msg if isinstance(msg, dict) else None


async def _send(ws: ServerConnection, msg: Msg) -> None:
    await ws.send(msgpack.packb([msg]))


def _error(code: int, text: str) -> Msg:
    return {"T": "error", "code": code, "msg": text}


async def _refuse(ws: ServerConnection, code: int, text: str) -> bool:
    await _send(ws, _error(code, text))
    await ws.close(1008, text)
    return False
