"""Everything a pre-trade risk rule may look at, gathered once per order under the account lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.domain.money import SHORT_HOLD, money
from core.domain.orders import Asset, OrderSide
from core.domain.risk_limits import RiskLimits
from core.domain.tickets import OrderTicket

ZERO = Decimal(0)


@dataclass(frozen=True)
class RecentOrder:
    symbol: str
    side: str
    qty: Decimal
    order_type: str
    limit_price: Decimal | None
    stop_price: Decimal | None
    created_at: datetime


def short_part(ticket: OrderTicket, position_qty: Decimal, open_sell_qty: Decimal) -> Decimal:
    """How much of ``ticket`` would open or increase a short if it filled: what a sell sells beyond the long
    shares not already promised to working sells (all of it when flat or short); 0 for a buy."""
    if ticket.side is not OrderSide.SELL:
        return ZERO
    free_long = max(position_qty - open_sell_qty, ZERO)
    return max(ticket.qty - free_long, ZERO)


def cover_part(ticket: OrderTicket, position_qty: Decimal, open_buy_qty: Decimal) -> Decimal:
    """How much of ``ticket`` would cover a short: a buy's shares up to the short not already being covered by
    working buys; 0 for a sell."""
    if ticket.side is not OrderSide.BUY:
        return ZERO
    uncovered = max(-position_qty - open_buy_qty, ZERO)
    return min(ticket.qty, uncovered)


@dataclass(frozen=True)
class RiskContext:
    ticket: OrderTicket
    asset: Asset
    reference_price: Decimal | None  # the price the order's value is judged at (None: no price known)
    limits: RiskLimits
    cash: Decimal
    equity: Decimal
    starting_balance: Decimal
    position_qty: Decimal  # signed: negative when the trader is short the symbol
    position_value: Decimal  # signed, at the ledger's last price (at cost when it knows none)
    open_sell_qty: Decimal  # shares already promised to working sell orders
    open_orders: int
    realized_today: Decimal  # net of fees, since 00:00 UTC
    reservation: Decimal  # cash this order would hold (a buy's worst-case cost, a short sale's initial margin)
    recent_orders: tuple[RecentOrder, ...]
    now: datetime
    open_buy_qty: Decimal = ZERO  # of the symbol, still to fill on working buy orders
    short_value: Decimal = ZERO  # |market value| of all the trader's shorts, every symbol, at the ledger's prices

    @property
    def order_value(self) -> Decimal:
        return (self.reference_price or Decimal(0)) * self.ticket.qty

    @property
    def short_qty(self) -> Decimal:
        return short_part(self.ticket, self.position_qty, self.open_sell_qty)

    @property
    def cover_qty(self) -> Decimal:
        return cover_part(self.ticket, self.position_qty, self.open_buy_qty)

    @property
    def opens_exposure(self) -> bool:
        """True for an order that opens or increases a position, long or short; False for one that only closes."""
        if self.ticket.side is OrderSide.SELL:
            return self.short_qty > 0
        return self.ticket.qty > self.cover_qty

    @property
    def short_hold(self) -> Decimal:
        """What the trader's shorts hold against buying power (core.domain.money: 150% of their value)."""
        return money(SHORT_HOLD * self.short_value)

    @property
    def buying_power(self) -> Decimal:
        """Cash less the shorts' hold (may be negative: a short that moved against the trader)."""
        return self.cash - self.short_hold

    @property
    def buy_power_for_this_order(self) -> Decimal:
        """Buying power with the hold of the shares this order covers given back (a cover frees its margin)."""
        if self.cover_qty <= 0 or self.position_qty >= 0:
            return self.buying_power
        covered = money(SHORT_HOLD * abs(self.position_value) * self.cover_qty / -self.position_qty)
        return self.buying_power + covered
