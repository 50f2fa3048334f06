"""A strict local stand-in for Angel One's SmartAPI REST service, which the real smartapi-python client talks to.

Shapes follow Angel's documentation (every value a string; ``{"status", "message", "errorcode", "data"}``; an empty
book is ``data: null``), and its refusals use Angel's own codes and texts:

- the gateway: an unknown ``X-PrivateKey`` answers "Invalid API Key" (its code is not in Angel's documented list:
  the stand-in says "AG8004"); a wrong, expired or missing JWT answers
  ``{"success": false, "message": "Invalid Token", "errorCode": "AG8001", "data": ""}`` (HTTP 401); past an API's
  per-second limit (``gate.PER_SECOND``: the order and trade books once a second, ...) it answers HTTP 403 with the
  plain-text body "Access denied because of exceeding access rate" and does nothing;
- every request must say ``X-UserType: USER`` ("AB1005", "User Type Must Be USER" otherwise);
- log-in: wrong client code or PIN "AB1007" ("Login Id or password is invalid", the documentation's example), a
  wrong TOTP "AB1050" ("Invalid totp");
- placing: an unknown variety "AB1008", product "AB1012", a tag of 20 characters or more "AB4008", a symbol token
  the master does not list "AB1009", a trading symbol that does not match the token "AB4006" ("Invalid
  symboltoken"). Like Angel, what the exchange or the RMS refuses (a price off the tick grid, a quantity that is not
  a whole number of lots, a buy beyond the available funds) is accepted with an order id and then shows in the
  order book as ``rejected`` with the reason in ``text``;
- modify/cancel: an unknown order "AB1013" ("Order not found"); an order already complete, cancelled or rejected is
  refused with "AB2000" (Angel documents no dedicated code for it: "Error not specified").

The order-update WebSocket (``stream_root`` + ``/smart-order-update``, a real WebSocket server on 127.0.0.1): the
handshake must carry ``Authorization: Bearer <the session's JWT>`` (HTTP 401 otherwise), a client code has at most
three connections (Angel's documented limit; the fourth is refused with HTTP 429), the first message is the
``"order-status": "AB00"`` acknowledgement, then every change of an order is pushed in Angel's shape
(``user-id``, ``status-code``, ``order-status`` AB01 open .. AB05 complete .., ``error-message``, ``orderData``);
a text "ping" is answered "pong".

Levers for tests: ``execute`` (a fill in the trade book), ``cut_updates`` (the books' reads drop the connection
for a while, as a network failure), ``expire_session``, ``set_delay`` (answers slower than the client's timeout),
``drop_streams`` (the order-update sockets die without a closing handshake, as a network failure).
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from core.adapters.angel import totp
from core.adapters.angel.gate import PER_SECOND
from core.market.india import IST

Json = dict[str, Any]

MASTER: list[Json] = [
    {"token": "1594", "symbol": "INFY-EQ", "name": "INFY", "expiry": "", "strike": "-1.000000", "lotsize": "1",
     "instrumenttype": "", "exch_seg": "NSE", "tick_size": "5.000000"},
    {"token": "3045", "symbol": "SBIN-EQ", "name": "SBIN", "expiry": "", "strike": "-1.000000", "lotsize": "1",
     "instrumenttype": "", "exch_seg": "NSE", "tick_size": "5.000000"},
    {"token": "2885", "symbol": "RELIANCE-EQ", "name": "RELIANCE", "expiry": "", "strike": "-1.000000",
     "lotsize": "1", "instrumenttype": "", "exch_seg": "NSE", "tick_size": "10.000000"},
    {"token": "500209", "symbol": "INFY", "name": "INFY", "expiry": "", "strike": "-1.000000", "lotsize": "1",
     "instrumenttype": "", "exch_seg": "BSE", "tick_size": "5.000000"},
    {"token": "21808", "symbol": "SBIETFQLTY-BE", "name": "SBIETFQLTY", "expiry": "", "strike": "-1.000000",
     "lotsize": "1", "instrumenttype": "", "exch_seg": "NSE", "tick_size": "1.000000"},
    {"token": "543210", "symbol": "ABCSME", "name": "ABCSME", "expiry": "", "strike": "-1.000000", "lotsize": "1200",
     "instrumenttype": "", "exch_seg": "BSE", "tick_size": "1.000000"},
    {"token": "99926000", "symbol": "Nifty 50", "name": "NIFTY", "expiry": "", "strike": "0.000000", "lotsize": "1",
     "instrumenttype": "AMXIDX", "exch_seg": "NSE", "tick_size": "0.000000"},
    {"token": "35003", "symbol": "NIFTY26DEC24000CE", "name": "NIFTY", "expiry": "24DEC2026", "strike":
     "2400000.000000", "lotsize": "75", "instrumenttype": "OPTIDX", "exch_seg": "NFO", "tick_size": "5.000000"},
]  # fmt: skip

ROUTES = {
    ("POST", "/rest/auth/angelbroking/user/v1/loginByPassword"): "login",
    ("GET", "/rest/secure/angelbroking/user/v1/getProfile"): "profile",
    ("POST", "/rest/secure/angelbroking/user/v1/logout"): "logout",
    ("POST", "/rest/secure/angelbroking/order/v1/placeOrder"): "place",
    ("POST", "/rest/secure/angelbroking/order/v1/modifyOrder"): "modify",
    ("POST", "/rest/secure/angelbroking/order/v1/cancelOrder"): "cancel",
    ("GET", "/rest/secure/angelbroking/order/v1/getOrderBook"): "orders",
    ("GET", "/rest/secure/angelbroking/order/v1/getTradeBook"): "trades",
    ("GET", "/rest/secure/angelbroking/user/v1/getRMS"): "rms",
    ("GET", "/rest/secure/angelbroking/order/v1/getPosition"): "positions",
    ("GET", "/rest/secure/angelbroking/portfolio/v1/getHolding"): "holdings",
}
MASTER_PATH = "/OpenAPI_File/files/OpenAPIScripMaster.json"
VARIETIES = {"NORMAL", "STOPLOSS", "AMO", "ROBO"}
PRODUCTS = {"DELIVERY", "CARRYFORWARD", "MARGIN", "INTRADAY", "BO"}
ORDER_TYPES = {"MARKET", "LIMIT", "STOPLOSS_LIMIT", "STOPLOSS_MARKET"}
TERMINAL = {"complete", "cancelled", "rejected"}
STREAM_PATH = "/smart-order-update"
STREAM_LIMIT = 3  # connections per client code
ORDER_STATUS_CODES = {"open": "AB01", "cancelled": "AB02", "rejected": "AB03", "complete": "AB05",
                      "open pending": "AB09", "trigger pending": "AB10"}  # fmt: skip
MODIFIED = "AB04"


class AngelError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Order:
    row: Json
    trades: list[Json] = field(default_factory=list)


class AngelStandIn:
    """One Angel One client account. Start with ``with AngelStandIn() as angel:``; thread-safe."""

    def __init__(
        self,
        api_key: str = "standin-api-key",
        client_code: str = "A1234567",
        pin: str = "4321",
        cash: Decimal = Decimal("1000000"),
        time_scale: float = 1.0,
    ) -> None:
        """``time_scale``: how much faster than real time the stand-in keeps Angel's per-second limits (the
        conformance suite runs Angel at 10x, its adapter paced to match; Angel's own tests keep real time)."""
        self.api_key = api_key
        self.time_scale = time_scale
        self.client_code = client_code
        self.pin = pin
        self.totp_seed = base64.b32encode(secrets.token_bytes(20)).decode()
        self.cash = cash
        self.master = list(MASTER)
        self.holdings: list[Json] = []
        self.positions: list[Json] = []
        self._lock = threading.RLock()
        self._jwt: str | None = None
        self._orders: dict[str, _Order] = {}
        self._order_seq = itertools.count(1)
        self._fill_seq = itertools.count(50005750)
        self._calls: dict[str, deque[float]] = {}
        self._cut_until = 0.0
        self.delay_s = 0.0
        self.requests: list[tuple[str, str]] = []  # (route name, raw body) of every request
        self.refused_for_rate = 0
        self._server: ThreadingHTTPServer | None = None
        self._ws_server: Server | None = None
        self._streams: set[ServerConnection] = set()
        self.stream_connects = 0
        self.stream_refusals: list[int] = []  # the HTTP status of every refused order-update handshake
        self.pushed: list[Json] = []  # every order message pushed

    # ---- lifecycle ----

    def __enter__(self) -> AngelStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._server = _make_server(self)
        threading.Thread(target=self._server.serve_forever, name="angel-standin", daemon=True).start()
        self._ws_server = serve(
            self._stream_handler, "127.0.0.1", 0, process_request=self._stream_handshake, ping_interval=None
        )
        threading.Thread(target=self._ws_server.serve_forever, name="angel-standin-ws", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._ws_server is not None:
            self._ws_server.shutdown()

    @property
    def root(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def stream_root(self) -> str:
        assert self._ws_server is not None
        port: int = self._ws_server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    def open_streams(self) -> int:
        with self._lock:
            return len(self._streams)

    # ---- levers ----

    def issue_session(self) -> str:
        """A valid JWT without going through the log-in (for tests of everything after it)."""
        with self._lock:
            self._jwt = "eyJ" + secrets.token_urlsafe(24)
            return self._jwt

    def expire_session(self) -> None:
        with self._lock:
            self._jwt = None

    def totp_now(self) -> str:
        return totp.totp_code(self.totp_seed)

    def execute(self, order_id: str, qty: Decimal, price: Decimal) -> Json:
        """The exchange fills ``qty`` more of an open order at ``price``: a trade-book row, the order updated."""
        with self._lock:
            order = self._orders[order_id]
            row = order.row
            if row["orderstatus"] in TERMINAL:
                raise ValueError(f"order {order_id} is {row['orderstatus']}")
            filled = Decimal(row["filledshares"])
            total = Decimal(row["quantity"])
            if qty <= 0 or filled + qty > total:
                raise ValueError("fill larger than what remains")
            fill = {
                "exchange": row["exchange"], "producttype": row["producttype"], "tradingsymbol": row["tradingsymbol"],
                "instrumenttype": "", "symbolgroup": "EQ", "strikeprice": "-1", "optiontype": "", "expirydate": "",
                "marketlot": "1", "precision": "2", "multiplier": "-1", "tradevalue": _text(qty * price),
                "transactiontype": row["transactiontype"], "fillprice": _text(price), "fillsize": _text(qty),
                "orderid": order_id, "fillid": str(next(self._fill_seq)),
                "filltime": datetime.now(IST).strftime("%H:%M:%S"),
            }  # fmt: skip
            order.trades.append(fill)
            cost = Decimal(row["averageprice"]) * filled + price * qty
            filled += qty
            row["filledshares"] = _text(filled)
            row["unfilledshares"] = _text(total - filled)
            row["averageprice"] = _text((cost / filled).quantize(Decimal("0.01")))
            row["fillid"], row["filltime"] = fill["fillid"], fill["filltime"]
            if filled == total:
                self._set_status(row, "complete")
            else:
                self._touch(row)
            side = 1 if row["transactiontype"] == "BUY" else -1
            self.cash -= side * qty * price
            self._book_position(row, side, qty, price)
        return fill

    def _book_position(self, row: Json, side: int, qty: Decimal, price: Decimal) -> None:
        """The day's net position of the order's scrip and product, in getPosition's shape."""
        key = (row["exchange"], row["symboltoken"], row["producttype"])
        position = next((p for p in self.positions if (p["exchange"], p["symboltoken"], p["producttype"]) == key), None)
        if position is None:
            position = {
                "exchange": row["exchange"], "symboltoken": row["symboltoken"], "producttype": row["producttype"],
                "tradingsymbol": row["tradingsymbol"], "symbolname": row["tradingsymbol"].removesuffix("-EQ"),
                "instrumenttype": "", "priceden": "1", "pricenum": "1", "genden": "1", "gennum": "1",
                "precision": "2", "multiplier": "-1", "boardlotsize": "1", "buyqty": "0", "sellqty": "0",
                "buyamount": "0", "sellamount": "0", "symbolgroup": "EQ", "strikeprice": "-1", "optiontype": "",
                "expirydate": "", "lotsize": "1", "cfbuyqty": "0", "cfsellqty": "0", "cfbuyamount": "0",
                "cfsellamount": "0", "buyavgprice": "0", "sellavgprice": "0", "avgnetprice": "0", "netvalue": "0",
                "netqty": "0", "totalbuyvalue": "0", "totalsellvalue": "0", "cfbuyavgprice": "0",
                "cfsellavgprice": "0", "totalbuyavgprice": "0", "totalsellavgprice": "0", "netprice": "0",
                "ltp": "0",
            }  # fmt: skip
            self.positions.append(position)
        leg = "buy" if side > 0 else "sell"
        bought = Decimal(position[f"{leg}qty"]) + qty
        amount = Decimal(position[f"{leg}amount"]) + qty * price
        position[f"{leg}qty"] = _text(bought)
        position[f"{leg}amount"] = _text(amount)
        position[f"{leg}avgprice"] = _text((amount / bought).quantize(Decimal("0.01")))
        net = Decimal(position["buyqty"]) - Decimal(position["sellqty"])
        position["netqty"] = _text(net)
        position["netvalue"] = _text(Decimal(position["sellamount"]) - Decimal(position["buyamount"]))
        position["avgnetprice"] = position["netprice"] = position["buyavgprice" if net >= 0 else "sellavgprice"]
        position["ltp"] = _text(price)

    def cut_updates(self, seconds: float = 1.5) -> None:
        """For ``seconds``, reads of the order and trade books drop the connection without an answer."""
        with self._lock:
            self._cut_until = time.monotonic() + seconds

    def drop_streams(self) -> None:
        """Every open order-update socket dies at once, no closing handshake (a network failure)."""
        with self._lock:
            streams = list(self._streams)
        for connection in streams:
            connection.close_socket()

    def set_delay(self, seconds: float) -> None:
        self.delay_s = seconds

    def order_row(self, order_id: str) -> Json:
        with self._lock:
            return dict(self._orders[order_id].row)

    def order_ids(self) -> list[str]:
        with self._lock:
            return list(self._orders)

    def count(self, route: str) -> int:
        with self._lock:
            return sum(1 for name, _ in self.requests if name == route)

    # ---- the service ----

    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> tuple[int, str, bytes]:
        path = urlsplit(raw_path).path
        if self.delay_s:
            time.sleep(self.delay_s)
        if method == "GET" and path == MASTER_PATH:
            return 200, "application/json", json.dumps(self.master).encode()
        route = ROUTES.get((method, path))
        if route is None:
            return 404, "text/html", b"<html><body>Not Found</body></html>"
        with self._lock:
            self.requests.append((route, body.decode(errors="replace")))
            if route in ("orders", "trades") and time.monotonic() < self._cut_until:
                return -1, "", b""  # the handler closes the connection
            if not self._within_rate(route):
                self.refused_for_rate += 1
                return 403, "text/plain", b"Access denied because of exceeding access rate"
            if headers.get("X-UserType") != "USER":
                return 200, "application/json", _answer(False, "User Type Must Be USER", "AB1005", None)
            if headers.get("X-PrivateKey") != self.api_key:
                return 401, "application/json", _gateway_error("Invalid API Key", "AG8004")
            if route != "login" and (not self._jwt or headers.get("Authorization") != f"Bearer {self._jwt}"):
                return 401, "application/json", _gateway_error("Invalid Token", "AG8001")
            try:
                params = json.loads(body or b"{}") if method == "POST" else {}
                data = getattr(self, f"_do_{route}")(params)
            except AngelError as exc:
                return 200, "application/json", _answer(False, exc.message, exc.code, None)
            except (ValueError, KeyError, TypeError, InvalidOperation):
                return 200, "application/json", _answer(False, "Invalid request", "AB2000", None)
            return 200, "application/json", _answer(True, "SUCCESS", "", data)

    def _within_rate(self, route: str) -> bool:
        now = time.monotonic()
        window = self._calls.setdefault(route, deque())
        while window and now - window[0] >= 1.0 / self.time_scale:
            window.popleft()
        if len(window) >= PER_SECOND.get(route, 10):
            return False
        window.append(now)
        return True

    def _do_login(self, params: Json) -> Json:
        if params.get("clientcode") != self.client_code or params.get("password") != self.pin:
            raise AngelError("AB1007", "Login Id or password is invalid")
        code = str(params.get("totp") or "")
        if not code or not any(totp.verify(self.totp_seed, code, time.time() + skew) for skew in (-30, 0, 30)):
            raise AngelError("AB1050", "Invalid totp")
        jwt = self.issue_session()
        return {"jwtToken": jwt, "refreshToken": "rt" + secrets.token_urlsafe(16), "feedToken": "ft-" + jwt[-8:]}

    def _do_profile(self, params: Json) -> Json:
        return {"clientcode": self.client_code, "name": "STANDIN CLIENT", "email": "", "mobileno": "",
                "exchanges": ["NSE", "BSE"], "products": ["MARGIN", "MIS", "CNC"], "lastlogintime": "",
                "brokerid": "B2C"}  # fmt: skip

    def _do_logout(self, params: Json) -> None:
        self._jwt = None

    def _do_place(self, params: Json) -> Json:
        variety = str(params.get("variety", ""))
        if variety not in VARIETIES:
            raise AngelError("AB1008", "Invalid Order Variety")
        if str(params.get("producttype", "")) not in PRODUCTS:
            raise AngelError("AB1012", "Invalid Product Type")
        if len(str(params.get("ordertag") or "")) >= 20:
            raise AngelError("AB4008", "ordertag length should be less than 20 characters")
        ordertype = str(params.get("ordertype", ""))
        if ordertype not in ORDER_TYPES or params.get("transactiontype") not in ("BUY", "SELL"):
            raise AngelError("AB2000", "Invalid request")
        if params.get("duration") not in ("DAY", "IOC"):
            raise AngelError("AB2000", "Invalid duration")
        scrip = self._scrip(str(params.get("exchange")), str(params.get("symboltoken")))
        if scrip is None:
            raise AngelError("AB1009", "Symbol Not Found")
        if scrip["symbol"] != params.get("tradingsymbol"):
            raise AngelError("AB4006", "Invalid symboltoken")
        order_id = datetime.now(IST).strftime("%y%m%d") + f"{next(self._order_seq):09d}"
        row = {
            "variety": variety, "ordertype": ordertype, "producttype": params["producttype"],
            "duration": params["duration"], "price": _text(Decimal(str(params.get("price") or "0"))),
            "triggerprice": _text(Decimal(str(params.get("triggerprice") or "0"))),
            "quantity": str(params.get("quantity")), "disclosedquantity": "0", "squareoff": "0", "stoploss": "0",
            "trailingstoploss": "0", "tradingsymbol": scrip["symbol"], "transactiontype": params["transactiontype"],
            "exchange": scrip["exch_seg"], "symboltoken": scrip["token"], "ordertag": str(params.get("ordertag") or ""),
            "instrumenttype": "", "strikeprice": "-1", "optiontype": "", "expirydate": "", "lotsize": scrip["lotsize"],
            "cancelsize": "0", "averageprice": "0", "filledshares": "0", "unfilledshares": str(params.get("quantity")),
            "orderid": order_id, "text": "", "status": "", "orderstatus": "", "updatetime": "", "exchtime": "",
            "exchorderupdatetime": "", "fillid": "", "filltime": "", "parentorderid": "",
            "uniqueorderid": secrets.token_hex(16),
        }  # fmt: skip
        self._orders[order_id] = _Order(row)
        reason = self._exchange_refusal(row, scrip)
        if reason:
            row["text"] = reason
            self._set_status(row, "rejected")
        else:
            self._set_status(row, "trigger pending" if variety == "STOPLOSS" else "open")
        return {"script": scrip["symbol"], "orderid": order_id, "uniqueorderid": row["uniqueorderid"]}

    def _exchange_refusal(self, row: Json, scrip: Json) -> str:
        tick = Decimal(scrip["tick_size"]) / 100
        qty = Decimal(row["quantity"])
        if qty <= 0 or qty % Decimal(scrip["lotsize"]):
            return "Quantity should be in multiples of lot size"
        for what in ("price", "triggerprice"):
            value = Decimal(row[what])
            if value and value % tick:
                return f"Order price should be multiple of tick size {tick}"
        if row["ordertype"] in ("LIMIT", "STOPLOSS_LIMIT") and not Decimal(row["price"]):
            return "Price should be greater than zero for limit order"
        if row["transactiontype"] == "BUY":
            value = qty * (Decimal(row["price"]) or Decimal(row["triggerprice"]) or Decimal(1))
            if value > self.cash:
                return f"RMS:Margin Exceeds,Required:{_text(value)}, Available:{_text(self.cash)}"
        return ""

    def _do_modify(self, params: Json) -> Json:
        order = self._orders.get(str(params.get("orderid")))
        if order is None:
            raise AngelError("AB1013", "Order not found")
        row = order.row
        if row["orderstatus"] in TERMINAL:
            raise AngelError("AB2000", f"Order is already {row['orderstatus']}")
        qty = Decimal(str(params.get("quantity") or row["quantity"]))
        if qty < Decimal(row["filledshares"]) or qty % Decimal(row["lotsize"]):
            raise AngelError("AB2000", "Invalid quantity")
        scrip = self._scrip(row["exchange"], row["symboltoken"])
        assert scrip is not None
        tick = Decimal(scrip["tick_size"]) / 100
        for what in ("price", "triggerprice"):
            if params.get(what) is not None:
                value = Decimal(str(params[what]))
                if value % tick:
                    raise AngelError("AB2000", f"Order price should be multiple of tick size {tick}")
                row[what] = _text(value)
        row["quantity"] = _text(qty)
        row["unfilledshares"] = _text(qty - Decimal(row["filledshares"]))
        self._touch(row, MODIFIED)
        return {"orderid": row["orderid"], "uniqueorderid": row["uniqueorderid"]}

    def _do_cancel(self, params: Json) -> Json:
        order = self._orders.get(str(params.get("orderid")))
        if order is None:
            raise AngelError("AB1013", "Order not found")
        if params.get("variety") not in VARIETIES:
            raise AngelError("AB1008", "Invalid Order Variety")
        row = order.row
        if row["orderstatus"] in TERMINAL:
            raise AngelError("AB2000", f"Order is already {row['orderstatus']}")
        row["cancelsize"] = row["unfilledshares"]
        self._set_status(row, "cancelled")
        return {"orderid": row["orderid"], "uniqueorderid": row["uniqueorderid"]}

    def _do_orders(self, params: Json) -> list[Json] | None:
        return [dict(o.row) for o in self._orders.values()] or None

    def _do_trades(self, params: Json) -> list[Json] | None:
        return [dict(t) for o in self._orders.values() for t in o.trades] or None

    def _do_rms(self, params: Json) -> Json:
        cash = _text(self.cash)
        return {"net": cash, "availablecash": cash, "availableintradaypayin": "0", "availablelimitmargin": "0",
                "collateral": "0", "m2munrealized": "0", "m2mrealized": "0", "utiliseddebits": "0",
                "utilisedspan": "0", "utilisedoptionpremium": "0", "utilisedholdingsales": "0",
                "utilisedexposure": "0", "utilisedturnover": "0", "utilisedpayout": "0"}  # fmt: skip

    def _do_positions(self, params: Json) -> list[Json] | None:
        return [dict(p) for p in self.positions] or None

    def _do_holdings(self, params: Json) -> list[Json] | None:
        return [dict(h) for h in self.holdings] or None

    def _scrip(self, exchange: str, token: str) -> Json | None:
        for row in self.master:
            if row["exch_seg"] == exchange and row["token"] == token and not row["instrumenttype"]:
                return row
        return None

    def _set_status(self, row: Json, status: str) -> None:
        row["status"] = row["orderstatus"] = status
        self._touch(row)

    def _touch(self, row: Json, code: str | None = None) -> None:
        stamp = datetime.now(IST).strftime("%d-%b-%Y %H:%M:%S")
        row["updatetime"] = row["exchtime"] = row["exchorderupdatetime"] = stamp
        self._push(code or ORDER_STATUS_CODES.get(row["orderstatus"], "AB01"), row)

    # ---- the order-update WebSocket ----

    def _message(self, code: str, row: Json | None) -> Json:
        data = dict(row or {})
        for key in ("price", "triggerprice", "averageprice", "squareoff", "stoploss", "trailingstoploss"):
            data[key] = float(data.get(key) or 0)  # Angel sends these as numbers on the socket
        return {"user-id": self.client_code, "status-code": "200", "order-status": code, "error-message": "",
                "orderData": data}  # fmt: skip

    def _push(self, code: str, row: Json) -> None:
        """Called with the lock held, after the books changed: a client reading them on this message sees it."""
        message = self._message(code, row)
        self.pushed.append(message)
        text = json.dumps(message)
        for connection in list(self._streams):
            with suppress(ConnectionClosed):
                connection.send(text)

    def _stream_handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        with self._lock:
            if urlsplit(request.path).path != STREAM_PATH:
                status, text = 404, "Not Found\n"
            elif not self._jwt or request.headers.get("Authorization") != f"Bearer {self._jwt}":
                status, text = 401, "Unauthorized\n"
            elif len(self._streams) >= STREAM_LIMIT:
                status, text = 429, "Connection limit exceeded\n"
            else:
                return None
            self.stream_refusals.append(status)
        return connection.respond(status, text)

    def _stream_handler(self, connection: ServerConnection) -> None:
        with self._lock:
            self._streams.add(connection)
            self.stream_connects += 1
            connection.send(json.dumps(self._message("AB00", None)))
        try:
            for text in connection:
                if text == "ping":
                    connection.send("pong")
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._streams.discard(connection)


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _answer(ok: bool, message: str, code: str, data: Any) -> bytes:
    return json.dumps({"status": ok, "message": message, "errorcode": code, "data": data}).encode()


def _gateway_error(message: str, code: str) -> bytes:
    return json.dumps({"success": False, "message": message, "errorCode": code, "data": ""}).encode()


def _make_server(standin: AngelStandIn) -> ThreadingHTTPServer:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, content_type, data = standin.handle(self.command, self.path, self.headers, body)
            if status < 0:
                self.close_connection = True
                return
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class _Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client that gave up (a timeout test) breaks the pipe: expected, not worth a traceback

    return _Server(("127.0.0.1", 0), _Handler)


@contextmanager
def running() -> Iterator[AngelStandIn]:
    with AngelStandIn() as standin:
        yield standin
