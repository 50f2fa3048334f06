"""The REST half of the stand-in: Alpaca's /v2 trading routes over a threaded stdlib HTTP server.

Routing is a short table of (method, regex) -> handler so the request counter can
key on the route pattern (``"GET /v2/orders/{id}"``) rather than on concrete ids.
An artificial delay, auth, the rate limit (and a 429 storm), and injected errors are
applied before routing, in that order, like a gateway in front of the real service:
a request refused there never reaches the account, so it changes nothing.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.alpaca_standin.account import ApiError, Json, PaperAccount


@dataclass
class InjectedError:
    """One canned error for the next request whose route matches ``route`` (None: any route)."""

    status: int
    message: str
    code: int
    route: str | None = None
    skip: int = 0  # matching requests to let through first (an error in the middle of a paged read)


class RateLimit:
    """A fixed window counter like Alpaca's 200 requests/minute; ``limit=None`` disables it."""

    def __init__(self) -> None:
        self.limit: int | None = None
        self.window_s = 60.0
        self._window_start = time.monotonic()
        self._used = 0
        self._lock = threading.Lock()

    def take(self) -> tuple[bool, dict[str, str]]:
        with self._lock:
            now = time.monotonic()
            if now - self._window_start >= self.window_s:
                self._window_start, self._used = now, 0
            if self.limit is None:
                return True, {}
            allowed = self._used < self.limit
            if allowed:
                self._used += 1
            reset = int(time.time() + self.window_s - (now - self._window_start))
            headers = {
                "X-RateLimit-Limit": str(self.limit),
                "X-RateLimit-Remaining": str(max(0, self.limit - self._used)),
                "X-RateLimit-Reset": str(reset),
            }
            return allowed, headers


Handler = Callable[[PaperAccount, dict[str, str], dict[str, list[str]], Json | None], tuple[int, Any]]


def _flag(query: dict[str, list[str]], name: str, default: bool = False) -> bool:
    values = query.get(name)
    return default if not values else values[0].lower() == "true"


def _list_orders(acct: PaperAccount, _p: dict[str, str], q: dict[str, list[str]], _b: Json | None) -> tuple[int, Any]:
    symbols = q["symbols"][0].split(",") if "symbols" in q else None
    return 200, acct.list_orders(
        status=q.get("status", ["open"])[0],
        limit=int(q.get("limit", ["50"])[0]),
        nested=_flag(q, "nested"),
        symbols=symbols,
        side=q.get("side", [None])[0],
    )


def _replace(acct: PaperAccount, p: dict[str, str], _q: dict[str, list[str]], b: Json | None) -> tuple[int, Any]:
    body = b or {}
    fields = ("qty", "limit_price", "stop_price", "time_in_force", "client_order_id")
    return 200, acct.replace(p["id"], **{name: body.get(name) for name in fields})


def _clock(acct: PaperAccount) -> Json:
    now = datetime.now(UTC).replace(microsecond=0)
    day = timedelta(days=1)
    open_at = (now + day).replace(hour=14, minute=30, second=0)
    close_at = now.replace(hour=21, minute=0, second=0)
    if close_at <= now:
        close_at += day
    return {
        "timestamp": now.isoformat(),
        "is_open": acct.clock_open,
        "next_open": open_at.isoformat(),
        "next_close": close_at.isoformat(),
    }


