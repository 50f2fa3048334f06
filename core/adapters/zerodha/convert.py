"""Kite's JSON rows <-> StratForge's broker-neutral values.

Kite writes times as ``YYYY-MM-DD HH:MM:SS`` in India's time without a zone (the SDK turns some of them into naive
datetimes and leaves others as strings); they are read as Asia/Kolkata and handed on as aware UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.adapters.zerodha.instruments import to_decimal
from core.broker.errors import NotPlaced
from core.domain.orders import (
    Account,
    BrokerOrder,
    BrokerPosition,
    OrderClass,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from core.market.india import IST, IndianInstrument

log = logging.getLogger(__name__)

Row = Mapping[str, Any]

VARIETY = "regular"
PRODUCTS = ("CNC", "MIS")

ORDER_TYPES: dict[OrderType, str] = {
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "LIMIT",
    OrderType.STOP: "SL-M",
    OrderType.STOP_LIMIT: "SL",
}
FROM_KITE_TYPE = {kite: ours for ours, kite in ORDER_TYPES.items()}
VALIDITIES: dict[TimeInForce, str] = {TimeInForce.DAY: "DAY", TimeInForce.IOC: "IOC"}

# Kite's order statuses (its order book and order history), per its docs' list of states an order goes through.
_WORKING = {"OPEN", "TRIGGER PENDING", "MODIFIED", "MODIFY PENDING", "MODIFY VALIDATION PENDING", "AMO REQ RECEIVED"}
_ENTERING = {"PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING"}
STATUSES: dict[str, OrderStatus] = {
    "COMPLETE": OrderStatus.FILLED,
    "CANCELLED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "CANCEL PENDING": OrderStatus.PENDING_CANCEL,
    "LAPSED": OrderStatus.EXPIRED,  # an after-market order the exchange never took
}


def kite_time(value: Any) -> datetime | None:
    """A Kite timestamp (naive IST datetime or its string) as aware UTC; None when absent or unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - Kite's IST, zone added below
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    local = value.replace(tzinfo=IST) if value.tzinfo is None else value
    return local.astimezone(UTC)


def order_status(row: Row) -> OrderStatus:
    status = str(row.get("status") or "").upper()
    if status in STATUSES:
        return STATUSES[status]
    filled = to_decimal(row.get("filled_quantity") or 0)
    if status in _WORKING:
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.NEW
    if status not in _ENTERING:
        log.warning("Kite order status %r is not one StratForge knows; read as pending", status)
    return OrderStatus.PENDING_NEW


def to_broker_order(row: Row, client_order_id: str, now: datetime) -> BrokerOrder:
    """One order-book (or order-history) row; ``client_order_id`` is what the row's tag stands for."""
    kite_type = str(row.get("order_type") or "MARKET")
    order_type = FROM_KITE_TYPE.get(kite_type, OrderType.MARKET)
    filled = to_decimal(row.get("filled_quantity") or 0)
    average = to_decimal(row.get("average_price") or 0)
    submitted = kite_time(row.get("order_timestamp")) or now
    updated = kite_time(row.get("exchange_update_timestamp")) or kite_time(row.get("exchange_timestamp")) or submitted
    price = to_decimal(row.get("price") or 0)
    trigger = to_decimal(row.get("trigger_price") or 0)
    return BrokerOrder(
        id=str(row["order_id"]),
        client_order_id=client_order_id,
        symbol=f"{row.get('exchange')}:{row.get('tradingsymbol')}",
        side=OrderSide.BUY if str(row.get("transaction_type")).upper() == "BUY" else OrderSide.SELL,
        qty=to_decimal(row.get("quantity") or 0),
        type=order_type,
        time_in_force=TimeInForce.IOC if row.get("validity") == "IOC" else TimeInForce.DAY,
        status=order_status(row),
        filled_qty=filled,
        filled_avg_price=average if filled > 0 and average > 0 else None,
        submitted_at=submitted,
        updated_at=max(updated, submitted),
        limit_price=price if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and price > 0 else None,
        stop_price=trigger if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and trigger > 0 else None,
    )


def refuse_unsupported(request: OrderRequest) -> None:
    """NotPlaced for what NSE/BSE orders through Kite cannot be: said before anything is sent."""
    if request.order_class != OrderClass.SIMPLE:
        raise NotPlaced("Zerodha takes no bracket or linked orders through its API: place a simple order.")
    if request.extended_hours:
        raise NotPlaced("NSE and BSE have no extended hours: Zerodha takes orders for the regular session only.")
    if request.time_in_force not in VALIDITIES:
        raise NotPlaced(
            f"Zerodha takes day and IOC orders only, not {request.time_in_force.value.upper()} "
            "(good-till-cancelled orders are not available through its order API)."
        )
    if request.qty != request.qty.to_integral_value():
        raise NotPlaced(f"Zerodha trades whole shares only, not {request.qty}.")


@dataclass(frozen=True)
class PlaceParams:
    """``KiteConnect.place_order``'s keyword arguments for one request (prices as strings: no float rounding)."""

    exchange: str
    tradingsymbol: str
    transaction_type: str
    quantity: int
    product: str
    order_type: str
    validity: str
    tag: str
    price: str | None = None
    trigger_price: str | None = None
    market_protection: int | None = None

    def kwargs(self) -> dict[str, Any]:
        values = {"variety": VARIETY, **self.__dict__}
        return {k: v for k, v in values.items() if v is not None}


