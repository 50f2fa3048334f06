"""Everything a pre-trade risk rule may look at, gathered once per order under the account lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.broker.types import Asset, OrderClass, OrderSide, OrderType, TimeInForce


@dataclass(frozen=True)
class OrderTicket:
    """An order as the trader (or a strategy signal) asks for it, before any check."""

    symbol: str
    side: OrderSide
    qty: Decimal
    type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.DAY
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    take_profit_price: Decimal | None = None  # with stop_loss_price: a bracket order
    stop_loss_price: Decimal | None = None

    @property
    def order_class(self) -> OrderClass:
        if self.take_profit_price is not None or self.stop_loss_price is not None:
            return OrderClass.BRACKET
        return OrderClass.SIMPLE


@dataclass(frozen=True)
class RiskLimits:
    """The user's risk_settings row as plain values."""

    daily_loss_limit: Decimal
    max_position_size: Decimal
    max_order_value: Decimal
    max_open_orders: int
    max_drawdown_percent: Decimal
    max_risk_per_trade: Decimal  # percent of equity
    duplicate_window_seconds: int
    allow_fractional: bool


@dataclass(frozen=True)
class RecentOrder:
    symbol: str
    side: str
    qty: Decimal
    order_type: str
    limit_price: Decimal | None
    stop_price: Decimal | None
    created_at: datetime


@dataclass(frozen=True)
class RiskContext:
    ticket: OrderTicket
    asset: Asset
    reference_price: Decimal | None  # the price the order's value is judged at (None: no price known)
    limits: RiskLimits
    cash: Decimal
    equity: Decimal
    starting_balance: Decimal
    position_qty: Decimal
    position_value: Decimal
    open_sell_qty: Decimal  # shares already promised to working sell orders
    open_orders: int
    realized_today: Decimal  # net of fees, since 00:00 UTC
    reservation: Decimal  # cash this order would hold
    recent_orders: tuple[RecentOrder, ...]
    now: datetime

    @property
    def order_value(self) -> Decimal:
        return (self.reference_price or Decimal(0)) * self.ticket.qty
