"""The paper account behind the stand-in: orders, positions, cash, and the trade updates they cause.

Nothing here happens by time: orders rest as "new" until a test calls ``fill``,
``reject``, ``cancel``, ``expire`` or ``replace``, so every test is deterministic (the one
exception is asked for by name: ``reject_next_orders`` rejects after a delay). Every state
change returns (and hands to ``publish``) the trade-update payloads Alpaca would
stream, shaped as on the wire: ``{"event", "execution_id", "order", "timestamp",
"price", "qty", "position_qty"}`` with money and quantities as strings.

A strict account (the default) refuses what Alpaca refuses account-wide (``rules.py``), with
Alpaca's statuses, codes and messages, and counts each refusal by rule.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.alpaca_standin import rules

OPEN_STATUSES = frozenset({"new", "partially_filled", "held", "accepted", "pending_new"})
START_CASH = Decimal("100000")
REPLACEABLE_STATUSES = frozenset({"new", "accepted", "pending_new"})

Json = dict[str, Any]


class ApiError(Exception):
    """An Alpaca-style error: HTTP status plus the JSON ``{"code", "message"}`` body."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def now_iso() -> str:
    """Alpaca's timestamp format: RFC 3339 in UTC with microseconds and a Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dec_str(value: Decimal | None) -> str | None:
    """Alpaca sends numbers as strings; normalise so ``Decimal("10.0")`` goes out as ``"10"``."""
    if value is None:
        return None
    return format(value.normalize(), "f")


def to_decimal(value: Any) -> Decimal | None:
    """alpaca-py posts qty/prices as JSON floats; ``str()`` first so 0.1 stays 0.1."""
    if value is None:
        return None
    return Decimal(str(value))


@dataclass
class StandInOrder:
    """One order as the stand-in holds it; ``to_json`` renders Alpaca's order object."""

    id: str
    client_order_id: str
    symbol: str
    side: str
    qty: Decimal
    type: str
    time_in_force: str
    order_class: str = "simple"
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    extended_hours: bool = False
    status: str = "new"
    filled_qty: Decimal = Decimal("0")
    filled_avg_price: Decimal | None = None
    parent_id: str | None = None
    leg_ids: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = ""
    submitted_at: str = ""
    filled_at: str | None = None
    canceled_at: str | None = None
    expired_at: str | None = None
    failed_at: str | None = None
    replaced_at: str | None = None
    replaced_by: str | None = None
    replaces: str | None = None

    def __post_init__(self) -> None:
        self.updated_at = self.updated_at or self.created_at
        self.submitted_at = self.submitted_at or self.created_at

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def to_json(self, legs: list[Json] | None) -> Json:
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "submitted_at": self.submitted_at,
            "filled_at": self.filled_at,
            "expired_at": self.expired_at,
            "canceled_at": self.canceled_at,
            "failed_at": self.failed_at,
            "replaced_at": self.replaced_at,
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": asset_id(self.symbol),
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": None,
            "qty": dec_str(self.qty),
            "filled_qty": dec_str(self.filled_qty),
            "filled_avg_price": dec_str(self.filled_avg_price),
            "order_class": "" if self.order_class == "simple" else self.order_class,  # Alpaca's simple is ""
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "time_in_force": self.time_in_force,
            "limit_price": dec_str(self.limit_price),
            "stop_price": dec_str(self.stop_price),
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": legs,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
        }


