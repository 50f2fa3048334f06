"""What the ledger returns: plain values for the UI and for strategy sessions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from core.domain.tickets import OrderTicket


@dataclass(frozen=True)
class PlacedOrder:
    id: uuid.UUID
    client_order_id: str
    status: str
    reserved: Decimal
    broker_order_id: str | None = None
    message: str | None = None  # e.g. "the broker did not answer; it will be settled"


@dataclass(frozen=True)
class PositionView:
    """Signed like the book: a short has a negative quantity, cost basis and market value (its average entry
    price is positive), so unrealized P&L = market value - cost basis holds for both directions."""

    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
    cost_basis: Decimal
    last_price: Decimal | None
    market_value: Decimal  # at the last price, or at cost when no price is known
    unrealized_pnl: Decimal
    realized_pnl: Decimal


@dataclass(frozen=True)
class Portfolio:
    starting_balance: Decimal
    cash: Decimal
    reserved: Decimal  # held by open buy orders (worst-case cost) and short sales (initial margin)
    # cash less 150% of the shorts' market value, floored at 0 (the margin rule: core.domain.money)
    buying_power: Decimal
    positions_value: Decimal  # signed: shorts count negative
    equity: Decimal  # cash + reserved + positions at market
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    total_pnl: Decimal  # equity - starting balance
    positions: tuple[PositionView, ...]


class OrderDesk(Protocol):
    """Where a caller places and cancels a trader's orders: the Ledger itself (solo mode, the club service) or
    ``RequestedOrders`` (a trader's role in a club). Reading the account always goes to the Ledger."""

    def place_order(
        self,
        user_id: uuid.UUID,
        ticket: OrderTicket,
        *,
        session_id: uuid.UUID | None = None,
        signal_id: uuid.UUID | None = None,
        strategy_id: uuid.UUID | None = None,
    ) -> PlacedOrder: ...

    def cancel_order(self, user_id: uuid.UUID, order_id: uuid.UUID) -> None: ...
