"""The order ticket: an order as a trader or a strategy signal asks for it, before any check."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.domain.orders import OrderClass, OrderSide, OrderType, TimeInForce


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