def asset_id(symbol: str) -> str:
    """A stable fake asset UUID per symbol, so repeated calls agree."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"standin-asset:{symbol}"))


@dataclass
class StandInAsset:
    symbol: str
    tradable: bool = True
    fractionable: bool = True
    shortable: bool = True
    easy_to_borrow: bool = True

    def to_json(self) -> Json:
        return {
            "id": asset_id(self.symbol),
            "class": "us_equity",
            "exchange": "NASDAQ",
            "symbol": self.symbol,
            "name": f"{self.symbol} (stand-in)",
            "status": "active",
            "tradable": self.tradable,
            "marginable": True,
            "shortable": self.shortable,
            "easy_to_borrow": self.easy_to_borrow,
            "fractionable": self.fractionable,
            "attributes": [],
        }


@dataclass
class _Position:
    qty: Decimal = Decimal("0")
    avg_entry_price: Decimal = Decimal("0")
    last_price: Decimal = Decimal("0")


class PaperAccount:
    """Thread-safe state of one paper account. ``publish`` receives each trade-update payload in order."""

    def __init__(self, publish: Callable[[Json], None], strict: bool = True) -> None:
        self._publish = publish
        self._lock = threading.RLock()
        self.strict = strict  # False: accept what Alpaca refuses account-wide, to measure the naive path
        self.id = str(uuid.uuid4())
        self.account_number = "PA" + self.id.replace("-", "")[:10].upper()
        self.cash = START_CASH
        self.clock_open = True
        self.orders: dict[str, StandInOrder] = {}
        self._by_client_id: dict[str, str] = {}
        self._positions: dict[str, _Position] = {}
        self.assets: dict[str, StandInAsset] = {s: StandInAsset(s) for s in ("AAPL", "MSFT", "SPY", "TSLA", "QQQ")}
        self.rule_rejections: Counter[str] = Counter({rule: 0 for rule in rules.RULES})
        self._rejections_to_come: list[tuple[str, float]] = []  # (reason, delay_s) for the next accepted orders
        self._timers: list[threading.Timer] = []
        self._closed = False
        from tests.alpaca_standin.market_data import StandInBars  # it imports ApiError from here

        self.market = StandInBars()  # what GET /v2/stocks/bars serves

    def rule_rejection_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.rule_rejections)

    def close(self) -> None:
        """Cancel the delayed rejections still waiting, so none fires after the stand-in stopped."""
        with self._lock:
            self._closed = True
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()

    # ---- REST-facing operations (raise ApiError like Alpaca would) ----

    def submit(self, body: Json) -> Json:
        """POST /v2/orders: validate, judge against the account's rules, store and answer "accepted".

        Alpaca answers a new order ``accepted`` (or ``pending_new``), never ``new``: the ``new``
        trade update follows (here: at once, before the HTTP answer leaves). Bracket legs are "held".
        """
        with self._lock:
            symbol = str(body.get("symbol", "")).upper()
            asset = self.assets.get(symbol)
            if asset is None:
                raise ApiError(422, 42210000, f'asset "{symbol}" not found')
            if not asset.tradable:
                raise ApiError(422, 42210000, f"{symbol} is not tradable")
            qty = to_decimal(body.get("qty"))
            if qty is None or qty <= 0:
                raise ApiError(422, 40010001, "qty must be > 0")
            client_id = body.get("client_order_id") or str(uuid.uuid4())
            if client_id in self._by_client_id:
                raise ApiError(422, 40010001, "client_order_id must be unique")
            limit_price = to_decimal(body.get("limit_price"))
            side = body.get("side", "buy")
            order = StandInOrder(
                id=str(uuid.uuid4()),
                client_order_id=client_id,
                symbol=symbol,
                side=side,
                qty=qty,
                type=body.get("type", "market"),
                time_in_force=body.get("time_in_force", "day"),
                order_class=body.get("order_class") or "simple",
                limit_price=limit_price,
                stop_price=to_decimal(body.get("stop_price")),
                extended_hours=bool(body.get("extended_hours")),
                status="accepted",
            )
            legs = self._bracket_legs(order, body) if order.order_class == "bracket" else []
            self._judge(order, legs)
            if side == "buy" and limit_price is not None and qty * limit_price > self.cash:
                self.rule_rejections["buying_power"] += 1
                raise ApiError(403, 40310000, "insufficient buying power")
            order.leg_ids = [leg.id for leg in legs]
            for stored in (order, *legs):
                self._store(stored)
            answer = self.order_json(order.id, nested=True)
            if self._rejections_to_come:
                self._reject_later(order.id, *self._rejections_to_come.pop(0))
            else:
                self._accept(order)
            return answer

    def _judge(self, order: StandInOrder, legs: list[StandInOrder], replacing: StandInOrder | None = None) -> None:
        """Raise Alpaca's refusal for the first account-wide rule ``order`` breaks (strict accounts only)."""
        if not self.strict:
            return
        priced = [("", order), *zip(("take_profit.", "stop_loss."), legs, strict=False)]
        prices = [
            (f"{prefix}{name}", price)
            for prefix, o in priced
            for name, price in (("limit_price", o.limit_price), ("stop_price", o.stop_price))
            if price is not None
        ]
        candidate = rules.NewOrder(
            symbol=order.symbol,
            side=order.side,
            qty=order.qty,
            type=order.type,
            order_class=order.order_class,
            limit_price=order.limit_price,
            prices=tuple(prices),
            is_leg=order.parent_id is not None,
        )
        resting = [
            o
            for o in self.orders.values()
            if o.symbol == order.symbol and o.is_open and (replacing is None or o.id != replacing.id)
        ]
        asset = self.assets[order.symbol]
        refusal = rules.check(
            candidate,
            self._positions.get(order.symbol, _Position()).qty,
            resting,
            rules.Asset(asset.symbol, asset.shortable, asset.easy_to_borrow),
        )
        if refusal is not None:
            self.rule_rejections[refusal.rule] += 1
            raise ApiError(refusal.status, refusal.code, refusal.message)

    def _accept(self, order: StandInOrder) -> None:
        order.status = "new"
        order.updated_at = now_iso()
        self._emit("new", order)

    def _reject_later(self, order_id: str, reason: str, delay_s: float) -> None:
        def reject() -> None:
            with self._lock:
                if self._closed or not self.orders[order_id].is_open:
                    return  # canceled meanwhile, or the stand-in stopped
                self.reject(order_id, reason)

        timer = threading.Timer(delay_s, reject)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def reject_next_orders(self, count: int, reason: str = "rejected by the stand-in", delay_s: float = 0.5) -> None:
        """The next ``count`` orders that pass the rules are answered "accepted", get no "new" update, and are
        rejected ``delay_s`` later (a ``rejected`` update), as paper trading rejects after acceptance."""
        with self._lock:
            self._rejections_to_come.extend([(reason, delay_s)] * count)

    def replace(
        self,
        order_id: str,
        qty: Decimal | str | None = None,
        limit_price: Decimal | str | None = None,
        stop_price: Decimal | str | None = None,
        time_in_force: str | None = None,
        client_order_id: str | None = None,
    ) -> Json:
        """PATCH /v2/orders/{id}: a new order takes the old one's place; answers the new order ("accepted").

        The old order becomes ``replaced`` with ``replaced_by`` set and the new one carries ``replaces``.
        Two trade updates follow, as Alpaca sends them: ``replaced`` whose ``order`` is the OLD order (its
        old price, ``replaced_by`` naming the new one), then ``new`` for the new order. The new order is
        judged by the account's rules as if the old one were gone. Only unfilled working orders are
        replaceable here (Alpaca also replaces partially filled ones; no test needs that yet).
        """
        with self._lock:
            old = self.get(order_id)
            if old.status not in REPLACEABLE_STATUSES:
                raise ApiError(422, 42210000, f"order is {old.status}, not replaceable")
            asked_qty = to_decimal(qty)
            new_qty = old.qty if asked_qty is None else asked_qty
            new_limit = to_decimal(limit_price) or old.limit_price
            new_stop = to_decimal(stop_price) or old.stop_price
            new_tif = time_in_force or old.time_in_force
            if (new_qty, new_limit, new_stop, new_tif) == (old.qty, old.limit_price, old.stop_price, old.time_in_force):
                raise ApiError(403, 40310000, "order parameters are not changed")
            if new_qty <= 0:
                raise ApiError(422, 40010001, "qty must be > 0")
            new_client_id = client_order_id or str(uuid.uuid4())
            if new_client_id in self._by_client_id:
                raise ApiError(422, 40010001, "client_order_id must be unique")
            new = StandInOrder(
                id=str(uuid.uuid4()),
                client_order_id=new_client_id,
                symbol=old.symbol,
                side=old.side,
                qty=new_qty,
                type=old.type,
                time_in_force=new_tif,
                order_class=old.order_class,
                limit_price=new_limit,
                stop_price=new_stop,
                extended_hours=old.extended_hours,
                status="accepted",
                parent_id=old.parent_id,
                leg_ids=list(old.leg_ids),
                replaces=old.id,
            )
            self._judge(new, [], replacing=old)  # its legs' prices were judged when the bracket was placed
            self._store(new)
            answer = self.order_json(new.id)
            old.status, old.replaced_by = "replaced", new.id
            old.updated_at = old.replaced_at = now_iso()
            old.leg_ids = []
            for leg_id in new.leg_ids:
                self.orders[leg_id].parent_id = new.id
            if old.parent_id is not None:
                siblings = self.orders[old.parent_id].leg_ids
                siblings[siblings.index(old.id)] = new.id
            self._emit("replaced", old)
            self._accept(new)
            return answer

    def _bracket_legs(self, parent: StandInOrder, body: Json) -> list[StandInOrder]:
        take_profit = body.get("take_profit") or {}
        stop_loss = body.get("stop_loss") or {}
        if "limit_price" not in take_profit or "stop_price" not in stop_loss:
            raise ApiError(422, 40010001, "bracket orders need take_profit.limit_price and stop_loss.stop_price")
        exit_side = "sell" if parent.side == "buy" else "buy"
        common = {
            "client_order_id": str(uuid.uuid4()),
            "symbol": parent.symbol,
            "side": exit_side,
            "qty": parent.qty,
            "time_in_force": parent.time_in_force,
            "status": "held",
            "parent_id": parent.id,
        }
        tp = StandInOrder(
            id=str(uuid.uuid4()), type="limit", limit_price=to_decimal(take_profit["limit_price"]), **common
        )
        common["client_order_id"] = str(uuid.uuid4())
        sl_limit = to_decimal(stop_loss.get("limit_price"))
        sl = StandInOrder(
            id=str(uuid.uuid4()),
            type="stop_limit" if sl_limit is not None else "stop",
            stop_price=to_decimal(stop_loss["stop_price"]),
            limit_price=sl_limit,
            **common,
        )
        return [tp, sl]

    def _store(self, order: StandInOrder) -> None:
        self.orders[order.id] = order
        self._by_client_id[order.client_order_id] = order.id

    def get(self, order_id: str) -> StandInOrder:
        with self._lock:
            order = self.orders.get(order_id)
            if order is None:
                raise ApiError(404, 40410000, "order not found")
            return order

    def get_by_client_id(self, client_order_id: str) -> StandInOrder:
        with self._lock:
            order_id = self._by_client_id.get(client_order_id)
            if order_id is None:
                raise ApiError(404, 40410000, "order not found")
            return self.orders[order_id]

    def order_json(self, order_id: str, nested: bool = True) -> Json:
        """An order as Alpaca renders it; brackets carry their legs nested (GET by id always nests)."""
        with self._lock:
            order = self.get(order_id)
            legs = [self.orders[leg_id].to_json(None) for leg_id in order.leg_ids] if nested and order.leg_ids else None
            return order.to_json(legs)

    def list_orders(self, status: str = "open", limit: int = 50, nested: bool = False, **filters: Any) -> list[Json]:
        """GET /v2/orders: newest first; with ``nested`` legs sit inside their parent only."""
        with self._lock:
            symbols = {s.upper() for s in filters.get("symbols") or []}
            side = filters.get("side")
            out = []
            for order in reversed(list(self.orders.values())):
                if nested and order.parent_id is not None:
                    continue
                if (status == "open" and not order.is_open) or (status == "closed" and order.is_open):
                    continue
                if (symbols and order.symbol not in symbols) or (side and order.side != side):
                    continue
                out.append(self.order_json(order.id, nested=nested))
            return out[:limit]

    def request_cancel(self, order_id: str) -> None:
        """DELETE /v2/orders/{id}: 422 when the order can no longer be canceled."""
        with self._lock:
            order = self.get(order_id)
            if not order.is_open:
                raise ApiError(422, 42210000, "order is not cancelable")
            self.cancel(order_id)

    def cancel_all(self) -> list[Json]:
        with self._lock:
            ids = [o.id for o in self.orders.values() if o.is_open and o.parent_id is None]
            for order_id in ids:
                self.cancel(order_id)
            return [{"id": i, "status": 200, "body": self.order_json(i)} for i in ids]

    def account_json(self) -> Json:
        with self._lock:
            values = [p.qty * p.last_price for p in self._positions.values()]
            long_value = sum((v for v in values if v > 0), Decimal("0"))
            short_value = sum((v for v in values if v < 0), Decimal("0"))
            equity = self.cash + long_value + short_value
            return {
                "id": self.id,
                "account_number": self.account_number,
                "status": "ACTIVE",
                "crypto_status": "ACTIVE",
                "currency": "USD",
                "cash": dec_str(self.cash),
                "buying_power": dec_str(self.cash),
                "regt_buying_power": dec_str(self.cash),
                "daytrading_buying_power": dec_str(self.cash),
                "non_marginable_buying_power": dec_str(self.cash),
                "equity": dec_str(equity),
                "last_equity": dec_str(START_CASH),
                "portfolio_value": dec_str(equity),
                "long_market_value": dec_str(long_value),
                "short_market_value": dec_str(short_value),
                "initial_margin": "0",
                "maintenance_margin": "0",
                "last_maintenance_margin": "0",
                "sma": "0",
                "multiplier": "1",
                "daytrade_count": 0,
                "pattern_day_trader": False,
                "trading_blocked": False,
                "transfers_blocked": False,
                "account_blocked": False,
                "trade_suspended_by_user": False,
                "shorting_enabled": True,
                "accrued_fees": "0",
                "pending_transfer_in": "0",
                "created_at": "2026-01-02T14:30:00Z",
            }

    def positions_json(self) -> list[Json]:
        with self._lock:
            return [self._position_json(s, p) for s, p in sorted(self._positions.items()) if p.qty != 0]

    def position_json(self, symbol: str) -> Json:
        with self._lock:
            position = self._positions.get(symbol.upper())
            if position is None or position.qty == 0:
                raise ApiError(404, 40410000, "position does not exist")
            return self._position_json(symbol.upper(), position)

    def positions(self) -> dict[str, Decimal]:
        """Signed quantity per symbol held (short: negative), for reconciliation tests."""
        with self._lock:
            return {s: p.qty for s, p in sorted(self._positions.items()) if p.qty != 0}

    def _position_json(self, symbol: str, p: _Position) -> Json:
        closing_side = "sell" if p.qty > 0 else "buy"
        held = rules.reserved(closing_side, [o for o in self.orders.values() if o.symbol == symbol])
        available = max(abs(p.qty) - held, Decimal("0"))
        cost_basis = abs(p.qty) * p.avg_entry_price
        market_value = p.qty * p.last_price
        return {
            "asset_id": asset_id(symbol),
            "symbol": symbol,
            "exchange": "NASDAQ",
            "asset_class": "us_equity",
            "avg_entry_price": dec_str(p.avg_entry_price),
            "qty": dec_str(p.qty),
            "qty_available": dec_str(available if p.qty > 0 else -available),
            "side": "long" if p.qty > 0 else "short",
            "market_value": dec_str(market_value),
            "cost_basis": dec_str(cost_basis),
            "unrealized_pl": dec_str(market_value - p.qty * p.avg_entry_price),
            "current_price": dec_str(p.last_price),
        }

    def asset_json(self, symbol: str) -> Json:
        with self._lock:
            asset = self.assets.get(symbol.upper())
            if asset is None:
                raise ApiError(404, 40410000, "asset not found")
            return asset.to_json()

    # ---- test control: the market's side of the story ----

    def fill(self, order_id: str, qty: Decimal | str | None = None, price: Decimal | str = "100") -> Json:
        """Execute ``qty`` (default: all that remains) at ``price``; emits partial_fill or fill."""
        with self._lock:
            order = self.get(order_id)
            if order.status not in ("new", "partially_filled"):
                raise ValueError(f"order {order_id} is {order.status}, not fillable")
            remaining = order.qty - order.filled_qty
            fill_qty = remaining if qty is None else Decimal(str(qty))
            fill_price = Decimal(str(price))
            if not 0 < fill_qty <= remaining:
                raise ValueError(f"fill qty {fill_qty} outside (0, {remaining}]")
            previous_cost = (order.filled_avg_price or Decimal("0")) * order.filled_qty
            order.filled_qty += fill_qty
            order.filled_avg_price = (previous_cost + fill_qty * fill_price) / order.filled_qty
            done = order.filled_qty == order.qty
            order.status = "filled" if done else "partially_filled"
            order.updated_at = now_iso()
            if done:
                order.filled_at = order.updated_at
            position_qty = self._apply_to_position(order.symbol, order.side, fill_qty, fill_price)
            event = self._emit(
                "fill" if done else "partial_fill",
                order,
                execution_id=str(uuid.uuid4()),
                price=fill_price,
                qty=fill_qty,
                position_qty=position_qty,
            )
            if done:
                self._after_fill(order)
            return event

    def _apply_to_position(self, symbol: str, side: str, qty: Decimal, price: Decimal) -> Decimal:
        signed = qty if side == "buy" else -qty
        self.cash -= signed * price
        p = self._positions.setdefault(symbol, _Position())
        new_qty = p.qty + signed
        if p.qty == 0 or (p.qty > 0) == (signed > 0):  # opening or adding: average in
            p.avg_entry_price = (p.qty * p.avg_entry_price + signed * price) / new_qty
        elif new_qty != 0 and (new_qty > 0) != (p.qty > 0):  # flipped through zero
            p.avg_entry_price = price
        p.qty = new_qty
        p.last_price = price
        return new_qty

    def _after_fill(self, order: StandInOrder) -> None:
        """A filled bracket parent activates its legs; a filled leg cancels its sibling (OCO)."""
        if order.leg_ids:
            for leg_id in order.leg_ids:
                leg = self.orders[leg_id]
                if leg.status == "held":
                    leg.status = "new"
                    leg.updated_at = now_iso()
                    self._emit("new", leg)
        if order.parent_id is not None:
            parent = self.orders[order.parent_id]
            for sibling_id in parent.leg_ids:
                if sibling_id != order.id and self.orders[sibling_id].is_open:
                    self.cancel(sibling_id)

    def cancel(self, order_id: str) -> Json:
        """Cancel an open order (and the held legs of an unfilled bracket); emits canceled."""
        return self._finish(order_id, "canceled", "canceled_at")

    def expire(self, order_id: str) -> Json:
        return self._finish(order_id, "expired", "expired_at")

    def reject(self, order_id: str, reason: str = "rejected by the stand-in") -> Json:
        """Rejection after acceptance, as paper trading does. Alpaca's event carries no reason; it is logged only."""
        del reason  # kept in the signature so tests read well; the wire has no field for it
        return self._finish(order_id, "rejected", "failed_at")

    def _finish(self, order_id: str, status: str, stamp: str) -> Json:
        with self._lock:
            order = self.get(order_id)
            if not order.is_open:
                raise ValueError(f"order {order_id} is already {order.status}")
            order.status = status
            order.updated_at = now_iso()
            setattr(order, stamp, order.updated_at)
            event = self._emit(status, order)
            for leg_id in order.leg_ids:
                if self.orders[leg_id].is_open:
                    self._finish(leg_id, status if status != "rejected" else "canceled", "canceled_at")
            return event

    def _emit(self, event: str, order: StandInOrder, **extra: Any) -> Json:
        payload: Json = {"event": event, "timestamp": order.updated_at, "order": self.order_json(order.id)}
        if extra:
            payload["execution_id"] = extra["execution_id"]
            payload["price"] = dec_str(extra["price"])
            payload["qty"] = dec_str(extra["qty"])
            payload["position_qty"] = dec_str(extra["position_qty"])
        self._publish(payload)
        return payload
