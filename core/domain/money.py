"""Rounding, reservation and margin arithmetic shared by placement, fill application and the portfolio view.

The margin rule for virtual short positions (Regulation T style, issue 25):

* A short sale's proceeds are credited to cash when it fills (the booking function does it).
* 150% of every open short's current market value is held against buying power: the proceeds (100%) plus
  an initial margin of 50%. Shorts are marked at the last price the ledger knows, or at their entry price
  when it knows none. ``buying_power = cash - 1.5 x sum(|short market value|)``; a view shows it floored at 0.
* Placing an order that opens or increases a short reserves its initial margin: 50% of the short quantity
  times the reference price (for a market or stop order, that price plus the market collar, as a buy
  reserves). The fill releases it, in proportion to the quantity filled; a cancel, reject or expiry releases
  the rest. It is checked against buying power, so once the short fills buying power has fallen by exactly
  that margin (cash gains the proceeds, the hold grows by 150% of them).
* A buy reserves its worst-case cost from cash, whether it opens a long or covers a short. The part of it that
  covers a short also frees that short's 150% hold, so a buy is checked against buying power with the covered
  shares' hold added back: a trader can always afford to cover with the cash their short sale brought in.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal

from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import OrderTicket

MONEY_PLACES = Decimal("0.000001")  # NUMERIC(20,6): amounts are stored exactly at this precision
# A market or stop buy may fill above the last price; reserve this much headroom, like a broker's collar.
MARKET_COLLAR = Decimal("0.03")
# Regulation T: a short sale needs 50% of its value as initial margin, on top of its proceeds held back.
SHORT_INITIAL_MARGIN = Decimal("0.5")
SHORT_HOLD = 1 + SHORT_INITIAL_MARGIN  # held against buying power per dollar of short market value


def money(value: Decimal) -> Decimal:
    return value.quantize(MONEY_PLACES, rounding=ROUND_HALF_EVEN)


def reference_price(ticket: OrderTicket, last: Decimal | None) -> Decimal | None:
    """The price an order is judged at: its own limit/stop where it has one, else the last trade."""
    if ticket.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        return ticket.limit_price
    if ticket.type is OrderType.STOP:
        return ticket.stop_price
    return last


def _worst_price(ticket: OrderTicket, ref: Decimal) -> Decimal:
    if ticket.type in (OrderType.MARKET, OrderType.STOP):
        return ref * (1 + MARKET_COLLAR)
    return ref


def reservation(
    ticket: OrderTicket, ref: Decimal | None, fee_estimate: Decimal = Decimal(0), *, short_qty: Decimal = Decimal(0)
) -> Decimal:
    """Worst-case cash a buy can consume; for a sell, the initial margin of its ``short_qty`` (the part sold
    beyond the long position), nothing for a sell that only closes a long."""
    if ref is None:
        return Decimal(0)
    if ticket.side is OrderSide.SELL:
        if short_qty <= 0:
            return Decimal(0)
        return (short_qty * _worst_price(ticket, ref) * SHORT_INITIAL_MARGIN).quantize(MONEY_PLACES, rounding=ROUND_UP)
    return (ticket.qty * _worst_price(ticket, ref) + fee_estimate).quantize(MONEY_PLACES, rounding=ROUND_UP)


def short_hold(short_values: Iterable[Decimal]) -> Decimal:
    """What open shorts hold against buying power: 150% of their market value (the values' sign is ignored)."""
    return money(SHORT_HOLD * sum((abs(v) for v in short_values), Decimal(0)))


def buying_power(cash: Decimal, short_values: Iterable[Decimal]) -> Decimal:
    """Cash less the shorts' hold; negative when a short has moved against the trader (views floor it at 0)."""
    return cash - short_hold(short_values)