def place_params(request: OrderRequest, instrument: IndianInstrument, product: str, tag: str) -> PlaceParams:
    """Kite's order for ``request``; InstrumentError when the price is off the tick grid or the size off the lot."""
    refuse_unsupported(request)
    quantity = instrument.check_quantity(request.qty)
    price = trigger = None
    if request.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        if request.limit_price is None:
            raise NotPlaced("A limit order needs a limit price.")
        price = str(instrument.check_price(request.limit_price, "limit price"))
    if request.type in (OrderType.STOP, OrderType.STOP_LIMIT):
        if request.stop_price is None:
            raise NotPlaced("A stop order needs a trigger (stop) price.")
        trigger = str(instrument.check_price(request.stop_price, "trigger price"))
    kite_type = ORDER_TYPES[request.type]
    return PlaceParams(
        exchange=instrument.symbol.exchange.value,
        tradingsymbol=instrument.symbol.tradingsymbol,
        transaction_type="BUY" if request.side == OrderSide.BUY else "SELL",
        quantity=quantity,
        product=product,
        order_type=kite_type,
        validity=VALIDITIES[request.time_in_force],
        tag=tag,
        price=price,
        trigger_price=trigger,
        # Market and stop-market orders carry Kite's automatic market protection (-1), which the exchanges'
        # rules on unprotected market orders from APIs ask for.
        market_protection=-1 if kite_type in ("MARKET", "SL-M") else None,
    )


def placed_order(request: OrderRequest, order_id: str, params: PlaceParams, now: datetime) -> BrokerOrder:
    """What Kite's place call answers with (just the order id), as the order it stands for: not yet acknowledged
    by the exchange, so PENDING_NEW; the poller reports it NEW once the order book says OPEN."""
    return BrokerOrder(
        id=order_id,
        client_order_id=request.client_order_id,
        symbol=f"{params.exchange}:{params.tradingsymbol}",
        side=request.side,
        qty=Decimal(params.quantity),
        type=request.type,
        time_in_force=request.time_in_force,
        status=OrderStatus.PENDING_NEW,
        filled_qty=Decimal(0),
        filled_avg_price=None,
        submitted_at=now,
        updated_at=now,
        limit_price=request.limit_price,
        stop_price=request.stop_price,
    )


def to_account(user_id: str, equity_margins: Row, positions: Sequence[BrokerPosition]) -> Account:
    """Kite's equity margins: ``available.cash`` is the cash, ``net`` what can still be used for orders. Kite keeps
    no equity figure: it is ``net`` plus the positions (holdings and the day's trades, ``merge_positions``) at
    their last price, since buying today moved money out of ``net`` into shares. Funds blocked by open orders
    are not counted until those orders fill or are cancelled."""
    available = equity_margins.get("available") or {}
    cash = to_decimal(available.get("cash") or 0)
    net = to_decimal(equity_margins.get("net") or 0)
    held = sum((p.market_value or Decimal(0) for p in positions), Decimal(0))
    status = "ACTIVE" if equity_margins.get("enabled", True) else "INACTIVE"
    return Account(id=user_id, status=status, cash=cash, buying_power=net, equity=net + held)


def merge_positions(net_positions: Sequence[Row], holdings: Sequence[Row]) -> list[BrokerPosition]:
    """One position per symbol: delivery holdings (settled + T1) plus the day's net position (all products).

    Kite books today's delivery trades in ``positions`` and moves them into ``holdings`` after settlement, so
    the two never count the same share: a holding of 10 and a CNC sale of 4 today is a position of 6. The entry
    price is the holdings' average, blended with today's average when today added to the same side.
    """
    merged: dict[str, tuple[Decimal, Decimal, Decimal]] = {}  # symbol -> (qty, cost basis, last price)
    for h in holdings:
        qty = to_decimal(h.get("quantity") or 0) + to_decimal(h.get("t1_quantity") or 0)
        if qty == 0:
            continue
        symbol = f"{h.get('exchange')}:{h.get('tradingsymbol')}"
        merged[symbol] = (qty, qty * to_decimal(h.get("average_price") or 0), to_decimal(h.get("last_price") or 0))
    for p in net_positions:
        qty = to_decimal(p.get("quantity") or 0)
        if qty == 0:
            continue
        symbol = f"{p.get('exchange')}:{p.get('tradingsymbol')}"
        last = to_decimal(p.get("last_price") or 0)
        average = to_decimal(p.get("average_price") or 0)
        held_qty, held_cost, held_last = merged.get(symbol, (Decimal(0), Decimal(0), last))
        total = held_qty + qty
        if held_qty == 0 or (held_qty > 0) == (qty > 0):
            cost = held_cost + qty * average
        else:  # today reduced (or reversed) the holding: the remaining shares keep their entry price
            entry = held_cost / held_qty if abs(qty) <= abs(held_qty) else average
            cost = total * entry
        merged[symbol] = (total, cost, last or held_last)
    positions = []
    for symbol, (qty, cost, last) in sorted(merged.items()):
        if qty == 0:
            continue
        positions.append(
            BrokerPosition(
                symbol=symbol, qty=qty, avg_entry_price=cost / qty, market_value=qty * last if last else None
            )
        )
    return positions
