"""The trader's virtual account as the Portfolio panel shows it: one overview read, and cancelling an order.

The overview (``core.ledger.overview``: portfolio, day P&L, open orders, trade history, equity curve) needs the
ledger and the database; this service holds both, so the panel asks ``Portfolio.overview`` and never passes a
session factory. ``ledger`` stays public because the order ticket the panel opens places orders through it.

Every method blocks (PostgreSQL; a cancel may also wait on the broker), so the GUI calls them on a worker thread.
A refusal (an unknown account, an order that can no longer be cancelled) raises ``LedgerError`` with a sentence
for the trader, as the ledger does.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from core.ledger.overview import AccountOverview, load_overview
from core.ledger.service import Ledger

__all__ = ["AccountOverview", "Portfolio"]

FILLS_SHOWN = 500


class Portfolio:
    """One ledger's accounts, read for display."""

    def __init__(self, ledger: Ledger, sessions: sessionmaker[Session], *, fill_limit: int = FILLS_SHOWN) -> None:
        self.ledger = ledger
        self._sessions = sessions
        self._fill_limit = fill_limit

    def overview(self, user_id: uuid.UUID, *, now: datetime | None = None) -> AccountOverview:
        """Everything the panel shows, valued at one set of prices: the equity curve ends at the portfolio's
        equity and the day P&L uses the same last prices."""
        return load_overview(self.ledger, self._sessions, user_id, now=now, fill_limit=self._fill_limit)

    def cancel(self, user_id: uuid.UUID, order_id: uuid.UUID) -> None:
        """Ask the ledger to cancel one of the trader's open orders (LedgerError when it cannot)."""
        self.ledger.cancel_order(user_id, order_id)
