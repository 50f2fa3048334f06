"""Everything the portfolio panel shows, read in one call on a worker thread.

The panel displays these values and never computes money itself; gathering them here keeps one refresh one
blocking call (the GUI thread awaits it) and puts the figures that must agree side by side: the day P&L is
valued at exactly the prices the portfolio was valued at, and the equity curve ends at the portfolio's equity.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from core.ledger.day_pnl import DayPnl, day_pnl
from core.ledger.history import EquityPoint, FillRow, OrderRow, equity_curve, open_orders, trade_history
from core.ledger.service import Ledger
from core.ledger.views import Portfolio
from core.market.calendar import TradingCalendar


@dataclass(frozen=True)
class AccountOverview:
    as_of: datetime
    portfolio: Portfolio
    day: DayPnl
    open_orders: tuple[OrderRow, ...]
    fills: tuple[FillRow, ...]  # newest first, at most ``fill_limit``
    equity_curve: tuple[EquityPoint, ...]


class PortfolioPrices:
    """The last prices a Portfolio's positions were valued at, as a price source."""

    def __init__(self, portfolio: Portfolio) -> None:
        self._prices = {p.symbol: p.last_price for p in portfolio.positions if p.last_price is not None}

    def last_price(self, symbol: str) -> Decimal | None:
        return self._prices.get(symbol)


def load_overview(
    ledger: Ledger,
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    *,
    now: datetime | None = None,
    calendar: TradingCalendar | None = None,
    fill_limit: int = 500,
) -> AccountOverview:
    """Blocking (several queries): call it off the GUI thread. Raises LedgerError for an unknown account."""
    now = now or datetime.now(UTC)
    portfolio = ledger.portfolio(user_id)
    return AccountOverview(
        as_of=now,
        portfolio=portfolio,
        day=day_pnl(session_factory, user_id, PortfolioPrices(portfolio), now=now, calendar=calendar),
        open_orders=tuple(open_orders(session_factory, user_id)),
        fills=tuple(trade_history(session_factory, user_id, fill_limit)),
        equity_curve=tuple(equity_curve(session_factory, user_id, current=(now, portfolio.equity))),
    )
