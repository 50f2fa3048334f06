"""SimBroker's mutable order records and the validation it applies to requests.

The broker keeps one ``SimOrder`` per order (bracket legs included) and hands out frozen
``BrokerOrder`` snapshots, so callers can never mutate broker state through a returned value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.broker.errors import BrokerRejected
from core.broker.fill_model import WorkingOrder
from core.broker.fill_prices import is_on_tick
from core.domain.orders import (
    TERMINAL_STATUSES,
    Asset,
    BrokerOrder,
    OrderClass,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)

AVG_PRICE_PLACES = Decimal("0.000001")


@dataclass
class SimOrder:
    """One order inside SimBroker. ``eligible_after`` is the open time of the latest bar the broker
    had seen for the symbol when the order started working: only strictly later bars may fill it."""

    id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    qty: Decimal
    type: OrderType
    time_in_force: TimeInForce
    status: OrderStatus
    submitted_at: datetime
    updated_at: datetime
    seq: int
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    parent_id: str | None = None
    leg_ids: tuple[str, ...] = ()
    filled_qty: Decimal = Decimal("0")
    filled_notional: Decimal = Decimal("0")
    filled_fees: Decimal = Decimal("0")
    stop_triggered: bool = False
    eligible_after: datetime | None = None
    reject_pending: bool = False

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_working(self) -> bool:
        return self.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty

    def avg_price(self) -> Decimal | None:
        if self.filled_qty == 0:
            return None
        return (self.filled_notional / self.filled_qty).quantize(AVG_PRICE_PLACES)

    def working(self) -> WorkingOrder:
        return WorkingOrder(
            side=self.side,
            type=self.type,
            qty=self.remaining,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            stop_triggered=self.stop_triggered,
        )

    def snapshot(self, legs: tuple[BrokerOrder, ...] = ()) -> BrokerOrder:
        return BrokerOrder(
            id=self.id,
            client_order_id=self.client_order_id,
            symbol=self.symbol,
            side=self.side,
            qty=self.qty,
            type=self.type,
            time_in_force=self.time_in_force,
            status=self.status,
            filled_qty=self.filled_qty,
            filled_avg_price=self.avg_price(),
            submitted_at=self.submitted_at,
            updated_at=self.updated_at,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            order_class=self.order_class,
            parent_id=self.parent_id,
            legs=legs,
            filled_fees=self.filled_fees,
        )


def validate_request(request: OrderRequest, asset: Asset) -> None:
    """Raise BrokerRejected with a trader-readable reason if SimBroker would refuse ``request``.

    Mirrors the checks Alpaca makes up front, so a strategy that works against SimBroker is not
    surprised by rejections when it moves to the paper account.
    """
    if not request.client_order_id:
        raise BrokerRejected("client_order_id is required")
    if not request.symbol or not request.symbol.strip():
        raise BrokerRejected("symbol is required")
    if not asset.tradable:
        raise BrokerRejected(f"{request.symbol} is not tradable")
    if not request.qty.is_finite() or request.qty <= 0:
        raise BrokerRejected(f"qty must be > 0, got {request.qty}")
    if request.qty != request.qty.to_integral_value() and not asset.fractionable:
        raise BrokerRejected(f"{request.symbol} is not fractionable; qty must be whole shares, got {request.qty}")
    needs_limit = request.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = request.type in (OrderType.STOP, OrderType.STOP_LIMIT)
    _check_price("limit_price", request.limit_price, required=needs_limit, order_type=request.type)
    _check_price("stop_price", request.stop_price, required=needs_stop, order_type=request.type)
    if request.order_class is OrderClass.BRACKET:
        _validate_bracket(request)
    elif any(
        p is not None
        for p in (request.take_profit_limit_price, request.stop_loss_stop_price, request.stop_loss_limit_price)
    ):
        raise BrokerRejected("take-profit/stop-loss prices are only allowed on bracket orders")


def validate_short(request: OrderRequest, asset: Asset, position_qty: Decimal, open_sell_qty: Decimal) -> None:
    """Raise BrokerRejected if the part of a sell beyond the account's free long shares (its position less what
    working sells already promise) would be a short sale Alpaca refuses: of an asset it does not lend, or in
    fractional shares. A sell that only closes a long, and every buy, pass."""
    if request.side is not OrderSide.SELL:
        return
    free_long = max(position_qty - open_sell_qty, Decimal("0"))
    short = request.qty - free_long
    if short <= 0:
        return
    if not asset.shortable:
        raise BrokerRejected(f"{request.symbol} is not shortable; cannot sell {short.normalize():f} short")
    if not asset.easy_to_borrow:
        raise BrokerRejected(f"{request.symbol} is hard to borrow; cannot sell {short.normalize():f} short")
    if request.qty != request.qty.to_integral_value() or short != short.to_integral_value():
        raise BrokerRejected(f"fractional orders cannot be sold short (qty {request.qty.normalize():f})")


def _check_price(name: str, price: Decimal | None, *, required: bool, order_type: OrderType) -> None:
    if price is None:
        if required:
            raise BrokerRejected(f"{name} is required for a {order_type} order")
        return
    if not required:
        raise BrokerRejected(f"{name} is not allowed on a {order_type} order")
    _check_positive_tick(name, price)


def _check_positive_tick(name: str, price: Decimal) -> None:
    if not price.is_finite() or price <= 0:
        raise BrokerRejected(f"{name} must be > 0, got {price}")
    if not is_on_tick(price):
        raise BrokerRejected(f"{name} {price} is not on a valid tick ($0.01 at or above $1, $0.0001 below)")


def _validate_bracket(request: OrderRequest) -> None:
    tp, sl, sl_limit = request.take_profit_limit_price, request.stop_loss_stop_price, request.stop_loss_limit_price
    if request.time_in_force not in (TimeInForce.DAY, TimeInForce.GTC):
        raise BrokerRejected("bracket orders must be DAY or GTC")
    if request.type not in (OrderType.MARKET, OrderType.LIMIT):
        raise BrokerRejected("a bracket entry must be a market or limit order")
    if tp is None or sl is None:
        raise BrokerRejected("a bracket order needs both take_profit_limit_price and stop_loss_stop_price")
    _check_positive_tick("take_profit_limit_price", tp)
    _check_positive_tick("stop_loss_stop_price", sl)
    buy = request.side is OrderSide.BUY
    if buy and not tp > sl:
        raise BrokerRejected(f"buy bracket: take-profit {tp} must be above stop-loss {sl}")
    if not buy and not tp < sl:
        raise BrokerRejected(f"sell bracket: take-profit {tp} must be below stop-loss {sl}")
    entry = request.limit_price
    if entry is not None:
        if buy and not (tp > entry > sl):
            raise BrokerRejected(f"buy bracket: need take-profit {tp} > entry limit {entry} > stop-loss {sl}")
        if not buy and not (tp < entry < sl):
            raise BrokerRejected(f"sell bracket: need take-profit {tp} < entry limit {entry} < stop-loss {sl}")
    if sl_limit is not None:
        _check_positive_tick("stop_loss_limit_price", sl_limit)
        if buy and sl_limit > sl:
            raise BrokerRejected(f"buy bracket: stop-loss limit {sl_limit} must not be above its stop {sl}")
        if not buy and sl_limit < sl:
            raise BrokerRejected(f"sell bracket: stop-loss limit {sl_limit} must not be below its stop {sl}")
