"""Everything a pre-trade risk rule may look at, gathered once per order under the account lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.domain.orders import Asset
from core.domain.risk_limits import RiskLimits
from core.domain.tickets import OrderTicket


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
