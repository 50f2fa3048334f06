"""The trader's account split by who holds what: each paper session's own book, and what is held by hand.

A paper session trades only its own book (``core.paper.book``: its capital and its own fills), so the portfolio
shows that split: one row per session that is running or has traded (its capital, cash, positions and P&L), and a
"Manual" row for what no session holds (the fills without a session; its cash is the account's cash that no
running session holds, the money an order ticket spends). The rows' P&L add up to the account's total P&L at the
same prices: every ledger fill belongs to exactly one book.

Pure: the Portfolio service reads the books and the sessions and hands them here.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from core.domain.trading_sessions import TradingSessionStatus
from core.ledger.views import Portfolio
from core.paper.book import MANUAL, BookPosition, SessionBook

ZERO = Decimal(0)
MANUAL_NAME = "Manual"
_ACTIVE = (TradingSessionStatus.RUNNING, TradingSessionStatus.PAUSED)


@dataclass(frozen=True)
class SessionRef:
    """What the split needs to know about one paper session besides its book."""

    id: uuid.UUID
    name: str  # the strategy's name
    status: str


@dataclass(frozen=True)
class BookRow:
    """One row of the split; ``session_id`` None is the manual row."""

    session_id: uuid.UUID | None
    name: str
    status: str  # the session's status; "" for the manual row
    capital: Decimal | None  # None for the manual row (it was given no capital)
    cash: Decimal
    positions: tuple[BookPosition, ...]
    positions_value: Decimal
    pnl: Decimal

    @property
    def manual(self) -> bool:
        return self.session_id is None


@dataclass(frozen=True)
class PortfolioSplit:
    sessions: tuple[BookRow, ...]  # newest session first
    manual: BookRow

    @property
    def rows(self) -> tuple[BookRow, ...]:
        return (*self.sessions, self.manual)


def split_portfolio(
    portfolio: Portfolio, books: Mapping[uuid.UUID | None, SessionBook], sessions: Sequence[SessionRef]
) -> PortfolioSplit:
    """``books``: every book of the trader (``load_books`` without ids); ``sessions``: their sessions, newest
    first. A session is shown while it runs, and afterwards if it ever traded."""
    rows: list[BookRow] = []
    running_cash = ZERO
    for ref in sessions:
        book = books.get(ref.id)
        if book is None:
            continue
        active = ref.status in _ACTIVE
        if active:
            running_cash += book.cash
        if active or book.fill_count or book.positions:
            rows.append(BookRow(ref.id, ref.name, ref.status, book.capital, book.cash, book.positions,
                                book.positions_value, book.pnl))  # fmt: skip
    manual = books.get(MANUAL) or SessionBook(MANUAL, ZERO, ZERO)
    unheld_cash = portfolio.cash + portfolio.reserved - running_cash
    return PortfolioSplit(
        tuple(rows),
        BookRow(MANUAL, MANUAL_NAME, "", None, unheld_cash, manual.positions, manual.positions_value, manual.pnl),
    )
