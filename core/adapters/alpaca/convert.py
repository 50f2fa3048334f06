"""Translation between Alpaca's JSON and StratForge's broker types.

The adapter asks alpaca-py for raw JSON (``raw_data=True``) instead of its pydantic
models because ``TradeUpdate`` turns ``price``/``qty``/``position_qty`` into floats;
reading Alpaca's decimal strings straight into ``Decimal`` keeps cents exact, and one
converter then serves both REST responses and stream messages.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, overload

from alpaca.trading.enums import OrderClass as AlpacaOrderClass
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
)
from alpaca.trading.requests import OrderRequest as AlpacaOrderRequest

from core.domain.orders import (
    Account,
    Asset,
    BrokerOrder,
    BrokerPosition,
    Clock,
    OrderClass,
    OrderEvent,
    OrderEventType,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)

log = logging.getLogger(__name__)

Json = Mapping[str, Any]

# Alpaca has more statuses than the ledger needs; fold the rest onto the nearest of ours.
_STATUS_ALIASES = {
    "accepted": OrderStatus.PENDING_NEW,
    "accepted_for_bidding": OrderStatus.PENDING_NEW,
    "pending_replace": OrderStatus.NEW,
    "calculated": OrderStatus.NEW,
    "stopped": OrderStatus.NEW,
    "suspended": OrderStatus.NEW,
    "done_for_day": OrderStatus.NEW,
    # Superseded by its replacement: a REPLACED event, or get_order_by_client_id following ``replaced_by``, says
    # which order carries on; read alone, the old order is done.
    "replaced": OrderStatus.CANCELED,
}
_TYPE_ALIASES = {"trailing_stop": OrderType.STOP}
_TIF_ALIASES = {"opg": TimeInForce.DAY, "cls": TimeInForce.DAY}
_FRACTION = re.compile(r"\.(\d{6})\d+")  # Alpaca may send nanoseconds; datetime holds microseconds


def dec(value: Any) -> Decimal | None:
    """Alpaca's decimal strings (or a stray number) to Decimal; empty means absent."""
    if value is None or value == "":
        return None
    return Decimal(str(value))


def parse_time(value: str) -> datetime:
    """An Alpaca RFC 3339 timestamp as an aware UTC datetime."""
    text = _FRACTION.sub(r".\1", value.strip()).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def order_status(value: str) -> OrderStatus:
    try:
        return OrderStatus(value)
    except ValueError:
        if value not in _STATUS_ALIASES:
            log.warning("unknown Alpaca order status %r, treated as new", value)
        return _STATUS_ALIASES.get(value, OrderStatus.NEW)


def to_broker_order(data: Json, parent_id: str | None = None, parents: dict[str, str] | None = None) -> BrokerOrder:
    """An Alpaca order object (legs nested or not) as a BrokerOrder.

    ``parents`` remembers leg id -> parent id across calls: Alpaca's leg objects do
    not name their parent, so a stream event for a leg could not say which bracket it
    belongs to unless the parent was seen before (it always is: we submitted it).
    """
    order_id = str(data["id"])
    if parents is not None:
        parent_id = parent_id or parents.get(order_id)
    legs = tuple(to_broker_order(leg, parent_id=order_id, parents=parents) for leg in data.get("legs") or ())
    if parents is not None:
        for leg in legs:
            parents[leg.id] = order_id
    kind = data.get("type") or data.get("order_type") or "market"
    tif = data.get("time_in_force") or "day"
    submitted = parse_time(data.get("submitted_at") or data["created_at"])
    return BrokerOrder(
        id=order_id,
        client_order_id=str(data["client_order_id"]),
        symbol=str(data.get("symbol") or ""),
        side=OrderSide(data.get("side") or "buy"),
        qty=dec(data.get("qty")) or Decimal("0"),
        type=_TYPE_ALIASES.get(kind) or OrderType(kind),
        time_in_force=_TIF_ALIASES.get(tif) or TimeInForce(tif),
        status=order_status(str(data["status"])),
        filled_qty=dec(data.get("filled_qty")) or Decimal("0"),
        filled_avg_price=dec(data.get("filled_avg_price")),
        submitted_at=submitted,
        updated_at=parse_time(data["updated_at"]) if data.get("updated_at") else submitted,
        limit_price=dec(data.get("limit_price")),
        stop_price=dec(data.get("stop_price")),
        order_class=OrderClass.BRACKET if data.get("order_class") == "bracket" else OrderClass.SIMPLE,
        parent_id=parent_id,
        legs=legs,
    )


def to_order_event(
    data: Json, parents: dict[str, str] | None = None, fetch_order: Callable[[str], Json] | None = None
) -> OrderEvent | None:
    """The ``data`` of a trade_updates message as an OrderEvent.

    Returns None for Alpaca events the ledger has no type for (pending_new,
    done_for_day, order_cancel_rejected...): they change no fills and no
    terminal state the ledger tracks. Everything else is passed on as is, duplicates
    included; the ledger dedupes by execution id.

    ``replaced``: Alpaca's ``order`` is the old order and its ``replaced_by`` only the new order's id, so the new
    order is read with ``fetch_order(id)`` (GET /v2/orders/{id}); a whole order object there is used as it is.
    """
    if data.get("event") == OrderEventType.REPLACED:
        return _replaced_event(data, parents, fetch_order)
    try:
        kind = OrderEventType(data["event"])
    except ValueError:
        log.debug("ignoring Alpaca trade update %r", data.get("event"))
        return None
    order = to_broker_order(data["order"], parents=parents)
    execution_id = data.get("execution_id")
    timestamp = data.get("timestamp")
    return OrderEvent(
        type=kind,
        order=order,
        timestamp=parse_time(timestamp) if timestamp else order.updated_at,
        execution_id=str(execution_id) if execution_id else None,
        price=dec(data.get("price")),
        qty=dec(data.get("qty")),
        reason=data.get("reason") or None,
    )


