"""A strict local stand-in for ICICI Direct's Breeze API, reached by the real breeze_connect through an HTTPS proxy.

breeze_connect's addresses are module constants (``https://api.icicidirect.com/breezeapi/api/v1/``,
``https://directlink.icicidirect.com/.../SecurityMaster.zip``), so the stand-in does not ask the SDK to go
elsewhere: it is an HTTPS proxy on 127.0.0.1 that accepts CONNECT to ICICI's hosts only, terminates TLS with a
certificate from a test CA (``tls.make_certificates``) and answers as ICICI does. The broker host is started with
HTTPS_PROXY pointing here and SSL_CERT_FILE / REQUESTS_CA_BUNDLE naming the CA; nothing else leaves the machine
(any other host gets 403 from the proxy).

Strict like the real API, per the Breeze documentation and the SDK's own expectations:
- every call but ``customerdetails`` carries X-AppKey, X-Timestamp (within 60 s), X-SessionToken (base64 of
  ``user_id:session_key``) and X-Checksum = ``"token " + sha256(timestamp + body + secret)``; a wrong checksum is
  ``{"Status": 5, "Error": "Authentication Fail :: Invalid Checksum."}``, a session ended by the day's reset is
  ``Session key is expired.``;
- ``customerdetails`` answers an unknown API session with ``Invalid session.`` and an expired one with
  ``Resource not available.`` (the texts the SDK itself tests for);
- orders: delivery (``cash``) only (ICICI prohibits Margin and Option Plus orders through the API), a known stock
  code on that exchange, quantity a whole number of lots, prices on the tick grid, enough
  funds for a buy, ``user_remark`` alphanumeric and at most 20 characters; a completed order cannot be modified or
  cancelled; an empty book is ``No Data Found``;
- 100 calls a minute per app key (Breeze's documented limit; settable for tests), refused with HTTP 429.
Levers: ``execute`` (fill part or all of an open order), ``expire_sessions``, ``issue_api_session`` (what the
browser log-in returns), ``cut`` (the network fails for a moment) and ``redeliver`` (the socket.io order channel
sends an update again, see ``notifications``).

Where the shapes come from: the checksum, headers and session exchange from the SDK's source and ICICI's Breeze
documentation; ``Authentication Fail :: Invalid Checksum.`` from an ICICI support thread (Breeze-Python-SDK #78);
the ``customerdetails`` messages from the texts the SDK tests for; the order, trade and funds fields from the SDK's
documented responses. Assumed, for want of a public sample: the exact wording of order refusals (``Insufficient
Balance``, the tick and lot texts), ``Session key is expired.`` on signed calls and the rate-limit answer; the
adapter matches none of those words except the session and rate-limit ones (``convert.SESSION_ERRORS``,
``convert.RATE_ERRORS``), and passes the rest to the trader verbatim.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import itertools
import json
import socket
import socketserver
import ssl
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from tests.adapters.icici.tls import ICICI_HOSTS, TestCertificates, make_certificates

IST = ZoneInfo("Asia/Kolkata")
API_PREFIX = "/breezeapi/api/v1/"
MASTER_PATH = "/MotherAppMaster/SecurityMaster.zip"
TIMESTAMP_SKEW_S = 60
NO_DATA = "No Data Found"


@dataclass
class Scrip:
    exchange: str  # "NSE" | "BSE"
    stock_code: str  # ICICI's code, e.g. "INFTEC"
    exchange_symbol: str  # "INFY" (NSE) / "500209" (BSE scrip code)
    name: str
    tick_paise: int = 5
    lot: int = 1
    ltp: Decimal = Decimal("1500.00")
    series: str = "EQ"


@dataclass
class Order:
    order_id: str
    exchange_code: str
    stock_code: str
    product: str
    action: str  # "Buy" | "Sell"
    order_type: str  # "Limit" | "Market" | "StopLoss"
    quantity: int
    price: Decimal
    stoploss: Decimal
    validity: str  # "Day" | "IoC" | "VTC"
    user_remark: str
    placed_at: datetime
    status: str = "Ordered"
    executed: int = 0
    cancelled: int = 0
    value: Decimal = Decimal("0")  # sum of qty * price over executions
    modifications: int = 0

    @property
    def pending(self) -> int:
        return self.quantity - self.executed - self.cancelled

    @property
    def average(self) -> Decimal:
        return (self.value / self.executed).quantize(Decimal("0.01")) if self.executed else Decimal("0")

    @property
    def is_open(self) -> bool:
        return self.status in ("Ordered", "Requested", "Partially Executed")


@dataclass
class Trade:
    trade_id: str
    exchange_trade_id: str
    order_id: str
    quantity: int
    price: Decimal
    at: datetime


@dataclass
class BreezeState:
    api_key: str = "STANDIN-KEY"
    api_secret: str = "standin-secret-1234"
    user_id: str = "TESTUSER"
    scrips: list[Scrip] = field(
        default_factory=lambda: [
            Scrip("NSE", "INFTEC", "INFY", "INFOSYS LIMITED", 5, 1, Decimal("1500.00")),
            Scrip("NSE", "RELIND", "RELIANCE", "RELIANCE INDUSTRIES LTD", 10, 1, Decimal("2900.00")),
            Scrip("NSE", "NIFBEE", "NIFTYBEES", "NIPPON INDIA ETF NIFTY BEES", 1, 1, Decimal("270.00")),
            Scrip("BSE", "INFTEC", "500209", "INFOSYS LTD", 5, 1, Decimal("1500.10"), series="A"),
        ]
    )
    cash: Decimal = Decimal("1000000.00")
    holdings: list[dict[str, Any]] = field(default_factory=list)
    positions: list[dict[str, Any]] = field(default_factory=list)
    rate_limit_per_minute: int = 100


class BreezeStandIn:
    """The stand-in's state and levers; ``proxy_url`` / ``ca_file`` / ``host_env()`` are what the host needs."""

    def __init__(self, folder: Path, state: BreezeState | None = None, *, notifications: bool = True) -> None:
        self.state = state or BreezeState()
        self.certificates: TestCertificates = make_certificates(folder / "tls")
        self._lock = threading.RLock()
        self._orders: dict[str, Order] = {}
        self._trades: list[Trade] = []
        self._ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._api_sessions: dict[str, str] = {}  # API session (from the browser log-in) -> session key
        self._session_keys: set[str] = set()
        self._expired: set[str] = set()
        self._calls: list[float] = []
        self._cut_until = 0.0
        self._closing = threading.Event()
        self.requests: list[tuple[str, str, str]] = []  # (host, method, path), for tests
        self.master_downloads = 0
        self.master_available = True  # False: directlink answers 503 (the security master cannot be had)
        self.hang_paths: set[str] = set()  # "METHOD endpoint" answered never (a timeout test)
        self._server = _ProxyServer(self)
        self._thread = threading.Thread(target=self._server.serve_forever, name="icici-standin", daemon=True)
        self.notifications: Any = None  # the socket.io side (notifications.py)
        if notifications:
            self.start_notifications()

    # --- lifecycle ---------------------------------------------------------------------------------------------
    def __enter__(self) -> BreezeStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def proxy_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def host_env(self) -> dict[str, str]:
        """The environment the broker host runs with: every HTTPS client through the proxy, the test CA trusted."""
        ca = str(self.certificates.ca_file)
        proxies = {name: self.proxy_url for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")}
        return proxies | {
            "ALL_PROXY": self.proxy_url,
            "all_proxy": self.proxy_url,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "SSL_CERT_FILE": ca,
            "REQUESTS_CA_BUNDLE": ca,
            "WEBSOCKET_CLIENT_CA_BUNDLE": ca,
        }

    # --- levers ------------------------------------------------------------------------------------------------
    def issue_api_session(self) -> str:
        """What ICICI's log-in page hands the app's redirect URL (``?apisession=...``) after the trader signs in."""
        with self._lock:
            api_session = f"{next(self._ids):08d}"
            self._api_sessions[api_session] = hashlib.sha256(f"sk{api_session}".encode()).hexdigest()[:16]
            return api_session

    def session_keys(self) -> list[str]:
        """Every session key and API session issued (the secrets a log file must never hold)."""
        with self._lock:
            return [*self._session_keys, *self._api_sessions.values()]

    def expire_sessions(self) -> None:
        """The morning reset: every session key and API session issued so far stops working."""
        with self._lock:
            self._expired |= self._session_keys | set(self._api_sessions)

    def order(self, order_id: str) -> Order:
        with self._lock:
            return self._orders[order_id]

    def orders(self) -> list[Order]:
        with self._lock:
            return list(self._orders.values())

    def execute(self, order_id: str, quantity: int, price: Decimal) -> Trade:
        """The exchange fills ``quantity`` more of an open order at ``price``."""
        with self._lock:
            order = self._orders[order_id]
            if not order.is_open or quantity > order.pending:
                raise ValueError(f"order {order_id} cannot fill {quantity} (status {order.status})")
            order.executed += quantity
            order.value += price * quantity
            order.status = "Executed" if order.pending == 0 else "Partially Executed"
            trade_no = next(self._trade_ids)
            trade = Trade(f"{trade_no:04d}", f"{50280000 + trade_no}", order_id, quantity, price, _now())
            self._trades.append(trade)
            self.state.cash += (-1 if order.action == "Buy" else 1) * price * quantity
        self._notify(order)
        return trade

    def start_notifications(self) -> None:
        from tests.adapters.icici.notifications import NotificationServer

        self.notifications = NotificationServer(self)

    def accepts_stream_auth(self, user: str, session_key: str) -> bool:
        """The socket.io auth: the user id and the day's session key (not the API session)."""
        with self._lock:
            return user == self.state.user_id and session_key in self._session_keys and session_key not in self._expired

    def cut(self, seconds: float = 0.5) -> None:
        """The network between the host and ICICI fails for ``seconds``: every connection is dropped unanswered."""
        with self._lock:
            self._cut_until = time.monotonic() + seconds
        if self.notifications is not None:
            self.notifications.drop_all()

    def is_cut(self) -> bool:
        with self._lock:
            return time.monotonic() < self._cut_until

    def redeliver(self, order_id: str) -> None:
        self._notify(self.order(order_id))

    def _notify(self, order: Order) -> None:
        if self.notifications is not None:
            self.notifications.push(order)

    # --- the API -----------------------------------------------------------------------------------------------
    def handle(self, host: str, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, str]:
        self.requests.append((host, method, path))
        if host == "directlink.icicidirect.com" and path == MASTER_PATH and method == "GET":
            if not self.master_available:
                return 503, b"Service Unavailable", "text/plain"
            self.master_downloads += 1
            return 200, self.security_master(), "application/zip"
        if host == "api.icicidirect.com" and path.startswith("/apiuser/login"):
            return 200, b"<html><body>ICICI Direct log-in (stand-in)</body></html>", "text/html"
        if host != "api.icicidirect.com" or not path.startswith(API_PREFIX):
            return 404, b"Not Found", "text/plain"
        endpoint = path[len(API_PREFIX) :].split("?")[0].lower()
        if f"{method} {endpoint}" in self.hang_paths:
            self._closing.wait(30)  # never answered (until the stand-in stops)
        if not self._within_rate_limit():
            return (
                429,
                _json({"Success": None, "Status": 429, "Error": "Rate limit exceeded. Please try after some time."}),
                "application/json",
            )
        text = body.decode("utf-8") if body else ""
        try:
            payload = json.loads(text) if text else {}
        except json.JSONDecodeError:
            return 200, _json(_error("Invalid JSON in request body.")), "application/json"
        if endpoint == "customerdetails" and method == "GET":
            return 200, _json(self._customer_details(payload)), "application/json"
        refusal = self._authenticate(headers, text)
        if refusal is not None:
            return 200, _json(refusal), "application/json"
        route: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]] = {
            ("POST", "order"): self._place,
            ("GET", "order"): self._get_orders,
            ("PUT", "order"): self._modify,
            ("DELETE", "order"): self._cancel,
            ("GET", "trades"): self._get_trades,
            ("GET", "funds"): self._funds,
            ("GET", "portfoliopositions"): self._positions,
            ("GET", "portfolioholdings"): lambda _: (
                _ok(self.state.holdings) if self.state.holdings else _error(NO_DATA)
            ),
            ("GET", "quotes"): self._quotes,
        }
        handler = route.get((method, endpoint))
        if handler is None:
            return (
                404,
                _json({"Message": "No HTTP resource was found that matches the request URI."}),
                "application/json",
            )
        with self._lock:
            return 200, _json(handler(payload)), "application/json"

    def _within_rate_limit(self) -> bool:
        now = time.monotonic()
        with self._lock:
            self._calls = [t for t in self._calls if now - t < 60]
            if len(self._calls) >= self.state.rate_limit_per_minute:
                return False
            self._calls.append(now)
            return True

    def _customer_details(self, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("AppKey") != self.state.api_key:
            return _error("Public Key does not exist.")
        api_session = str(payload.get("SessionToken", ""))
        with self._lock:
            if api_session in self._expired:
                return _error("Resource not available.")
            session_key = self._api_sessions.get(api_session)
            if session_key is None:
                return _error("Invalid session.")
            self._session_keys.add(session_key)
        token = base64.b64encode(f"{self.state.user_id}:{session_key}".encode()).decode()
        return _ok(
            {
                "exg_trade_date": {
                    "NSE": _now().astimezone(IST).strftime("%d-%b-%Y"),
                    "BSE": _now().astimezone(IST).strftime("%d-%b-%Y"),
                },
                "exg_status": {"NSE": "O", "BSE": "O", "FNO": "O"},
                "segments_allowed": {"Trading": "Y", "Equity": "Y", "Derivatives": "Y", "Currency": "N"},
                "idirect_userid": self.state.user_id,
                "session_token": token,
                "idirect_user_name": "STANDIN TRADER",
                "idirect_ORD_TYP": "N",
                "idirect_lastlogin_time": _now().astimezone(IST).strftime("%d-%b-%Y %H:%M:%S"),
                "mf_holding_mode_popup_flg": "N",
                "commodity_exchange_status": "N",
                "commodity_trade_date": _now().astimezone(IST).strftime("%d-%b-%Y"),
                "commodity_allowed": "C",
            }
        )

    def _authenticate(self, headers: dict[str, str], body: str) -> dict[str, Any] | None:
        lower = {k.lower(): v for k, v in headers.items()}
        if lower.get("x-appkey") != self.state.api_key:
            return {"Success": None, "Status": 5, "Error": "Authentication Fail :: Invalid AppKey."}
        stamp = lower.get("x-timestamp", "")
        try:
            when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=UTC)
        except ValueError:
            return {"Success": None, "Status": 5, "Error": "Authentication Fail :: Invalid Timestamp."}
        if abs((_now() - when).total_seconds()) > TIMESTAMP_SKEW_S:
            return {"Success": None, "Status": 5, "Error": "Authentication Fail :: Request Expired."}
        expected = "token " + hashlib.sha256((stamp + body + self.state.api_secret).encode()).hexdigest()
        if lower.get("x-checksum") != expected:
            return {"Success": None, "Status": 5, "Error": "Authentication Fail :: Invalid Checksum."}
        try:
            user, _, session_key = base64.b64decode(lower.get("x-sessiontoken", "")).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user, session_key = "", ""
        with self._lock:
            if user != self.state.user_id or session_key not in self._session_keys:
                return _error("Invalid User Details", status=401)
            if session_key in self._expired:
                return _error("Session key is expired.", status=401)
        return None

    def _scrip(self, exchange: str, stock_code: str) -> Scrip | None:
        for scrip in self.state.scrips:
            if scrip.exchange == exchange.upper() and scrip.stock_code == stock_code.upper():
                return scrip
        return None

    def _place(self, p: dict[str, Any]) -> dict[str, Any]:
        exchange = str(p.get("exchange_code", "")).upper()
        if exchange not in ("NSE", "BSE"):
            return _error("Invalid Exchange Code")
        scrip = self._scrip(exchange, str(p.get("stock_code", "")))
        if scrip is None:
            return _error("Invalid Stock Code")
        product = str(p.get("product", "")).lower()
        if product in ("margin", "optionplus"):
            return _error("Placement of Margin and Option Plus orders via API is not allowed")
        if product not in ("cash", "margin"):
            return _error("Invalid Product Type")
        action = str(p.get("action", "")).lower()
        if action not in ("buy", "sell"):
            return _error("Invalid Action")
        order_type = str(p.get("order_type", "")).lower()
        if order_type not in ("limit", "market", "stoploss"):
            return _error("Invalid Order Type")
        validity = str(p.get("validity", "")).lower()
        if validity not in ("day", "ioc", "vtc"):
            return _error("Invalid Validity")
        remark = str(p.get("user_remark", "") or "")
        if len(remark) > 20 or (not remark.isalnum() and remark):
            return _error("User remark should be alphanumeric and of maximum 20 characters")
        quantity = _int(p.get("quantity"))
        if quantity is None or quantity <= 0:
            return _error("Invalid Quantity")
        if quantity % scrip.lot:
            return _error(f"Quantity should be in multiples of lot size {scrip.lot}")
        tick = Decimal(scrip.tick_paise) / 100
        price = _price(p.get("price"))
        stoploss = _price(p.get("stoploss"))
        if order_type in ("limit",) and (price is None or price <= 0):
            return _error("Invalid Price")
        for value in (price, stoploss):
            if value is not None and value > 0 and value % tick:
                return _error(f"Price should be in multiple of tick size {tick}")
        if order_type == "stoploss" and (stoploss is None or stoploss <= 0):
            return _error("Invalid Stoploss Trigger Price")
        cost = (price or stoploss or scrip.ltp) * quantity
        if action == "buy" and cost > self.state.cash:
            return _error("Insufficient Balance")
        if action == "sell" and product == "cash" and quantity > self._sellable(scrip):
            return _error("Insufficient holding quantity for sell order")
        order_id = f"{_now().astimezone(IST):%Y%m%d}{'N' if exchange == 'NSE' else 'B'}{next(self._ids):09d}"
        self._orders[order_id] = Order(
            order_id=order_id,
            exchange_code=exchange,
            stock_code=scrip.stock_code,
            product="Cash" if product == "cash" else "Margin",
            action=action.capitalize(),
            order_type={"limit": "Limit", "market": "Market", "stoploss": "StopLoss"}[order_type],
            quantity=quantity,
            price=price or Decimal("0"),
            stoploss=stoploss or Decimal("0"),
            validity={"day": "Day", "ioc": "IoC", "vtc": "VTC"}[validity],
            user_remark=remark,
            placed_at=_now(),
        )
        return _ok({"order_id": order_id, "message": "Successfully Placed the order", "user_remark": remark})

    def _sellable(self, scrip: Scrip) -> int:
        """Delivery shares a cash sell may use: holdings and today's bought shares, less what other sells hold."""
        held = sum(int(h["quantity"]) for h in self.state.holdings if h.get("stock_code") == scrip.stock_code)
        for o in self._orders.values():
            if o.stock_code == scrip.stock_code and o.product == "Cash":
                held += o.executed if o.action == "Buy" else -(o.executed + (o.pending if o.is_open else 0))
        return held

    def _get_orders(self, p: dict[str, Any]) -> dict[str, Any]:
        exchange = str(p.get("exchange_code", "")).upper()
        if "order_id" in p:
            order = self._orders.get(str(p["order_id"]))
            if order is None or order.exchange_code != exchange:
                return _error(NO_DATA)
            return _ok([_order_json(order)])
        if not p.get("from_date") or not p.get("to_date"):
            return _error("From date and To date are mandatory")
        listed = [_order_json(o) for o in self._orders.values() if o.exchange_code == exchange]
        return _ok(listed) if listed else _error(NO_DATA)

    def _modify(self, p: dict[str, Any]) -> dict[str, Any]:
        order = self._orders.get(str(p.get("order_id", "")))
        if order is None or order.exchange_code != str(p.get("exchange_code", "")).upper():
            return _error(NO_DATA)
        if not order.is_open:
            return _error(f"Order cannot be modified as it is already {order.status}")
        scrip = self._scrip(order.exchange_code, order.stock_code)
        assert scrip is not None
        tick = Decimal(scrip.tick_paise) / 100
        quantity = _int(p.get("quantity")) if p.get("quantity") not in (None, "") else order.quantity
        if quantity is None or quantity <= order.executed or quantity % scrip.lot:
            return _error("Invalid Quantity")
        price = _price(p.get("price")) if p.get("price") not in (None, "") else order.price
        stoploss = _price(p.get("stoploss")) if p.get("stoploss") not in (None, "") else order.stoploss
        for value in (price, stoploss):
            if value is None or value < 0 or (value and value % tick):
                return _error(f"Price should be in multiple of tick size {tick}")
        order.quantity, order.price, order.stoploss = quantity, price or Decimal("0"), stoploss or Decimal("0")
        order.modifications += 1
        return _ok({"message": "Successfully Modified the order", "order_id": order.order_id})

    def _cancel(self, p: dict[str, Any]) -> dict[str, Any]:
        order = self._orders.get(str(p.get("order_id", "")))
        if order is None or order.exchange_code != str(p.get("exchange_code", "")).upper():
            return _error(NO_DATA)
        if not order.is_open:
            return _error(f"Order cannot be cancelled as it is already {order.status}")
        order.cancelled = order.pending
        order.status = "Cancelled"
        self._notify(order)
        return _ok({"order_id": order.order_id, "message": "Your Order Canceled Successfully"})

    def _get_trades(self, p: dict[str, Any]) -> dict[str, Any]:
        exchange = str(p.get("exchange_code", "")).upper()
        if "order_id" in p:
            order = self._orders.get(str(p["order_id"]))
            trades = [t for t in self._trades if order is not None and t.order_id == order.order_id]
            if not trades or order is None or order.exchange_code != exchange:
                return _error(NO_DATA)
            return _ok([_trade_detail_json(order, t) for t in trades])
        per_order = [o for o in self._orders.values() if o.exchange_code == exchange and o.executed]
        return _ok([_trade_list_json(o) for o in per_order]) if per_order else _error(NO_DATA)

    def _positions(self, _: dict[str, Any]) -> dict[str, Any]:
        """The day's net positions: what today's executions changed, per stock and product, plus any set up."""
        net: dict[tuple[str, str, str], list[Decimal]] = {}
        for o in self._orders.values():
            if o.executed:
                entry = net.setdefault((o.exchange_code, o.stock_code, o.product), [Decimal(0), Decimal(0), Decimal(0)])
                sign = 1 if o.action == "Buy" else -1
                entry[0] += sign * o.executed
                if sign > 0:
                    entry[1] += o.executed
                    entry[2] += o.value
        rows = list(self.state.positions)
        for (exchange, stock, product), (qty, bought, cost) in net.items():
            if qty == 0:
                continue
            scrip = self._scrip(exchange, stock)
            rows.append(
                {
                    "segment": "equity",
                    "product_type": product,
                    "exchange_code": exchange,
                    "stock_code": stock,
                    "expiry_date": None,
                    "strike_price": None,
                    "right": None,
                    "action": "Buy" if qty > 0 else "Sell",
                    "quantity": str(abs(qty)),
                    "average_price": f"{(cost / bought) if bought else Decimal(0):.2f}",
                    "settlement_id": "2026231",
                    "margin_amount": None,
                    "ltp": f"{scrip.ltp if scrip else Decimal(0):.2f}",
                    "price": "0",
                    "stock_index_indicator": "Stock",
                    "cover_quantity": "0",
                    "stoploss_trigger": "0",
                    "stoploss": None,
                    "take_profit": None,
                    "available_margin": None,
                    "squareoff_mode": None,
                    "mtf_sell_quantity": None,
                    "mtf_net_amount_payable": None,
                    "mtf_expiry_date": None,
                    "order_id": "",
                    "cover_order_flow": None,
                    "cover_order_executed_quantity": None,
                    "pledge_status": None,
                    "pnl": None,
                    "underlying": None,
                    "order_segment_code": None,
                }
            )
        return _ok(rows) if rows else _error(NO_DATA)

    def _funds(self, _: dict[str, Any]) -> dict[str, Any]:
        blocked = sum(
            ((o.price or o.stoploss) * o.pending for o in self._orders.values() if o.is_open and o.action == "Buy"),
            Decimal("0"),
        )
        return _ok(
            {
                "bank_account": "000401000001",
                "total_bank_balance": float(self.state.cash),
                "allocated_equity": float(self.state.cash),
                "allocated_fno": 0.0,
                "allocated_commodity": 0.0,
                "allocated_currency": 0.0,
                "block_by_trade_equity": float(blocked),
                "block_by_trade_fno": 0.0,
                "block_by_trade_commodity": 0.0,
                "block_by_trade_currency": 0.0,
                "block_by_trade_balance": float(blocked),
                "unallocated_balance": "0",
            }
        )

    def _quotes(self, p: dict[str, Any]) -> dict[str, Any]:
        exchange = str(p.get("exchange_code", "")).upper()
        scrip = self._scrip(exchange, str(p.get("stock_code", "")))
        if scrip is None:
            return _error(NO_DATA)
        row = {
            "exchange_code": exchange,
            "product_type": "",
            "stock_code": scrip.stock_code,
            "expiry_date": None,
            "right": None,
            "strike_price": 0.0,
            "ltp": float(scrip.ltp),
            "ltt": _now().astimezone(IST).strftime("%d-%b-%Y %H:%M:%S"),
            "best_bid_price": float(scrip.ltp),
            "best_bid_quantity": "10",
            "best_offer_price": float(scrip.ltp),
            "best_offer_quantity": "10",
            "open": float(scrip.ltp),
            "high": float(scrip.ltp),
            "low": float(scrip.ltp),
            "previous_close": float(scrip.ltp),
            "ltp_percent_change": 0.0,
            "upper_circuit": float(scrip.ltp * Decimal("1.2")),
            "lower_circuit": float(scrip.ltp * Decimal("0.8")),
            "total_quantity_traded": "1000",
            "spot_price": "0",
        }
        # For BSE the API answers the NSE line first and BSE's second (the SDK reads Success[1] for BSE).
        rows = [row | {"exchange_code": "NSE"}, row] if exchange == "BSE" else [row]
        return _ok(rows)

    def security_master(self) -> bytes:
        header = (
            '"Token","ShortName","Series","CompanyName","TickSize","LotSize","DateOfListing","DateOfDeListing",'
            '"IssuePrice","FaceValue","ISINCode","ExchangeCode"'
        )
        files: dict[str, list[str]] = {"NSEScripMaster.txt": [header], "BSEScripMaster.txt": [header]}
        for i, s in enumerate(self.state.scrips):
            token = s.exchange_symbol if s.exchange == "BSE" else str(1594 + i)
            files[f"{s.exchange}ScripMaster.txt"].append(
                f'"{token}","{s.stock_code}","{s.series}","{s.name}","{s.tick_paise}","{s.lot}","08-Feb-1995","",'
                f'"0","5","INE009A01021","{s.exchange_symbol}"'
            )
        files["FONSEScripMaster.txt"] = [
            '"Token","InstrumentName","ShortName","Series","ExpiryDate","StrikePrice","OptionType"',
        ]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, lines in files.items():
                archive.writestr(name, "\r\n".join(lines) + "\r\n")
        return buffer.getvalue()