ROUTES: list[tuple[str, str, re.Pattern[str], Handler]] = [
    (m, label, re.compile(rx), h)
    for m, label, rx, h in [
        ("POST", "POST /v2/orders", r"/v2/orders", lambda a, p, q, b: (200, a.submit(b or {}))),
        ("GET", "GET /v2/orders", r"/v2/orders", _list_orders),
        ("DELETE", "DELETE /v2/orders", r"/v2/orders", lambda a, p, q, b: (207, a.cancel_all())),
        (
            "GET",
            "GET /v2/orders:by_client_order_id",
            r"/v2/orders:by_client_order_id",
            lambda a, p, q, b: (200, a.order_json(a.get_by_client_id(q.get("client_order_id", [""])[0]).id)),
        ),
        ("GET", "GET /v2/orders/{id}", r"/v2/orders/(?P<id>[^/]+)", lambda a, p, q, b: (200, a.order_json(p["id"]))),
        (
            "DELETE",
            "DELETE /v2/orders/{id}",
            r"/v2/orders/(?P<id>[^/]+)",
            lambda a, p, q, b: (204, a.request_cancel(p["id"])),
        ),
        ("PATCH", "PATCH /v2/orders/{id}", r"/v2/orders/(?P<id>[^/]+)", _replace),
        ("GET", "GET /v2/account", r"/v2/account", lambda a, p, q, b: (200, a.account_json())),
        ("GET", "GET /v2/positions", r"/v2/positions", lambda a, p, q, b: (200, a.positions_json())),
        (
            "GET",
            "GET /v2/positions/{symbol}",
            r"/v2/positions/(?P<symbol>[^/]+)",
            lambda a, p, q, b: (200, a.position_json(p["symbol"])),
        ),
        ("GET", "GET /v2/clock", r"/v2/clock", lambda a, p, q, b: (200, _clock(a))),
        ("GET", "GET /v2/stocks/bars", r"/v2/stocks/bars", lambda a, p, q, b: (200, a.market.query(q))),
        (
            "GET",
            "GET /v2/assets/{symbol}",
            r"/v2/assets/(?P<symbol>[^/]+)",
            lambda a, p, q, b: (200, a.asset_json(p["symbol"])),
        ),
    ]
]


class RestGateway:
    """Everything the HTTP handler needs, shared across its threads; the stand-in exposes its knobs."""

    def __init__(self, account: PaperAccount, key_id: str, secret_key: str) -> None:
        self.account = account
        self.key_id = key_id
        self.secret_key = secret_key
        self.rate_limit = RateLimit()
        self.request_counts: Counter[str] = Counter()
        self.injected: list[InjectedError] = []
        self.delay_s = 0.0
        self.storm_until = 0.0  # time.monotonic() until which every request is answered 429
        self.rate_limited: Counter[str] = Counter()  # requests refused with 429, by route (storms and the limit)
        self._lock = threading.Lock()

    def _storm_headers(self) -> dict[str, str] | None:
        left = self.storm_until - time.monotonic()
        if left <= 0:
            return None
        limit = self.rate_limit.limit or 200
        reset = int(time.time() + left) + 1  # Alpaca's reset is a Unix time in whole seconds
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}

    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(raw_path)
        query = parse_qs(split.query)
        route = next(
            ((lbl, m.groupdict(), h) for mm, lbl, rx, h in ROUTES if mm == method and (m := rx.fullmatch(split.path))),
            None,
        )
        label = route[0] if route else f"{method} {split.path}"
        with self._lock:
            self.request_counts[label] += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        if headers.get("APCA-API-KEY-ID") != self.key_id or headers.get("APCA-API-SECRET-KEY") != self.secret_key:
            return self._error(401, 40110000, "request is not authorized")
        storm_headers = self._storm_headers()
        allowed, rl_headers = (False, storm_headers) if storm_headers is not None else self.rate_limit.take()
        if not allowed:
            with self._lock:
                self.rate_limited[label] += 1
            return self._error(429, 42910000, "rate limit exceeded", rl_headers)
        with self._lock:
            injected = next((e for e in self.injected if e.route in (None, label)), None)
            if injected is not None and injected.skip > 0:
                injected.skip -= 1
                injected = None
            elif injected is not None:
                self.injected.remove(injected)
        if injected is not None:
            return self._error(injected.status, injected.code, injected.message, rl_headers)
        if route is None:
            return self._error(404, 40410000, "endpoint not found", rl_headers)
        try:
            payload = json.loads(body) if body else None
            status, result = route[2](self.account, route[1], query, payload)
        except ApiError as exc:
            return self._error(exc.status, exc.code, exc.message, rl_headers)
        except (ValueError, KeyError) as exc:
            return self._error(422, 40010000, f"invalid request: {exc}", rl_headers)
        data = b"" if status == 204 else json.dumps(result).encode()
        return status, {"Content-Type": "application/json", **rl_headers}, data

    @staticmethod
    def _error(
        status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        body = json.dumps({"code": code, "message": message}).encode()
        return status, {"Content-Type": "application/json", **(headers or {})}, body


def make_http_server(gateway: RestGateway) -> ThreadingHTTPServer:
    """Bind 127.0.0.1 on an OS-chosen port; call ``serve_forever`` in a thread."""

    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as requests' pooled session expects

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, data = gateway.handle(self.command, self.path, self.headers, body)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data:
                self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    return server
