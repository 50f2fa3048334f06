"""Campaigns from the database: computed from the user's fills, and stored as ``campaign_fills`` rows.

Fills are the truth; ``campaign_fills`` is a derived grouping kept so SQL can ask "which campaign is this
fill in" or join a campaign's fills. A rebuild replaces the user's rows (or one symbol's) in one
transaction, under the user's journal lock, from the same pure function the statistics use, so the stored
grouping and the figures never disagree and rebuilding twice writes the same rows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import CampaignFill, Fill
from core.domain.symbols import normalize_symbol
from core.journal._common import lock_user_journal
from core.journal.campaigns import CLOSED, OPEN, Campaign, build_campaigns, memberships
from core.journal.errors import InvalidJournalInput, NotFound
from core.journal.fills import get_fill, load_fills


def rebuild_in_session(session: Session, user_id: uuid.UUID, symbol: str | None = None) -> list[Campaign]:
    """Rewrite the user's ``campaign_fills`` (only ``symbol``'s when given) inside the caller's transaction."""
    lock_user_journal(session, user_id)
    campaigns = build_campaigns(load_fills(session, user_id, symbol))
    stale = delete(CampaignFill).where(CampaignFill.user_id == user_id)
    if symbol is not None:
        of_symbol = select(Fill.id).where(Fill.user_id == user_id, Fill.symbol == symbol)
        stale = stale.where(CampaignFill.fill_id.in_(of_symbol))
    session.execute(stale)
    rows = memberships(campaigns)
    if rows:
        now = datetime.now(UTC)
        session.execute(
            insert(CampaignFill),
            [{"id": uuid.uuid4(), "user_id": user_id, "group_id": g, "fill_id": f, "created_at": now} for g, f in rows],
        )
    return campaigns


def rebuild_campaigns(
    session_factory: sessionmaker[Session], user_id: uuid.UUID, symbol: str | None = None
) -> list[Campaign]:
    """Regroup the user's fills and store the grouping (blocking: a worker thread). Idempotent."""
    with session_factory() as s:
        campaigns = rebuild_in_session(s, user_id, normalize_symbol(symbol) if symbol else None)
        s.commit()
    return campaigns


def list_campaigns(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    *,
    symbol: str | None = None,
    status: str | None = None,
) -> list[Campaign]:
    """The user's campaigns with their statistics, oldest first (one query; writes nothing).

    ``status``: "open" or "closed" to keep only those."""
    if status not in (None, OPEN, CLOSED):
        raise InvalidJournalInput(f"status must be {OPEN!r} or {CLOSED!r}.")
    with session_factory() as s:
        fills = load_fills(s, user_id, normalize_symbol(symbol) if symbol else None)
    campaigns = build_campaigns(fills)
    return [c for c in campaigns if status is None or c.status == status]


def campaigns_of_fill(session_factory: sessionmaker[Session], user_id: uuid.UUID, fill_id: uuid.UUID) -> list[Campaign]:
    """The campaign(s) the user's fill belongs to: one, or two for a fill that went through zero."""
    with session_factory() as s:
        fill = get_fill(s, user_id, fill_id)
        if fill is None:
            raise NotFound("No such fill.")
        fills = load_fills(s, user_id, fill.symbol)
    return [c for c in build_campaigns(fills) if fill_id in c.fill_ids]


def stored_groups(session_factory: sessionmaker[Session], user_id: uuid.UUID) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The stored grouping (group id -> fill ids), for checks and tools that read ``campaign_fills``."""
    query = (
        select(CampaignFill.group_id, CampaignFill.fill_id)
        .join(Fill, Fill.id == CampaignFill.fill_id)
        .where(CampaignFill.user_id == user_id)
        .order_by(CampaignFill.group_id, Fill.executed_at, Fill.created_at, Fill.execution_id.collate("C"), Fill.id)
    )
    groups: dict[uuid.UUID, list[uuid.UUID]] = {}
    with session_factory() as s:
        for group_id, fill_id in s.execute(query):
            groups.setdefault(group_id, []).append(fill_id)
    return groups
