"""The trading side of the Kite stand-in: one Zerodha account's orders, trades, funds, holdings and positions.

Answers in Kite Connect v3's JSON shapes (order-book rows as its docs' "Retrieving orders" sample, trade rows as
"Retrieving all trades", margins as "Funds and margins") and refuses what Kite refuses with its error types:
InputException for a bad parameter, a price off the tick grid or outside the day's circuit band, a quantity off
the lot; OrderException for changing or cancelling an order that is no longer open or changed too often. Orders
short of funds are accepted and then REJECTED by the risk check with Kite's "Insufficient funds" status message,
as Kite's RMS does. Orders change only when a test says so (``execute``), except MARKET orders (filled at once at
the last price) and IOC orders (filled at the last price when marketable, else cancelled).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")
Json = dict[str, Any]
CIRCUIT_BAND = Decimal("0.20")  # the stand-in's daily price band: +-20% of the last price
MAX_MODIFICATIONS = 25  # Kite: an order may be modified at most 25 times
TAG_MAX = 20


class KiteError(Exception):
    """Kite's error envelope: ``error_type`` and ``message`` with the HTTP status."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def input_error(message: str) -> KiteError:
    return KiteError(400, "InputException", message)


@dataclass(frozen=True)
class Instrument:
    token: int
    exchange: str
    tradingsymbol: str
    name: str
    last_price: Decimal
    tick_size: Decimal = Decimal("0.05")
    lot_size: int = 1
    instrument_type: str = "EQ"
    segment: str = ""

    def csv_row(self) -> list[str]:
        segment = self.segment or self.exchange
        return [str(self.token), str(self.token >> 8), self.tradingsymbol, self.name, str(self.last_price), "", "0",
                str(self.tick_size), str(self.lot_size), self.instrument_type, segment, self.exchange]  # fmt: skip


CSV_HEADER = ("instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,"
              "instrument_type,segment,exchange")  # fmt: skip

DEFAULT_INSTRUMENTS = (
    Instrument(408065, "NSE", "INFY", "INFOSYS", Decimal("1500")),
    Instrument(738561, "NSE", "RELIANCE", "RELIANCE INDUSTRIES", Decimal("2500")),
    Instrument(779521, "NSE", "SBIN", "STATE BANK OF INDIA", Decimal("800")),
    Instrument(3677697, "NSE", "IDEA", "VODAFONE IDEA", Decimal("7.50"), tick_size=Decimal("0.01")),
    Instrument(128053508, "BSE", "INFY", "INFOSYS", Decimal("1500")),
    Instrument(128083204, "BSE", "RELIANCE", "RELIANCE INDUSTRIES", Decimal("2500")),
    Instrument(
        12345602, "NFO", "INFY26DECFUT", "INFY", Decimal("1510"), lot_size=400, instrument_type="FUT", segment="NFO-FUT"
    ),
)


def _now_text() -> str:
    return datetime.now(IST).strftime("%Y-%m-%d %H:%M:%S")


def _num(value: Decimal) -> float | int:
    """Kite's JSON numbers: integers for quantities, floats for money."""
    return int(value) if value == value.to_integral_value() and abs(value) < 10**15 else float(value)


def _decimal(form: dict[str, str], name: str, required: bool = False) -> Decimal | None:
    raw = form.get(name)
    if raw is None or raw == "":
        if required:
            raise input_error(f"Missing `{name}`.")
        return None
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise input_error(f"Invalid `{name}`.") from None