def _order_json(o: Order) -> dict[str, Any]:
    return {
        "order_id": o.order_id,
        "exchange_order_id": f"1100000000{o.order_id[-6:]}" if o.status != "Requested" else None,
        "exchange_code": o.exchange_code,
        "stock_code": o.stock_code,
        "product_type": o.product,
        "action": o.action,
        "order_type": o.order_type,
        "stoploss": f"{o.stoploss:.2f}",
        "quantity": str(o.quantity),
        "price": f"{o.price:.2f}",
        "validity": o.validity,
        "disclosed_quantity": "0",
        "expiry_date": None,
        "right": None,
        "strike_price": 0.0,
        "average_price": f"{o.average:.2f}",
        "cancelled_quantity": str(o.cancelled),
        "pending_quantity": str(o.pending),
        "status": o.status,
        "user_remark": o.user_remark,
        "order_datetime": o.placed_at.astimezone(IST).strftime("%d-%b-%Y %H:%M"),
        "parent_order_id": None,
        "modification_number": str(o.modifications) if o.modifications else None,
        "exchange_acknowledgement_date": None,
        "SLTP_price": None,
        "exchange_acknowledge_number": None,
        "initial_limit": None,
        "intial_sltp": None,
        "LTP": None,
        "limit_offset": None,
        "mbc_flag": None,
        "cutoff_price": None,
        "validity_date": None,
    }