def _replaced_event(
    data: Json, parents: dict[str, str] | None, fetch_order: Callable[[str], Json] | None
) -> OrderEvent | None:
    old_json = data["order"]
    old = to_broker_order(old_json, parents=parents)
    ref = old_json.get("replaced_by")
    if not ref:
        log.warning("Alpaca replaced order %s without naming its replacement; ignored", old.id)
        return None
    if isinstance(ref, Mapping):
        new = to_broker_order(ref, parents=parents)
    else:
        new = _fetch_replacement(old_json, str(ref), parents, fetch_order)
    timestamp = data.get("timestamp")
    return OrderEvent(
        type=OrderEventType.REPLACED,
        order=old,
        timestamp=parse_time(timestamp) if timestamp else old.updated_at,
        replaced_by=new,
    )


def _fetch_replacement(
    old_json: Json, new_id: str, parents: dict[str, str] | None, fetch_order: Callable[[str], Json] | None
) -> BrokerOrder:
    """The replacing order over REST; when that fails, the old order's terms under the new id.

    The new id is what matters most (the replacement's later events are booked by it); its size and prices are
    corrected by the replacement's next event or the next settlement.
    """
    if fetch_order is not None:
        try:
            return to_broker_order(fetch_order(new_id), parents=parents)
        except Exception as exc:  # a failed read must not lose the replacement's id
            log.warning("could not read Alpaca's replacement order %s: %s; using the old order's terms", new_id, exc)
    fallback = {**old_json, "id": new_id, "status": "new", "replaced_by": None, "replaces": old_json.get("id")}
    return to_broker_order(fallback, parents=parents)


def to_account(data: Json) -> Account:
    return Account(
        id=str(data["id"]),
        status=str(data.get("status") or ""),
        cash=dec(data.get("cash")) or Decimal("0"),
        buying_power=dec(data.get("buying_power")) or Decimal("0"),
        equity=dec(data.get("equity")) or Decimal("0"),
    )


def to_position(data: Json) -> BrokerPosition:
    return BrokerPosition(
        symbol=str(data["symbol"]),
        qty=dec(data["qty"]) or Decimal("0"),
        avg_entry_price=dec(data["avg_entry_price"]) or Decimal("0"),
        market_value=dec(data.get("market_value")),
    )


def to_clock(data: Json) -> Clock:
    return Clock(
        timestamp=parse_time(data["timestamp"]),
        is_open=bool(data["is_open"]),
        next_open=parse_time(data["next_open"]),
        next_close=parse_time(data["next_close"]),
    )


def to_asset(data: Json) -> Asset:
    extra = {k: str(data[k]) for k in ("exchange", "status", "class") if k in data}
    return Asset(
        symbol=str(data["symbol"]),
        tradable=bool(data.get("tradable")),
        fractionable=bool(data.get("fractionable")),
        extra=extra,
        # Absent means no: a short sale of an asset Alpaca does not call shortable and easy to borrow is refused.
        shortable=bool(data.get("shortable")),
        easy_to_borrow=bool(data.get("easy_to_borrow")),
    )


@overload
def _num(value: Decimal) -> float: ...


@overload
def _num(value: Decimal | None) -> float | None: ...


def _num(value: Decimal | None) -> float | None:
    """alpaca-py's request models take floats; its JSON encoder writes the shortest repr back."""
    return None if value is None else float(value)


def to_alpaca_request(request: OrderRequest) -> AlpacaOrderRequest:
    """Our OrderRequest as the alpaca-py request model, which validates it before anything is sent."""
    common: dict[str, Any] = {
        "symbol": request.symbol,
        "qty": _num(request.qty),
        "side": request.side.value,
        "time_in_force": request.time_in_force.value,
        "client_order_id": request.client_order_id,
        "extended_hours": request.extended_hours or None,
    }
    if request.order_class is OrderClass.BRACKET:
        if request.take_profit_limit_price is None or request.stop_loss_stop_price is None:
            raise ValueError("a bracket order needs a take-profit limit and a stop-loss stop price")
        common["order_class"] = AlpacaOrderClass.BRACKET
        common["take_profit"] = TakeProfitRequest(limit_price=_num(request.take_profit_limit_price))
        common["stop_loss"] = StopLossRequest(
            stop_price=_num(request.stop_loss_stop_price), limit_price=_num(request.stop_loss_limit_price)
        )
    match request.type:
        case OrderType.MARKET:
            return MarketOrderRequest(**common)
        case OrderType.LIMIT:
            return LimitOrderRequest(limit_price=_num(request.limit_price), **common)
        case OrderType.STOP:
            return StopOrderRequest(stop_price=_num(request.stop_price), **common)
        case OrderType.STOP_LIMIT:
            return StopLimitOrderRequest(
                stop_price=_num(request.stop_price), limit_price=_num(request.limit_price), **common
            )
    raise ValueError(f"unsupported order type {request.type}")
