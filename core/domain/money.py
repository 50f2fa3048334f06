"""Rounding and reservation arithmetic shared by placement and fill application."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal

from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import OrderTicket

MONEY_PLACES = Decimal("0.000001")  # NUMERIC(20,6): amounts are stored exactly at this precision
# A market or stop buy may fill above the last price; reserve this much headroom, like a broker's collar.
MARKET_COLLAR = Decimal("0.03")


def money(value: Decimal) -> Decimal:
    return value.quantize(MONEY_PLACES, rounding=ROUND_HALF_EVEN)


def reference_price(ticket: OrderTicket, last: Decimal | None) -> Decimal | None:
    """The price an order is judged at: its own limit/stop where it has one, else the last trade."""
    if ticket.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        return ticket.limit_price
    if ticket.type is OrderType.STOP:
        return ticket.stop_price
    return last


def reservation(ticket: OrderTicket, ref: Decimal | None, fee_estimate: Decimal = Decimal(0)) -> Decimal:
    """Worst-case cash a buy can consume; sells reserve shares, not cash."""
    if ticket.side is OrderSide.SELL or ref is None:
        return Decimal(0)
    price = ref
    if ticket.type in (OrderType.MARKET, OrderType.STOP):
        price = ref * (1 + MARKET_COLLAR)
    return (ticket.qty * price + fee_estimate).quantize(MONEY_PLACES, rounding=ROUND_UP)