def _trade_detail_json(o: Order, t: Trade) -> dict[str, Any]:
    return {
        "settlement_id": "2026231",
        "exchange_trade_id": t.exchange_trade_id,
        "executed_quantity": str(t.quantity),
        "action": o.action[0],
        "total_transaction_cost": "0",
        "brokerage_amount": "0",
        "taxes": "0",
        "eatm_withheld_amount": "0",
        "cash_withheld_amount": "0",
        "execution_price": f"{t.price:.2f}",
        "stock_code": o.stock_code,
        "exchange_code": o.exchange_code,
        "trade_id": t.trade_id,
        "exchange_trade_time": t.at.astimezone(IST).strftime("%d-%b-%Y %H:%M:%S"),
    }


def _trade_list_json(o: Order) -> dict[str, Any]:
    return {
        "book_type": "Trade-Book",
        "trade_date": o.placed_at.astimezone(IST).strftime("%d-%b-%Y"),
        "stock_code": o.stock_code,
        "action": o.action,
        "quantity": str(o.executed),
        "average_cost": f"{o.average:.2f}",
        "brokerage_amount": "0.00",
        "product_type": o.product,
        "exchange_code": o.exchange_code,
        "order_id": o.order_id,
        "segment": "N",
        "settlement_code": "2026231",
        "dp_id": None,
        "client_id": None,
        "ltp": "0",
        "eatm_withheld_amount": None,
        "cash_withheld_amount": None,
        "total_taxes": "0.00",
        "order_type": o.order_type,
        "expiry_date": None,
        "right": None,
        "strike_price": None,
    }


