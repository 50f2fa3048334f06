"""A local SnapTrade on 127.0.0.1: the SDK's endpoints, answering with the SDK's own response shapes, as strict as
SnapTrade about who may ask.

Every request is checked the way SnapTrade documents it (docs.snaptrade.com, "Request Signatures"):
- ``clientId`` in the query names the partner; an unknown one is 401 "Invalid clientId provided";
- ``timestamp`` (Unix seconds) must be present and recent, else 401 "Invalid timestamp" (SnapTrade documents no
  window; five minutes either way here);
- the ``Signature`` header is the Base64 HMAC-SHA256, under the partner's consumer key, of the canonical JSON
  ``{"content": <body or null>, "path": <path>, "query": <the raw query string>}`` (keys sorted, no spaces):
  anything else is 401 code 1076 "Unable to verify signature sent";
- user endpoints need ``userId`` and ``userSecret`` in the query; a wrong pair is 401 code 1083 "Invalid userID or
  userSecret provided", and one user's account ids are 404 to another.

Errors are SnapTrade's JSON: ``{"detail", "status_code", "code"}``. ``fail(...)`` makes chosen paths answer an error
(a 500, a disabled connection's 3003, a 429) for the next N calls; ``hang`` makes a path wait before answering (a
deadline test). ``requests`` records what came in (path, query, body) for the tests to assert on.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

CLIENT_ID = "STRATFORGE-TEST"
CONSUMER_KEY = "consumer-key-for-the-stand-in-only-0123456789"
TIMESTAMP_SLACK_S = 300


def error(status: int, detail: str, code: str | None = None) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"detail": detail, "status_code": status}
    if code is not None:
        body["code"] = code
    return status, body


BAD_SIGNATURE = error(401, "Unable to verify signature sent", "1076")
BAD_USER = error(401, "Invalid userID or userSecret provided", "1083")
NO_USER_PARAMS = error(401, "Please provide clientId, userId and userSecret in query params")
BAD_CLIENT = error(401, "Invalid clientId provided")
BAD_TIMESTAMP = error(401, "Invalid timestamp")
NOT_FOUND = error(404, "Not found.")
DISABLED = error(403, "Connection is disabled and can no longer sync; reconnect it.", "3003")
SERVER_ERROR = error(500, "Encountered an unexpected exception.", "1000")


def signature(consumer_key: str, path: str, query: str, content: Any) -> str:
    """What SnapTrade expects in ``Signature`` (its documented algorithm, written here independently of the SDK)."""
    canonical = json.dumps({"content": content, "path": path, "query": query}, separators=(",", ":"), sort_keys=True)
    return base64.b64encode(hmac.new(consumer_key.encode(), canonical.encode(), hashlib.sha256).digest()).decode()


@dataclass
class Brokerage:
    """One brokerage login of a user (a connection / brokerage authorization) with its accounts."""

    name: str
    slug: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    disabled: bool = False
    accounts: list[str] = field(default_factory=list)


@dataclass
class Account:
    id: str
    connection: Brokerage
    name: str
    number: str
    positions: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)  # newest first, as SnapTrade returns them


@dataclass
class User:
    user_id: str
    secret: str
    connections: list[Brokerage] = field(default_factory=list)
    accounts: dict[str, Account] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


class SnapTradeStandIn:
    def __init__(self, client_id: str = CLIENT_ID, consumer_key: str = CONSUMER_KEY) -> None:
        self.client_id = client_id
        self.consumer_key = consumer_key
        self.users: dict[str, User] = {}
        self.requests: list[Seen] = []
        self.failures: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.hang: dict[str, float] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="snaptrade-standin", daemon=True)
        self._released = threading.Event()

    # --- lifecycle ---
    def start(self) -> SnapTradeStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def reset(self) -> None:
        with self._lock:
            self.users.clear()
            self.requests.clear()
            self.failures.clear()
            self.hang.clear()
            self._released.set()  # a handler still holding a previous test's hang lets go now
            self._released = threading.Event()

    # --- the test's hand on SnapTrade's side ---
    def fail(self, path_prefix: str, answer: tuple[int, dict[str, Any]], times: int = 1) -> None:
        with self._lock:
            self.failures.setdefault(path_prefix, []).extend([answer] * times)

    def user(self, user_id: str) -> User:
        return self.users[user_id]

    def connect_brokerage(self, user_id: str, name: str = "Questrade", slug: str = "QUESTRADE") -> Brokerage:
        """What the trader does in the portal: a brokerage login with one account."""
        with self._lock:
            owner = self.users[user_id]
            brokerage = Brokerage(name, slug)
            owner.connections.append(brokerage)
            account = Account(str(uuid.uuid4()), brokerage, f"{name} Margin", f"****{secrets.randbelow(9000) + 1000}")
            brokerage.accounts.append(account.id)
            owner.accounts[account.id] = account
            return brokerage

    def account_of(self, brokerage: Brokerage) -> Account:
        for owner in self.users.values():
            for account in owner.accounts.values():
                if account.connection is brokerage:
                    return account
        raise KeyError(brokerage.id)

    def requests_to(self, path_prefix: str) -> Iterator[Seen]:
        return (seen for seen in list(self.requests) if seen.path.startswith(path_prefix))

    # --- HTTP ---
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body = standin._answer(method, self.path, raw, self.headers.get("Signature"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "30")
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (a deadline)
                    self.wfile.write(data)

        return Handler

    def _answer(self, method: str, target: str, raw: bytes, sent_signature: str | None) -> tuple[int, Any]:
        path, _, query = target.partition("?")
        params = parse_qs(query, keep_blank_values=True)
        try:
            content = json.loads(raw) if raw else None
        except ValueError:
            return error(400, "JSON parse error")
        self.requests.append(Seen(method, path, params, content))
        released = self._released
        for prefix, delay in list(self.hang.items()):
            if path.startswith(prefix):
                released.wait(delay)
        if params.get("clientId", [""])[0] != self.client_id:
            return BAD_CLIENT
        stamp = params.get("timestamp", [""])[0]
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > TIMESTAMP_SLACK_S:
            return BAD_TIMESTAMP
        expected = signature(self.consumer_key, path, query, None if content in (None, {}) else content)
        if not sent_signature or not hmac.compare_digest(sent_signature, expected):
            return BAD_SIGNATURE
        with self._lock:
            for prefix, queued in self.failures.items():
                if path.startswith(prefix) and queued:
                    return queued.pop(0)
        if method == "POST" and path == "/snapTrade/registerUser":
            return self._register(content)
        if method == "DELETE" and path == "/snapTrade/deleteUser":  # the partner's signature suffices: no secret
            with self._lock:
                gone = self.users.pop(params.get("userId", [""])[0], None)
            if gone is None:
                return NOT_FOUND
            return 200, {"status": "deleted", "detail": "User queued for deletion", "userId": gone.user_id}
        owner, refusal = self._authenticated(params)
        if owner is None:
            assert refusal is not None
            return refusal
        return self._user_endpoint(method, path, params, owner, content)

    def _register(self, content: Any) -> tuple[int, Any]:
        user_id = content.get("userId") if isinstance(content, dict) else None
        if not isinstance(user_id, str) or not user_id.strip():
            return error(400, "userId is required")
        with self._lock:
            if user_id in self.users:
                return error(400, "User already exist")
            secret = str(uuid.uuid4())
            self.users[user_id] = User(user_id, secret)
        return 200, {"userId": user_id, "userSecret": secret}

    def _authenticated(self, params: dict[str, list[str]]) -> tuple[User | None, tuple[int, Any] | None]:
        user_id, secret = params.get("userId", [""])[0], params.get("userSecret", [""])[0]
        if not user_id or not secret:
            return None, NO_USER_PARAMS
        owner = self.users.get(user_id)
        if owner is None or not hmac.compare_digest(owner.secret, secret):
            return None, BAD_USER
        return owner, None

    def _user_endpoint(self, method: str, path: str, params: dict[str, list[str]], owner: User,
                       content: Any) -> tuple[int, Any]:  # fmt: skip
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/snapTrade/login":
            token = secrets.token_urlsafe(16)
            return 200, {
                "redirectURI": f"https://app.snaptrade.com/snapTrade/redeemToken?token={token}&clientId={self.client_id}",
                "sessionId": str(uuid.uuid4()),
            }
        if method == "GET" and path == "/authorizations":
            return 200, [_authorization(b) for b in owner.connections]
        if method == "GET" and path == "/accounts/all":
            return 200, {"results": [_account(a) for a in owner.accounts.values()]}
        if method == "GET" and len(parts) >= 3 and parts[0] == "accounts":
            account = owner.accounts.get(parts[1])
            if account is None:
                return NOT_FOUND  # another user's account is as unknown as a missing one
            if parts[2:] == ["positions", "all"]:
                return 200, {"results": account.positions, "data_freshness": {"as_of": _now()}}
            if parts[2:] == ["activities"]:
                return _activities(account, params)
        return NOT_FOUND


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _brokerage(b: Brokerage) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, b.slug)), "slug": b.slug, "name": b.name, "display_name": b.name,
        "description": f"{b.name} brokerage", "aws_s3_logo_url": "https://example.invalid/logo.png",
        "aws_s3_square_logo_url": None, "url": None, "enabled": True, "maintenance_mode": False,
        "is_degraded": False, "allows_trading": True, "allows_fractional_units": True, "has_reporting": True,
        "is_real_time_connection": False, "brokerage_type": {"id": str(uuid.uuid4()), "name": "Traditional Brokerage"},
        "exchanges": [], "open_url": None,
    }  # fmt: skip


def _authorization(b: Brokerage) -> dict[str, Any]:
    return {
        "id": b.id, "created_date": "2026-01-05T15:00:00.000Z", "brokerage": _brokerage(b),
        "name": f"Connection-{b.slug}", "type": "read", "disabled": b.disabled,
        "disabled_date": "2026-03-01T00:00:00.000Z" if b.disabled else None, "meta": {},
        "updated_date": "2026-01-05T15:00:00.000Z", "is_eligible_for_payout": False,
    }  # fmt: skip


def _account(a: Account) -> dict[str, Any]:
    """An ``InvestmentAccount`` of ``/accounts/all`` (the ``kind``-discriminated list)."""
    synced = "2026-03-03T12:00:00.000Z"
    return {
        "kind": "investment", "id": a.id, "connection_id": a.connection.id, "masked_account_number": a.number,
        "sync_status": {
            "transactions": {"initial_sync_completed": True, "last_successful_sync": "2026-03-03",
                             "first_transaction_date": "2026-01-02"},
            "orders": synced, "positions": synced, "balances": synced,
        },
        "is_paper": False, "display_name": a.name, "institution_account_id": None,
        "institution_id": str(uuid.uuid5(uuid.NAMESPACE_URL, a.connection.slug)), "opening_date": None,
        "funding_date": None, "raw_type": "Margin", "cash_or_margin": "margin",
        "net_value": {"amount": 15363.23, "currency": "USD"},
    }  # fmt: skip


def _activities(account: Account, params: dict[str, list[str]]) -> tuple[int, Any]:
    try:
        offset = int(params.get("offset", ["0"])[0])
        limit = int(params.get("limit", ["1000"])[0])
    except ValueError:
        return error(400, "offset and limit must be integers")
    if offset < 0 or limit < 1:  # the SDK's schema: offset >= 0, limit >= 1
        return error(400, "offset must be >= 0 and limit at least 1")
    limit = min(limit, 1000)  # "a maximum of 1000 transactions per request"
    start = params.get("startDate", [""])[0]
    rows = [r for r in account.activities if not start or (r.get("trade_date") or "")[:10] >= start]
    page = rows[offset : offset + limit]
    return 200, {"data": page, "pagination": {"offset": offset, "limit": limit, "total": len(rows)}}


def activity(kind: str, *, symbol: str | None = "AAPL", units: float = 10, price: float = 187.5, fee: float = 0,
             when: str = "2026-03-02T15:00:00.000Z", activity_id: str | None = None,
             amount: float | None = None) -> dict[str, Any]:  # fmt: skip
    """One transaction as SnapTrade's ``AccountUniversalActivity`` gives it."""
    sym = None if symbol is None else {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)), "symbol": symbol, "raw_symbol": symbol,
        "description": f"{symbol} Inc.", "currency": {"id": str(uuid.uuid4()), "code": "USD", "name": "US Dollar"},
        "exchange": {"id": str(uuid.uuid4()), "code": "NASDAQ", "mic_code": "XNAS", "name": "Nasdaq",
                     "timezone": "America/New_York", "start_time": "09:30:00", "close_time": "16:00:00",
                     "suffix": None},
        "type": {"id": str(uuid.uuid4()), "code": "cs", "description": "Common Stock", "is_supported": True},
        "figi_code": None, "figi_instrument": None,
    }  # fmt: skip
    return {
        "id": activity_id or str(uuid.uuid4()), "symbol": sym, "currency_universal_symbol": None,
        "option_symbol": None, "price": float(price), "units": float(units),
        "amount": float(amount if amount is not None else (-units * price if kind == "BUY" else units * price)),
        "currency": {"id": str(uuid.uuid4()), "code": "USD", "name": "US Dollar"}, "type": kind, "option_type": "",
        "description": f"{kind} {symbol or ''}".strip(), "trade_date": when, "settlement_date": when, "fee": float(fee),
        "fx_rate": None, "institution": "Questrade", "external_reference_id": None,
    }  # fmt: skip


def position(symbol: str, units: str, price: str, cost_basis: str) -> dict[str, Any]:
    """One holding as SnapTrade's ``AccountPosition`` (``/positions/all``) gives it."""
    return {
        "instrument": {"kind": "stock", "id": str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)), "symbol": symbol,
                       "raw_symbol": symbol, "description": f"{symbol} Inc.", "currency": "USD", "exchange": "XNAS",
                       "figi_instrument": None},
        "units": units, "price": price, "cost_basis": cost_basis, "currency": "USD", "cash_equivalent": False,
    }  # fmt: skip
