"""Keeping the journal up with the ledger: every booked fill goes through ``after_fill`` once it is seen.

The ledger books fills on whichever client hears of them first (exactly once, by execution id), and says so
with a NOTIFY; it knows nothing of the journal. The application composes the two by calling
``journal_new_fills`` when the ledger says this user's books changed, and once at start-up for fills booked
while it was closed. A fill not yet grouped into a campaign (no ``campaign_fills`` row) is one the journal has
not seen; ``after_fill`` is idempotent, so two clients catching up at once only repeat work.
"""

from __future__ import annotations

import uuid

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import CampaignFill, Fill
from core.journal.post_trade_service import AfterFill, after_fill

CATCH_UP_LIMIT = 200  # fills per call: a long absence is caught up over a few calls, never in one long one


def unjournaled_fills(
    session_factory: sessionmaker[Session], user_id: uuid.UUID, *, limit: int = CATCH_UP_LIMIT
) -> list[uuid.UUID]:
    """The user's fills the journal has not grouped yet, oldest first (one query)."""
    grouped = exists().where(CampaignFill.fill_id == Fill.id)
    query = (
        select(Fill.id)
        .where(Fill.user_id == user_id, ~grouped)
        .order_by(Fill.executed_at, Fill.created_at, Fill.execution_id.collate("C"), Fill.id)
        .limit(limit)
    )
    with session_factory() as s:
        return list(s.scalars(query))


def journal_new_fills(
    session_factory: sessionmaker[Session], user_id: uuid.UUID, *, limit: int = CATCH_UP_LIMIT
) -> list[AfterFill]:
    """Run ``after_fill`` on each fill the journal has not seen, in the order they were executed (blocking):
    pre-trade checks linked, campaigns regrouped, post-trade checks of the campaigns they closed."""
    return [
        after_fill(session_factory, user_id, fill_id)
        for fill_id in unjournaled_fills(session_factory, user_id, limit=limit)
    ]