class KiteAccount:
    """One Kite account. Thread-safe (one lock around everything)."""

    def __init__(self, user_id: str, cash: Decimal, instruments: tuple[Instrument, ...] = DEFAULT_INSTRUMENTS):
        self.user_id = user_id
        self.opening_cash = cash
        self.cash = cash
        self.instruments = {(i.exchange, i.tradingsymbol): i for i in instruments}
        self.ltp: dict[tuple[str, str], Decimal] = {k: i.last_price for k, i in self.instruments.items()}
        self.orders: dict[str, Json] = {}
        self.history: dict[str, list[Json]] = {}
        self.trades: list[Json] = []
        self.holdings: dict[tuple[str, str], Json] = {}
        self.positions: dict[tuple[str, str, str], Json] = {}
        self.lock = threading.RLock()
        self._order_seq = 0
        self._trade_seq = 0

    # ---- reading ----

    def order_book(self) -> list[Json]:
        with self.lock:
            return [{k: v for k, v in o.items() if k != "modifications"} for o in self.orders.values()]

    def order_history(self, order_id: str) -> list[Json]:
        with self.lock:
            if order_id not in self.history:
                raise KiteError(404, "GeneralException", "Couldn't find that `order_id`.")
            return [dict(h) for h in self.history[order_id]]

    def trade_book(self, order_id: str | None = None) -> list[Json]:
        with self.lock:
            if order_id is not None and order_id not in self.orders:
                raise KiteError(404, "GeneralException", "Couldn't find that `order_id`.")
            return [dict(t) for t in self.trades if order_id is None or t["order_id"] == order_id]

    def blocked(self) -> Decimal:
        """Funds held for open BUY orders (pending quantity at the order's price or the last price)."""
        total = Decimal(0)
        for o in self.orders.values():
            if o["transaction_type"] == "BUY" and o["status"] in ("OPEN", "TRIGGER PENDING"):
                total += Decimal(o["pending_quantity"]) * self._order_price(o)
        return total

    def margins(self) -> Json:
        with self.lock:
            blocked = self.blocked()
            available = self.cash - blocked
            return {
                "enabled": True,
                "net": _num(available),
                "available": {"adhoc_margin": 0, "cash": _num(self.cash), "opening_balance": _num(self.opening_cash),
                              "live_balance": _num(available), "collateral": 0, "intraday_payin": 0},
                "utilised": {"debits": _num(blocked), "exposure": 0, "m2m_realised": 0, "m2m_unrealised": 0,
                             "option_premium": 0, "payout": 0, "span": 0, "holding_sales": 0, "turnover": 0,
                             "liquid_collateral": 0, "stock_collateral": 0, "delivery": 0},
            }  # fmt: skip

    def holdings_rows(self) -> list[Json]:
        with self.lock:
            rows = []
            for (exchange, symbol), h in self.holdings.items():
                instrument = self.instruments[(exchange, symbol)]
                rows.append({"tradingsymbol": symbol, "exchange": exchange, "instrument_token": instrument.token,
                             "isin": f"INE{instrument.token:09d}", "product": "CNC", "price": 0,
                             "quantity": int(h["quantity"]), "used_quantity": 0, "t1_quantity": int(h["t1"]),
                             "realised_quantity": int(h["quantity"]), "authorised_quantity": 0,
                             "opening_quantity": int(h["quantity"]), "collateral_quantity": 0, "collateral_type": "",
                             "average_price": _num(h["average"]), "last_price": _num(self.ltp[(exchange, symbol)]),
                             "close_price": _num(self.ltp[(exchange, symbol)]), "pnl": 0, "day_change": 0,
                             "day_change_percentage": 0})  # fmt: skip
            return rows

    def positions_rows(self) -> Json:
        with self.lock:
            net = []
            for (exchange, symbol, product), p in self.positions.items():
                buy_q, sell_q = p["buy_quantity"], p["sell_quantity"]
                quantity = buy_q - sell_q
                buy_avg = p["buy_value"] / buy_q if buy_q else Decimal(0)
                sell_avg = p["sell_value"] / sell_q if sell_q else Decimal(0)
                average = buy_avg if quantity > 0 else sell_avg if quantity < 0 else Decimal(0)
                ltp = self.ltp[(exchange, symbol)]
                net.append({"tradingsymbol": symbol, "exchange": exchange,
                            "instrument_token": self.instruments[(exchange, symbol)].token, "product": product,
                            "quantity": int(quantity), "overnight_quantity": 0, "multiplier": 1,
                            "average_price": _num(average), "close_price": 0, "last_price": _num(ltp),
                            "value": _num(p["sell_value"] - p["buy_value"]), "pnl": 0, "m2m": 0, "unrealised": 0,
                            "realised": 0, "buy_quantity": int(buy_q), "buy_price": _num(buy_avg),
                            "buy_value": _num(p["buy_value"]), "sell_quantity": int(sell_q),
                            "sell_price": _num(sell_avg), "sell_value": _num(p["sell_value"]),
                            "day_buy_quantity": int(buy_q), "day_sell_quantity": int(sell_q)})  # fmt: skip
            return {"net": net, "day": [dict(row) for row in net]}

    # ---- placing ----

    def place(self, variety: str, form: dict[str, str], app_id: str) -> str:
        with self.lock:
            if variety != "regular":
                raise input_error("Invalid `variety`.")
            for name in ("exchange", "tradingsymbol", "transaction_type", "quantity", "product", "order_type"):
                if not form.get(name):
                    raise input_error(f"Missing `{name}`.")
            exchange, symbol = form["exchange"], form["tradingsymbol"]
            if exchange not in ("NSE", "BSE", "NFO", "BFO", "CDS", "BCD", "MCX"):
                raise input_error("Invalid `exchange`.")
            instrument = self.instruments.get((exchange, symbol))
            if instrument is None:
                raise input_error("Invalid `tradingsymbol`.")
            side = form["transaction_type"]
            if side not in ("BUY", "SELL"):
                raise input_error("Invalid `transaction_type`.")
            order_type = form["order_type"]
            if order_type not in ("MARKET", "LIMIT", "SL", "SL-M"):
                raise input_error("Invalid `order_type`.")
            product = form["product"]
            if product not in ("CNC", "MIS", "NRML", "MTF"):
                raise input_error("Invalid `product`.")
            validity = form.get("validity") or "DAY"
            if validity not in ("DAY", "IOC", "TTL"):
                raise input_error("Invalid `validity`.")
            tag = form.get("tag") or None
            if tag is not None and (len(tag) > TAG_MAX or not tag.isalnum()):
                raise input_error("Invalid `tag`. Tag can be a maximum of 20 alphanumeric characters.")
            quantity = self._quantity(form, instrument)
            price = _decimal(form, "price") or Decimal(0)
            trigger = _decimal(form, "trigger_price") or Decimal(0)
            if order_type in ("LIMIT", "SL"):
                self._check_price(instrument, price, "price")
            if order_type in ("SL", "SL-M"):
                self._check_price(instrument, trigger, "trigger price")
            self._order_seq += 1
            order_id = f"{datetime.now(IST):%y%m%d}{self._order_seq:09d}"
            now = _now_text()
            order: Json = {
                "account_id": self.user_id, "placed_by": self.user_id, "order_id": order_id,
                "exchange_order_id": None, "parent_order_id": None, "status": "PUT ORDER REQ RECEIVED",
                "status_message": None, "status_message_raw": None, "order_timestamp": now,
                "exchange_update_timestamp": None, "exchange_timestamp": None, "variety": variety, "modified": False,
                "exchange": exchange, "tradingsymbol": symbol, "instrument_token": instrument.token,
                "order_type": order_type, "transaction_type": side, "validity": validity, "validity_ttl": 0,
                "product": product, "quantity": quantity, "disclosed_quantity": 0, "price": _num(price),
                "trigger_price": _num(trigger), "average_price": 0, "filled_quantity": 0,
                "pending_quantity": quantity, "cancelled_quantity": 0, "market_protection": 0, "meta": {},
                "tag": tag, "tags": [tag] if tag else [], "guid": f"{app_id}X{order_id}",
            }  # fmt: skip
            self.orders[order_id] = order
            self.history[order_id] = []
            self._record(order)
            for status in ("VALIDATION PENDING", "OPEN PENDING"):
                self._set(order, status=status)
            self._risk_check_and_open(order)
            return order_id

    def _quantity(self, form: dict[str, str], instrument: Instrument) -> int:
        raw = form.get("quantity", "")
        if not raw.isdigit() or int(raw) <= 0:
            raise input_error("Invalid `quantity`.")
        quantity = int(raw)
        if quantity % instrument.lot_size:
            raise input_error(f"Quantity should be a multiple of lot size ({instrument.lot_size}).")
        return quantity

    def _check_price(self, instrument: Instrument, price: Decimal, what: str) -> None:
        if price <= 0:
            raise input_error(f"Invalid `{what.replace(' ', '_')}`.")
        if price % instrument.tick_size:
            raise input_error(
                f"Tick size for this script is {instrument.tick_size:g}. Kindly enter {what} in the multiple of "
                "tick size for this script"
            )
        ltp = self.ltp[(instrument.exchange, instrument.tradingsymbol)]
        low = (ltp * (1 - CIRCUIT_BAND)).quantize(instrument.tick_size)
        high = (ltp * (1 + CIRCUIT_BAND)).quantize(instrument.tick_size)
        if price < low:
            raise input_error(
                f"Your order {what} is lower than the current lower circuit limit of {low:.2f}. Place an order "
                "within the daily range."
            )
        if price > high:
            raise input_error(
                f"Your order {what} is higher than the current upper circuit limit of {high:.2f}. Place an order "
                "within the daily range."
            )

    def _risk_check_and_open(self, order: Json) -> None:
        key = (order["exchange"], order["tradingsymbol"])
        if order["transaction_type"] == "BUY":
            required = Decimal(order["quantity"]) * self._order_price(order)
            available = self.cash - self.blocked()
            if required > available:
                self._set(order, status="REJECTED", pending_quantity=0,
                          status_message=f"Insufficient funds. Required margin is {required:.2f} but available margin "
                          f"is {available:.2f}. Check the orderbook for open orders.")  # fmt: skip
                return
        elif order["product"] == "CNC":
            held = self.holdings.get(key, {"quantity": Decimal(0), "t1": Decimal(0)})
            position = self.positions.get((*key, "CNC"))
            today = (position["buy_quantity"] - position["sell_quantity"]) if position else Decimal(0)
            if Decimal(order["quantity"]) > held["quantity"] + held["t1"] + today:
                self._set(
                    order,
                    status="REJECTED",
                    pending_quantity=0,
                    status_message="Insufficient holdings. Check your holdings and orderbook for open orders.",
                )
                return  # fmt: skip
        self._set(order, status="TRIGGER PENDING" if order["order_type"] in ("SL", "SL-M") else "OPEN",
                  exchange_order_id=f"1100000{order['order_id'][-9:]}", exchange_timestamp=_now_text())  # fmt: skip
        ltp = self.ltp[key]
        if order["order_type"] == "MARKET":
            self._fill(order, Decimal(order["quantity"]), ltp)
        elif order["validity"] == "IOC":
            marketable = order["order_type"] == "LIMIT" and (
                (order["transaction_type"] == "BUY" and Decimal(str(order["price"])) >= ltp)
                or (order["transaction_type"] == "SELL" and Decimal(str(order["price"])) <= ltp)
            )
            if marketable:
                self._fill(order, Decimal(order["quantity"]), ltp)
            else:
                self._set(order, status="CANCELLED", cancelled_quantity=order["pending_quantity"], pending_quantity=0)

    def _order_price(self, order: Json) -> Decimal:
        price = Decimal(str(order["price"])) or Decimal(str(order["trigger_price"]))
        return price or self.ltp[(order["exchange"], order["tradingsymbol"])]

    # ---- changing ----

    def modify(self, variety: str, order_id: str, form: dict[str, str]) -> str:
        with self.lock:
            order = self._open_order(order_id, "modified")
            if variety != order["variety"]:
                raise input_error("Invalid `variety`.")
            if order.get("modifications", 0) >= MAX_MODIFICATIONS:
                raise KiteError(400, "OrderException", "Maximum allowed order modifications exceeded.")
            instrument = self.instruments[(order["exchange"], order["tradingsymbol"])]
            changes: Json = {}
            if form.get("quantity"):
                quantity = self._quantity(form, instrument)
                if quantity < order["filled_quantity"]:
                    raise input_error("Quantity should be greater than the filled quantity.")
                changes["quantity"] = quantity
                changes["pending_quantity"] = quantity - order["filled_quantity"]
            price = _decimal(form, "price")
            if price is not None and order["order_type"] in ("LIMIT", "SL"):
                self._check_price(instrument, price, "price")
                changes["price"] = _num(price)
            trigger = _decimal(form, "trigger_price")
            if trigger is not None and order["order_type"] in ("SL", "SL-M"):
                self._check_price(instrument, trigger, "trigger price")
                changes["trigger_price"] = _num(trigger)
            if form.get("order_type") and form["order_type"] != order["order_type"]:
                raise input_error("Order type cannot be changed for this order.")
            status = order["status"]
            order["modifications"] = order.get("modifications", 0) + 1
            self._set(order, status="MODIFY VALIDATION PENDING")
            self._set(order, status="MODIFIED", modified=True, **changes)
            self._set(order, status=status, exchange_update_timestamp=_now_text())
            return order_id

    def cancel(self, variety: str, order_id: str) -> str:
        with self.lock:
            order = self._open_order(order_id, "cancelled")
            if variety != order["variety"]:
                raise input_error("Invalid `variety`.")
            self._set(order, status="CANCEL PENDING")
            self._set(order, status="CANCELLED", cancelled_quantity=order["pending_quantity"], pending_quantity=0,
                      exchange_update_timestamp=_now_text())  # fmt: skip
            return order_id

    def _open_order(self, order_id: str, verb: str) -> Json:
        order = self.orders.get(order_id)
        if order is None:
            raise KiteError(404, "GeneralException", "Couldn't find that `order_id`.")
        if order["status"] not in ("OPEN", "TRIGGER PENDING"):
            raise KiteError(400, "OrderException", f"Order cannot be {verb} as it is in {order['status']} state.")
        return order

    # ---- the venue's side (test levers) ----

    def execute(self, order_id: str, quantity: Decimal, price: Decimal) -> str:
        """Fill ``quantity`` more at ``price``; the trade id."""
        with self.lock:
            order = self.orders[order_id]
            if order["status"] not in ("OPEN", "TRIGGER PENDING"):
                raise ValueError(f"order {order_id} is {order['status']}, it cannot fill")
            if quantity <= 0 or quantity > order["pending_quantity"]:
                raise ValueError(f"cannot fill {quantity} of {order['pending_quantity']} pending")
            return self._fill(order, quantity, price)

    def _fill(self, order: Json, quantity: Decimal, price: Decimal) -> str:
        self._trade_seq += 1
        now = _now_text()
        key = (order["exchange"], order["tradingsymbol"])
        self.trades.append({
            "trade_id": f"{self._trade_seq:08d}", "order_id": order["order_id"],
            "exchange_order_id": order["exchange_order_id"], "tradingsymbol": order["tradingsymbol"],
            "exchange": order["exchange"], "instrument_token": order["instrument_token"],
            "transaction_type": order["transaction_type"], "product": order["product"],
            "average_price": _num(price), "quantity": int(quantity), "fill_timestamp": now, "order_timestamp": now,
            "exchange_timestamp": now,
        })  # fmt: skip
        filled = Decimal(order["filled_quantity"]) + quantity
        cost = Decimal(str(order["average_price"])) * Decimal(order["filled_quantity"]) + quantity * price
        pending = Decimal(order["quantity"]) - filled
        self._set(
            order,
            status="COMPLETE" if pending == 0 else order["status"],
            filled_quantity=int(filled),
            pending_quantity=int(pending),
            average_price=_num(cost / filled),
            exchange_update_timestamp=now,
        )
        position = self.positions.setdefault(
            (*key, order["product"]),
            {
                "buy_quantity": Decimal(0),
                "buy_value": Decimal(0),
                "sell_quantity": Decimal(0),
                "sell_value": Decimal(0),
            },
        )
        side = "buy" if order["transaction_type"] == "BUY" else "sell"
        position[f"{side}_quantity"] += quantity
        position[f"{side}_value"] += quantity * price
        self.cash += -quantity * price if side == "buy" else quantity * price
        return str(self.trades[-1]["trade_id"])

    def hold(self, exchange: str, symbol: str, quantity: int, average: Decimal, t1: int = 0) -> None:
        with self.lock:
            self.holdings[(exchange, symbol)] = {"quantity": Decimal(quantity), "t1": Decimal(t1), "average": average}

    # ---- bookkeeping ----

    def _set(self, order: Json, **changes: Any) -> None:
        order.update(changes)
        self._record(order)

    def _record(self, order: Json) -> None:
        entry = {k: v for k, v in order.items() if k != "modifications"}
        self.history[order["order_id"]].append(entry)
