"""Angel One's order-book and trade-book rows as StratForge values, and OrderRequests as Angel's order params.

Angel's JSON is all strings (``"price": "1500.05"``, ``"quantity": "10"``); its order book says ``"open"`` for a
partly filled order too, so the status is read with ``filledshares``. Times are India's (``"08-Dec-2026 10:15:03"``
in ``updatetime``, ``"10:15:03"`` in the trade book's ``filltime``).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core.domain.orders import BrokerOrder, OrderSide, OrderStatus, OrderType, TimeInForce
from core.market.india import IST

Json = dict[str, Any]

TAG_PREFIX = "SF"
TAG_LENGTH = 18  # Angel: "ordertag length should be less than 20 characters" (AB4008); letters and digits only
EXECUTION_PREFIX = "angel:"

ORDER_TYPES = {
    OrderType.MARKET: ("NORMAL", "MARKET"),
    OrderType.LIMIT: ("NORMAL", "LIMIT"),
    OrderType.STOP: ("STOPLOSS", "STOPLOSS_MARKET"),  # Angel's SL-M
    OrderType.STOP_LIMIT: ("STOPLOSS", "STOPLOSS_LIMIT"),  # Angel's SL
}
FROM_ORDER_TYPE = {angel: ours for ours, (_, angel) in ORDER_TYPES.items()}
PRODUCTS = {"CNC": "DELIVERY", "MIS": "INTRADAY"}

PENDING_STATUSES = frozenset(
    {"put order req received", "validation pending", "open pending", "after market order req received"}
)
WORKING_STATUSES = frozenset(
    {"open", "trigger pending", "modified", "modify pending", "modify validation pending", "not modified",
     "not cancelled", "amo req received"}
)  # fmt: skip
STATUS = {
    "cancel pending": OrderStatus.PENDING_CANCEL,
    "cancelled": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
    "complete": OrderStatus.FILLED,
}


def order_tag(client_order_id: str) -> str:
    """A short, stable tag for ``client_order_id`` (same id, same tag, in any process): ``SF`` + 16 base32 chars."""
    digest = hashlib.sha256(client_order_id.encode()).digest()
    return TAG_PREFIX + base64.b32encode(digest).decode()[: TAG_LENGTH - len(TAG_PREFIX)]


def is_our_tag(tag: str | None) -> bool:
    return bool(tag) and len(str(tag)) == TAG_LENGTH and str(tag).startswith(TAG_PREFIX)


def decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value).strip() or "0")
    except InvalidOperation:
        return Decimal(0)


def price_text(value: Decimal | None) -> str:
    return "0" if value is None else format(value.normalize(), "f")


def to_status(row: Json) -> OrderStatus:
    text = str(row.get("orderstatus") or row.get("status") or "").strip().lower()
    filled = decimal(row.get("filledshares"))
    if text in STATUS:
        return STATUS[text]
    if text in PENDING_STATUSES:
        return OrderStatus.PENDING_NEW
    # "open", "trigger pending", the modify states, and anything new: still working
    return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.NEW


def parse_time(text: Any) -> datetime | None:
    for fmt in ("%d-%b-%Y %H:%M:%S", "%d-%m-%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(str(text).strip(), fmt).replace(tzinfo=IST).astimezone(UTC)
        except ValueError:
            continue
    return None


def to_broker_order(row: Json, *, symbol: str, client_order_id: str, now: datetime) -> BrokerOrder:
    """One order-book row; ``symbol`` and ``client_order_id`` are StratForge's (the caller maps them)."""
    qty = decimal(row.get("quantity"))
    filled = decimal(row.get("filledshares"))
    average = decimal(row.get("averageprice"))
    order_type = FROM_ORDER_TYPE.get(str(row.get("ordertype") or "").upper(), OrderType.LIMIT)
    updated = parse_time(row.get("updatetime")) or parse_time(row.get("exchorderupdatetime")) or now
    limit = decimal(row.get("price"))
    trigger = decimal(row.get("triggerprice"))
    return BrokerOrder(
        id=str(row.get("orderid")),
        client_order_id=client_order_id,
        symbol=symbol,
        side=OrderSide.BUY if str(row.get("transactiontype")).upper() == "BUY" else OrderSide.SELL,
        qty=qty,
        type=order_type,
        time_in_force=TimeInForce.IOC if str(row.get("duration")).upper() == "IOC" else TimeInForce.DAY,
        status=to_status(row),
        filled_qty=filled,
        filled_avg_price=average if filled > 0 and average > 0 else None,
        submitted_at=updated,
        updated_at=updated,
        limit_price=limit if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and limit > 0 else None,
        stop_price=trigger if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and trigger > 0 else None,
    )


def execution_id(trade: Json) -> str:
    """``angel:<orderid>:<fillid>``: the exchange's trade number is unique per order, the order id per day."""
    return f"{EXECUTION_PREFIX}{trade.get('orderid')}:{trade.get('fillid')}"


def fill_time(trade: Json, now: datetime) -> datetime:
    text = str(trade.get("filltime") or "").strip()
    try:
        clock = datetime.strptime(text, "%H:%M:%S").replace(tzinfo=IST).timetz()
    except ValueError:
        return now
    local_day = now.astimezone(IST).date()
    return datetime.combine(local_day, clock).astimezone(UTC)
