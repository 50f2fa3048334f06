"""The stand-in's socket.io side: ICICI's order-notification server (``livefeeds.icicidirect.com``) and its
market-data server (``livestream.icicidirect.com``, which ``ws_connect`` must reach before the SDK will subscribe
to order notifications at all).

breeze_connect connects with python-socketio over the websocket transport only (Engine.IO 4, Socket.IO 5), sending
``{"user": <user id>, "token": <session key>}`` as the namespace's auth; a wrong pair is refused with a CONNECT_ERROR
(the client then reports ``Failed to connect``). An order update is the event ``order`` whose one argument is the
TUX order record as a list of strings (message type ``"4"``/``"5"`` for equities; the order reference at index 23),
which the SDK's ``parse_data`` turns into a dict. The server pings every second so the client's ping timeout holds.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
from typing import TYPE_CHECKING, Any

import simple_websocket

if TYPE_CHECKING:
    from tests.adapters.icici.standin import BreezeStandIn, Order

PING_INTERVAL_MS = 1000
STATUS_CODES = {
    "Requested": "R",
    "Ordered": "O",
    "Partially Executed": "P",
    "Executed": "E",
    "Rejected": "J",
    "Expired": "X",
    "Cancelled": "C",
}


class NotificationServer:
    hosts = ("livefeeds.icicidirect.com", "livestream.icicidirect.com")

    def __init__(self, standin: BreezeStandIn) -> None:
        self.standin = standin
        self._lock = threading.Lock()
        self._order_clients: list[simple_websocket.Server] = []
        self._all: list[simple_websocket.Server] = []
        self.connects = 0  # accepted order-channel connections, reconnections included
        self.refused = 0

    def accept(self, handler: Any, host: str) -> None:
        """Serve one websocket on the proxy handler's thread until it closes."""
        environ = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in handler.headers.items()}
        environ["werkzeug.socket"] = handler.connection
        try:
            ws = simple_websocket.Server(environ)
        except Exception:
            return
        with self._lock:
            self._all.append(ws)
        try:
            self._session(ws, host)
        except simple_websocket.ConnectionClosed:
            pass
        finally:
            with self._lock:
                for group in (self._order_clients, self._all):
                    if ws in group:
                        group.remove(ws)
            with contextlib.suppress(Exception):
                ws.close()

    def _session(self, ws: simple_websocket.Server, host: str) -> None:
        ws.send(
            "0"
            + json.dumps(
                {
                    "sid": secrets.token_hex(8),
                    "upgrades": [],
                    "pingInterval": PING_INTERVAL_MS,
                    "pingTimeout": 20000,
                    "maxPayload": 1000000,
                }
            )
        )
        first = ws.receive(timeout=10)
        if not isinstance(first, str) or not first.startswith("40"):
            return
        auth = json.loads(first[2:] or "{}")
        if not self.standin.accepts_stream_auth(str(auth.get("user", "")), str(auth.get("token", ""))):
            self.refused += 1
            ws.send('44{"message":"Authentication failed"}')
            return
        ws.send("40" + json.dumps({"sid": secrets.token_hex(8)}))
        if host == "livefeeds.icicidirect.com":
            with self._lock:
                self._order_clients.append(ws)
                self.connects += 1
        stop = threading.Event()

        def ping() -> None:
            while not stop.wait(PING_INTERVAL_MS / 1000):
                try:
                    ws.send("2")
                except Exception:
                    return

        threading.Thread(target=ping, name="icici-standin-ping", daemon=True).start()
        try:
            while True:
                message = ws.receive(timeout=None)
                if message is None:
                    return
                if message == "41":  # the client left the namespace
                    return
        finally:
            stop.set()

    def push(self, order: Order) -> None:
        """Send ``order``'s current state to every connected order-notification client."""
        packet = "42" + json.dumps(["order", tux_record(order)])
        with self._lock:
            clients = list(self._order_clients)
        for ws in clients:
            with contextlib.suppress(Exception):
                ws.send(packet)

    def drop_all(self) -> None:
        """Close every socket at once, as a network failure would."""
        with self._lock:
            clients = list(self._all)
        for ws in clients:
            with contextlib.suppress(Exception):
                ws.sock.shutdown(2)

    @property
    def order_clients(self) -> int:
        with self._lock:
            return len(self._order_clients)


def tux_record(o: Order) -> list[str]:
    """An equity order notification as ICICI sends it: the fields breeze_connect's parse_data reads, by position."""
    record = [""] * 47
    record[0] = "1"  # source number
    record[1] = "ORD"
    record[11] = "4"  # message type: equity order
    record[13] = o.exchange_code
    record[14] = o.stock_code
    record[15] = o.action[0]
    record[16] = {"Limit": "L", "Market": "M", "StopLoss": "S"}[o.order_type]
    record[17] = {"Day": "T", "IoC": "I", "VTC": "V"}[o.validity]
    record[18] = f"{o.price:.2f}"
    record[19] = "C"
    record[20] = STATUS_CODES.get(o.status, "O")
    record[23] = o.order_id
    record[24] = str(o.quantity)
    record[25] = str(o.pending)
    record[26] = str(o.executed)
    record[27] = str(o.cancelled)
    record[28] = "0"
    record[42] = f"{o.average:.2f}"
    return record
