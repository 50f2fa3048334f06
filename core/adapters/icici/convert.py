"""Breeze's JSON (as breeze_connect returns it) to and from StratForge's broker values, and its errors to ours.

Breeze answers every call with ``{"Success": ..., "Status": 200, "Error": null}``; a refusal has ``Success`` null
and the reason in ``Error`` (there are no error codes: the text is all there is, so ``BrokerRejected`` carries it
verbatim). Its numbers are strings (``"1400.00"``) and its times are India's wall clock (``"08-Dec-2026 09:25"``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core.broker.errors import BrokerRejected, OrderNotFound, RateLimited, SessionExpired
from core.domain.orders import BrokerOrder, OrderSide, OrderStatus, OrderType, TimeInForce
from core.market.india import IST

NO_DATA = "no data found"
TAG_PREFIX = "SF"
TAG_LENGTH = 16  # Breeze's user_remark: alphanumeric, at most 20 characters

# Breeze's order statuses (the SDK's TUX map spells the same set) to the broker-neutral ones.
STATUS_MAP: dict[str, OrderStatus] = {
    "requested": OrderStatus.PENDING_NEW,  # with ICICI, not yet acknowledged by the exchange
    "queued": OrderStatus.PENDING_NEW,
    "freezed": OrderStatus.PENDING_NEW,  # held by ICICI's risk checks (a quantity freeze), still live
    "ordered": OrderStatus.NEW,
    "partially executed": OrderStatus.PARTIALLY_FILLED,
    "executed": OrderStatus.FILLED,
    "cancelled": OrderStatus.CANCELED,
    "partially executed and cancelled": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
    "expired": OrderStatus.EXPIRED,
    "partially executed and expired": OrderStatus.EXPIRED,
}
SESSION_ERRORS = ("session key is expired", "invalid session", "resource not available", "invalid user details")
RATE_ERRORS = ("rate limit", "too many requests", "limit exceeded")


def client_tag(client_order_id: str) -> str:
    """The short tag that carries ``client_order_id`` in Breeze's ``user_remark`` (alphanumeric, ≤ 20 characters).

    A hash rather than a counter, so that the same client order id gives the same tag after a restart and
    ``get_order_by_client_id`` finds the order without any stored mapping.
    """
    digest = hashlib.sha256(client_order_id.encode("utf-8")).digest()
    body = base64.b32encode(digest).decode("ascii").rstrip("=")
    return (TAG_PREFIX + body)[:TAG_LENGTH]


def success(response: Any, what: str) -> Any:
    """``Success`` of a Breeze answer, or the matching broker error."""
    if not isinstance(response, Mapping):
        raise BrokerRejected(f"ICICI Direct gave no answer to {what}.")
    status = response.get("Status")
    if status == 200 and response.get("Success") is not None:
        return response["Success"]
    error = str(response.get("Error") or "no reason given")
    lowered = error.lower()
    if any(text in lowered for text in SESSION_ERRORS):
        raise SessionExpired(f"Your ICICI Direct session has ended ({error}); log in to ICICI Direct again.")
    if status == 429 or any(text in lowered for text in RATE_ERRORS):
        raise RateLimited(f"ICICI Direct's request limit is reached ({error}); {what} was not sent.", 60.0)
    if NO_DATA in lowered:
        raise OrderNotFound(f"ICICI Direct has no {what}.")
    raise BrokerRejected(f"ICICI Direct refused {what}: {error}")


def rows(response: Any, what: str) -> list[dict[str, Any]]:
    """A list answer (order book, trade book, positions), where Breeze's ``No Data Found`` means empty."""
    try:
        result = success(response, what)
    except OrderNotFound:
        return []
    if isinstance(result, Mapping):
        return [dict(result)]
    return [dict(row) for row in result or [] if isinstance(row, Mapping)]


def decimal(value: Any, default: Decimal = Decimal("0")) -> Decimal:
    if value is None or value == "":
        return default
    try:
        return Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        return default


def ist_time(text: Any) -> datetime | None:
    """``"08-Dec-2026 09:25"`` / ``"08-Dec-2026 09:25:13"`` (India time) as aware UTC; None when absent."""
    if not text:
        return None
    for pattern in ("%d-%b-%Y %H:%M:%S", "%d-%b-%Y %H:%M", "%d-%b-%Y"):
        try:
            return datetime.strptime(str(text).strip(), pattern).replace(tzinfo=IST).astimezone(UTC)
        except ValueError:
            continue
    return None


def order_status(text: Any) -> OrderStatus:
    return STATUS_MAP.get(str(text or "").strip().lower(), OrderStatus.NEW)


def order_type(row: Mapping[str, Any]) -> OrderType:
    kind = str(row.get("order_type") or "").strip().lower()
    if kind == "market":
        return OrderType.MARKET
    if kind == "stoploss":
        return OrderType.STOP_LIMIT if decimal(row.get("price")) > 0 else OrderType.STOP
    return OrderType.LIMIT


def time_in_force(text: Any) -> TimeInForce:
    return TimeInForce.IOC if str(text or "").strip().lower() == "ioc" else TimeInForce.DAY


def filled_quantity(row: Mapping[str, Any]) -> Decimal:
    """Breeze reports what is pending and what was cancelled, not what executed: the rest is the executed part."""
    quantity = decimal(row.get("quantity"))
    left = decimal(row.get("pending_quantity")) + decimal(row.get("cancelled_quantity"))
    status = order_status(row.get("status"))
    if status is OrderStatus.FILLED:
        return quantity
    if status in (OrderStatus.REJECTED,):
        return Decimal("0")
    return max(Decimal("0"), quantity - left)


def broker_order(row: Mapping[str, Any], symbol: str, client_order_id: str, now: datetime) -> BrokerOrder:
    kind = order_type(row)
    filled = filled_quantity(row)
    average = decimal(row.get("average_price"))
    placed = ist_time(row.get("order_datetime")) or now
    price = decimal(row.get("price"))
    trigger = decimal(row.get("stoploss"))
    return BrokerOrder(
        id=str(row["order_id"]),
        client_order_id=client_order_id,
        symbol=symbol,
        side=OrderSide.BUY if str(row.get("action", "")).lower().startswith("b") else OrderSide.SELL,
        qty=decimal(row.get("quantity")),
        type=kind,
        time_in_force=time_in_force(row.get("validity")),
        status=order_status(row.get("status")),
        filled_qty=filled,
        filled_avg_price=average if filled > 0 and average > 0 else None,
        submitted_at=placed,
        updated_at=now,
        limit_price=price if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) and price > 0 else None,
        stop_price=trigger if kind in (OrderType.STOP, OrderType.STOP_LIMIT) and trigger > 0 else None,
    )


def execution_id(order_id: str, trade: Mapping[str, Any]) -> str:
    """``icici:<order id>:<trade id>``: ICICI's trade id is unique within an order; the order id (which carries
    the date and exchange) makes it unique for good, and the prefix keeps it apart from every other venue's."""
    trade_id = str(trade.get("trade_id") or trade.get("exchange_trade_id") or "").strip()
    if not trade_id:
        raise BrokerRejected(f"ICICI Direct reported a trade of order {order_id} without a trade id.")
    return f"icici:{order_id}:{trade_id}"
