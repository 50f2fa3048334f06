"""The trader's virtual account as the Portfolio panel shows it: one overview read, and cancelling an order.

The overview (``core.ledger.overview``: portfolio, day P&L, open orders, trade history, equity curve, plus the
split of the account between the paper sessions' own books and what is held by hand, ``portfolio_split``) needs
the ledger and the database; this service holds both, so the panel asks ``Portfolio.overview`` and never passes a
session factory. ``ledger`` reads the account; ``orders`` is where orders are placed and cancelled (the Ledger
itself, or in a club a trader's ``RequestedOrders``), public because the order ticket the panel opens places
orders through it.

Every method blocks (PostgreSQL; a cancel may also wait on the broker), so the GUI calls them on a worker thread.
A refusal (an unknown account, an order that can no longer be cancelled) raises ``LedgerError`` with a sentence
for the trader, as the ledger does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from core.domain.symbols import normalize_symbol
from core.ledger.overview import AccountOverview, PortfolioPrices, load_overview
from core.ledger.prices import LastPrices, PriceOrigin, PriceQuote
from core.ledger.service import Ledger
from core.ledger.views import OrderDesk
from core.paper.book import load_books
from core.paper.records import session_rows
from core.services.order_entry import TicketFacts
from core.services.portfolio_split import BookRow, PortfolioSplit, SessionRef, split_portfolio

__all__ = ["AccountOverview", "BookRow", "Portfolio", "PortfolioOverview", "PortfolioSplit"]

FILLS_SHOWN = 500


@dataclass(frozen=True)
class PortfolioOverview(AccountOverview):
    """The ledger's overview and who holds what in it (each paper session's book, and the manual rest)."""

    split: PortfolioSplit | None = None


class Portfolio:
    """One ledger's accounts, read for display."""

    def __init__(
        self,
        ledger: Ledger,
        sessions: sessionmaker[Session],
        *,
        orders: OrderDesk | None = None,
        fill_limit: int = FILLS_SHOWN,
        prices: LastPrices | None = None,
    ) -> None:
        self.ledger = ledger
        self._prices = prices  # the ledger's own price source: its quotes say live or last stored close
        self.orders: OrderDesk = orders if orders is not None else ledger
        self._sessions = sessions
        self._fill_limit = fill_limit

    def overview(self, user_id: uuid.UUID, *, now: datetime | None = None) -> PortfolioOverview:
        """Everything the panel shows, valued at one set of prices: the equity curve ends at the portfolio's
        equity, the day P&L and the sessions' books use the same last prices."""
        base = load_overview(self.ledger, self._sessions, user_id, now=now, fill_limit=self._fill_limit)
        return PortfolioOverview(**{f.name: getattr(base, f.name) for f in fields(base)},
                                 split=self.split(user_id, base))  # fmt: skip

    def split(self, user_id: uuid.UUID, base: AccountOverview | None = None) -> PortfolioSplit:
        """The account split between the trader's paper sessions (each its own book) and what is held by hand."""
        portfolio = base.portfolio if base is not None else self.ledger.portfolio(user_id)
        valued = PortfolioPrices(portfolio)  # the books at the prices the account was valued at

        def price_of(symbol: str) -> Decimal | None:
            price = valued.last_price(symbol)
            return price if price is not None else self.ledger.last_price(symbol)

        books = load_books(self._sessions, user_id, price_of)
        refs = [SessionRef(r.row.id, r.strategy_name, r.row.status) for r in session_rows(self._sessions, user_id)]
        return split_portfolio(portfolio, books, refs)

    def ticket_facts(self, user_id: uuid.UUID, symbol: str) -> TicketFacts:
        """What the order ticket shows for ``symbol`` before Submit: its price (marked live or last stored close),
        the trader's buying power and position (LedgerError for an account that no longer exists)."""
        symbol = normalize_symbol(symbol)
        portfolio = self.ledger.portfolio(user_id)
        held = next((p.qty for p in portfolio.positions if p.symbol == symbol), Decimal(0))
        return TicketFacts(symbol, self.quote(symbol), portfolio.buying_power, held)

    def quote(self, symbol: str) -> PriceQuote | None:
        """``symbol``'s price and where it came from (may read the database once: call it off the GUI thread)."""
        symbol = normalize_symbol(symbol)
        if self._prices is not None:
            return self._prices.quote(symbol)
        price = self.ledger.last_price(symbol)  # a ledger built without quotes knows only live prices
        return None if price is None else PriceQuote(symbol, price, datetime.now(UTC), PriceOrigin.LIVE)

    def cancel(self, user_id: uuid.UUID, order_id: uuid.UUID) -> None:
        """Ask the ledger to cancel one of the trader's open orders (LedgerError when it cannot)."""
        self.orders.cancel_order(user_id, order_id)