def _ok(success: Any) -> dict[str, Any]:
    return {"Success": success, "Status": 200, "Error": None}


def _error(message: str, status: int = 500) -> dict[str, Any]:
    return {"Success": None, "Status": status, "Error": message}


def _json(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


def _now() -> datetime:
    return datetime.now(UTC)


def _int(value: Any) -> int | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return int(number) if number == number.to_integral_value() else None


def _price(value: Any) -> Decimal | None:
    """A price as the API reads it: a number with at most two decimals (the SDK's float noise rounds away)."""
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return None


# --- the HTTPS proxy -----------------------------------------------------------------------------------------------
class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, standin: BreezeStandIn) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.standin = standin
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(standin.certificates.cert_file, standin.certificates.key_file)
        context.set_alpn_protocols(["http/1.1"])
        self.tls = context


class _ProxyHandler(socketserver.StreamRequestHandler):
    """CONNECT to an ICICI host, then TLS with the test certificate, then HTTP as ICICI answers it."""

    server: _ProxyServer

    def handle(self) -> None:
        if self.server.standin.is_cut():
            return  # the connection closes unanswered, as a broken network drops it
        line = self.rfile.readline(4096).decode("latin-1").strip()
        while True:  # the CONNECT request's headers
            header = self.rfile.readline(4096)
            if header in (b"\r\n", b"\n", b""):
                break
        method, _, rest = line.partition(" ")
        target = rest.split(" ")[0]
        host, _, port = target.rpartition(":")
        if method != "CONNECT" or host not in ICICI_HOSTS or port != "443":
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        try:
            tls = self.server.tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            _IciciHandler(tls, self.client_address, self.server, host)
        except (ssl.SSLError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError):
                tls.close()


class _IciciHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer  # type: ignore[assignment]

    def __init__(self, sock: socket.socket, address: Any, server: _ProxyServer, icici_host: str) -> None:
        self.icici_host = icici_host
        super().__init__(sock, address, server)  # type: ignore[arg-type]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        upgrade = (self.headers.get("Upgrade") or "").lower() == "websocket"
        notifications = self.server.standin.notifications
        if upgrade and notifications is not None and self.icici_host in notifications.hosts:
            self.close_connection = True
            notifications.accept(self, self.icici_host)
            return
        status, payload, content_type = self.server.standin.handle(
            self.icici_host, self.command, urlsplit(self.path).path, dict(self.headers.items()), body
        )
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _serve
