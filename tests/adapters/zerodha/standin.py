"""``KiteStandIn``: a local Kite Connect v3 REST API that the real ``kiteconnect`` SDK talks to.

Strict as Kite's documentation describes it: every call but the log-in needs ``X-Kite-Version: 3`` and
``Authorization: token api_key:access_token`` (a missing, forged or expired token is Kite's 403 TokenException);
the session exchange checks the one-time request token and SHA-256(api_key + request_token + api_secret); each
endpoint takes at most ``rate_limit`` requests a second (Kite: 10) and answers 429 "Too many requests" beyond;
errors come in Kite's envelope ``{"status": "error", "message", "error_type"}``. The trading rules are in
``kite_account``.

Levers: ``issue_request_token()`` (the trader logged in on Kite's page), ``expire_sessions()`` (06:00 came),
``execute(order_id, qty, price)``, ``cut_order_book(n)`` (the next ``n`` order-book/trade-book reads lose their
connection, as a network failure would), ``stall(seconds)`` (every answer waits first: timeouts),
``account.hold(...)``. ``requests`` lists what was asked (method, path).

The order-update WebSocket (``stream_url``), as Kite's ``wss://ws.kite.trade?api_key=...&access_token=...``: the
handshake is refused with 403 unless both name a live session; a connection gets a 1-byte binary heartbeat every
second and a text frame ``{"type": "order", "data": {...order...}}`` each time one of the account's orders is
placed, changed, cancelled or filled. Levers: ``drop_streams()`` (every open socket loses its connection, as a
network failure would), ``refuse_streams(True)`` (403 for every handshake, as for an app without WebSocket access);
``stream_handshakes`` lists each handshake's status.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import socket
import threading
import time
from collections import deque
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from tests.adapters.zerodha.kite_account import CSV_HEADER, IST, KiteAccount, KiteError, input_error

API_KEY = "standinkey"
API_SECRET = "standin-secret"
USER_ID = "ZS1234"
REDIRECT_URL = "http://127.0.0.1:1/kite/redirect"  # never fetched: the test reads the Location header
REQUEST_TOKEN_TTL_S = 300.0
TOKEN_ERROR = "Incorrect `api_key` or `access_token`."
HEARTBEAT_S = 1.0  # Kite's ticker sends a 1-byte heartbeat every second


class KiteStandIn:
    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        api_secret: str = API_SECRET,
        user_id: str = USER_ID,
        cash: Decimal = Decimal("1000000"),
        rate_limit: int = 10,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.account = KiteAccount(user_id, cash)
        self.rate_limit = rate_limit
        self.requests: list[tuple[str, str]] = []
        self._request_tokens: dict[str, float] = {}
        self._access_tokens: set[str] = set()
        self._cuts = 0
        self._stall_s = 0.0
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._streams: set[ServerConnection] = set()
        self._refuse_streams = False
        self.stream_handshakes: list[int] = []
        self._stream_server: Server | None = None

    # ---- lifecycle ----

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        stand_in = self

        class Handler(_KiteHandler):
            kite = stand_in

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="kite-standin", daemon=True
        )
        self._thread.start()
        self._stream_server = serve(
            self._stream, "127.0.0.1", 0, process_request=self._stream_handshake, compression=None, ping_interval=None
        )
        threading.Thread(target=self._stream_server.serve_forever, name="kite-standin-ws", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._server = None
        if self._stream_server is not None:
            self._stream_server.shutdown()
            self.drop_streams()
        self._stream_server = None

    @property
    def stream_url(self) -> str:
        assert self._stream_server is not None, "start the stand-in first"
        host, port = self._stream_server.socket.getsockname()[:2]
        return f"ws://{host!s}:{port}"

    @property
    def url(self) -> str:
        assert self._server is not None, "start the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # ---- levers ----

    def issue_request_token(self) -> str:
        """What Kite's log-in page does when the trader logs in: a one-time request token for the redirect."""
        token = secrets.token_hex(16)
        with self._lock:
            self._request_tokens[token] = time.monotonic() + REQUEST_TOKEN_TTL_S
        return token

    def new_session(self) -> str:
        """An access token, as if the log-in had completed (for tests that are not about the log-in)."""
        token = secrets.token_hex(16)
        with self._lock:
            self._access_tokens.add(token)
        return token

    def expire_sessions(self) -> None:
        with self._lock:
            self._access_tokens.clear()

    def execute(self, order_id: str, quantity: Decimal, price: Decimal) -> str:
        """The exchange fills ``quantity`` more of the order at ``price``; the trade id."""
        trade_id = self.account.execute(order_id, quantity, price)
        self._push_order(order_id)
        return trade_id

    def cuts_pending(self) -> int:
        with self._lock:
            return self._cuts

    def cut_order_book(self, reads: int = 2) -> None:
        with self._lock:
            self._cuts = reads

    def stall(self, seconds: float) -> None:
        self._stall_s = seconds

    def drop_streams(self) -> None:
        with self._lock:
            streams = list(self._streams)
        for connection in streams:
            with contextlib.suppress(OSError):
                connection.socket.shutdown(socket.SHUT_RDWR)

    def refuse_streams(self, refuse: bool = True) -> None:
        self._refuse_streams = refuse

    def open_streams(self) -> int:
        with self._lock:
            return len(self._streams)

    # ---- the WebSocket ----

    def _stream_handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        query = dict(parse_qsl(urlsplit(request.path).query))
        with self._lock:
            valid = query.get("api_key") == self.api_key and query.get("access_token", "") in self._access_tokens
            valid = valid and not self._refuse_streams
            self.stream_handshakes.append(101 if valid else 403)
        if valid:
            return None
        return Response(403, "Forbidden", Headers({"Content-Length": "0"}), b"")

    def _stream(self, connection: ServerConnection) -> None:
        with self._lock:
            self._streams.add(connection)
        try:
            while True:
                try:
                    connection.recv(timeout=HEARTBEAT_S)  # subscriptions: not modelled (no market data here)
                except TimeoutError:
                    connection.send(b"\x00")
        except (ConnectionClosed, OSError):
            pass
        finally:
            with self._lock:
                self._streams.discard(connection)

    def _push_order(self, order_id: str) -> None:
        row = self.account.order_history(order_id)[-1]
        message = json.dumps({"type": "order", "data": row | {"user_id": self.account.user_id}}, default=str)
        with self._lock:
            streams = list(self._streams)
        for connection in streams:
            with contextlib.suppress(ConnectionClosed, OSError):  # a socket closing meanwhile misses it, as at Kite
                connection.send(message)

    def count(self, method: str, path: str) -> int:
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and p == path)

    # ---- request handling (called by the handler) ----

    def handle(self, method: str, path: str, query: dict[str, str], form: dict[str, str], headers: Any) -> Any:
        with self._lock:
            self.requests.append((method, path))
        parts = [p for p in path.split("/") if p]
        if parts == ["session", "token"] and method == "POST":
            return self._session_token(form)
        if headers.get("X-Kite-Version") != "3":
            raise input_error("Invalid or missing `X-Kite-Version` header.")
        self._authenticate(headers.get("Authorization") or "")
        self._check_rate(method, parts)
        account = self.account
        match method, parts:
            case "DELETE", ["session", "token"]:
                with self._lock:
                    self._access_tokens.discard(query.get("access_token", ""))
                return True
            case "GET", ["user", "profile"]:
                return {"user_id": account.user_id, "user_type": "individual", "user_name": "Stand In",
                        "user_shortname": "Stand", "email": "standin@example.invalid", "broker": "ZERODHA",
                        "exchanges": ["NSE", "BSE"], "products": ["CNC", "MIS", "NRML"],
                        "order_types": ["MARKET", "LIMIT", "SL", "SL-M"], "avatar_url": None, "meta": {}}  # fmt: skip
            case "GET", ["user", "margins"]:
                return {"equity": account.margins(), "commodity": {"enabled": False, "net": 0}}
            case "GET", ["user", "margins", "equity"]:
                return account.margins()
            case "GET", ["orders"]:
                return account.order_book()
            case "GET", ["orders", order_id]:
                return account.order_history(order_id)
            case "GET", ["orders", order_id, "trades"]:
                return account.trade_book(order_id)
            case "GET", ["trades"]:
                return account.trade_book()
            case "POST", ["orders", variety]:
                placed = account.place(variety, form, self.api_key)
                self._push_order(placed)
                return {"order_id": placed}
            case "PUT", ["orders", variety, order_id]:
                self._push_order(account.modify(variety, order_id, form))
                return {"order_id": order_id}
            case "DELETE", ["orders", variety, order_id]:
                self._push_order(account.cancel(variety, order_id))
                return {"order_id": order_id}
            case "GET", ["portfolio", "positions"]:
                return account.positions_rows()
            case "GET", ["portfolio", "holdings"]:
                return account.holdings_rows()
            case "GET", ["instruments"]:
                return _Csv(self._instruments_csv(None))
            case "GET", ["instruments", exchange]:
                return _Csv(self._instruments_csv(exchange))
        raise KiteError(404, "GeneralException", "Route not found")

    def take_cut(self, method: str, path: str) -> bool:
        """Whether this request loses its connection (an order-book or trade-book read during a cut)."""
        if method != "GET" or path not in ("/orders", "/trades"):
            return False
        with self._lock:
            if self._cuts <= 0:
                return False
            self._cuts -= 1
            return True

    def _session_token(self, form: dict[str, str]) -> Any:
        for name in ("api_key", "request_token", "checksum"):
            if not form.get(name):
                raise input_error(f"Missing `{name}`.")
        if form["api_key"] != self.api_key:
            raise KiteError(403, "TokenException", "Invalid `api_key`.")
        with self._lock:
            expires = self._request_tokens.pop(form["request_token"], None)  # one use, right or wrong
        if expires is None or expires < time.monotonic():
            raise KiteError(403, "TokenException", "Token is invalid or has expired.")
        expected = hashlib.sha256((self.api_key + form["request_token"] + self.api_secret).encode()).hexdigest()
        if not secrets.compare_digest(expected, form["checksum"]):
            raise KiteError(403, "TokenException", "Invalid `checksum`.")
        access_token = self.new_session()
        return {"user_type": "individual", "email": "standin@example.invalid", "user_name": "Stand In",
                "user_shortname": "Stand", "broker": "ZERODHA", "exchanges": ["NSE", "BSE"],
                "products": ["CNC", "MIS", "NRML"], "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
                "avatar_url": None, "user_id": self.account.user_id, "api_key": self.api_key,
                "access_token": access_token, "public_token": secrets.token_hex(8), "refresh_token": "",
                "enctoken": "", "login_time": datetime.now(IST).strftime("%Y-%m-%d %H:%M:%S"),
                "meta": {"demat_consent": "consent"}}  # fmt: skip

    def _authenticate(self, header: str) -> None:
        scheme, _, credentials = header.partition(" ")
        api_key, _, token = credentials.partition(":")
        with self._lock:
            valid = scheme == "token" and api_key == self.api_key and token in self._access_tokens
        if not valid:
            raise KiteError(403, "TokenException", TOKEN_ERROR)

    def _check_rate(self, method: str, parts: list[str]) -> None:
        route = "/".join(p if not p.isdigit() else "{id}" for p in parts)
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault((method, route), deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= self.rate_limit:
                raise KiteError(429, "NetworkException", "Too many requests")
            window.append(now)

    def _instruments_csv(self, exchange: str | None) -> str:
        rows = [",".join(i.csv_row()) for i in self.account.instruments.values() if exchange in (None, i.exchange)]
        return "\n".join([CSV_HEADER, *rows]) + "\n"

    def login_redirect(self, query: dict[str, str]) -> str:
        """Kite's log-in page, the trader having logged in: where it sends the browser."""
        if query.get("api_key") != self.api_key or query.get("v") != "3":
            raise input_error("Invalid `api_key`.")
        params = {"action": "login", "type": "login", "status": "success", "request_token": self.issue_request_token()}
        return f"{REDIRECT_URL}?{urlencode(params)}"


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (its timeout, a test's cut) closes the socket under our answer: not an error."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Csv(str):
    """A CSV answer (the instrument master), sent as Kite sends it: text/csv, not the JSON envelope."""


class _KiteHandler(BaseHTTPRequestHandler):
    kite: KiteStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        form = dict(parse_qsl(body)) if body else {}
        if self.kite._stall_s:
            time.sleep(self.kite._stall_s)
        if self.kite.take_cut(method, split.path):
            self.close_connection = True
            self.connection.close()  # no answer at all: the client sees the connection drop
            return
        if split.path == "/connect/login" and method == "GET":
            try:
                location = self.kite.login_redirect(query)
            except KiteError as exc:
                self._send_json(exc.status, {"status": "error", "message": exc.message, "error_type": exc.error_type})
                return
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            data = self.kite.handle(method, split.path, query, form, self.headers)
        except KiteError as exc:
            self._send_json(exc.status, {"status": "error", "message": exc.message, "data": None,
                                         "error_type": exc.error_type})  # fmt: skip
            return
        if isinstance(data, _Csv):
            payload = data.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self._send_json(200, {"status": "success", "data": data})

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
