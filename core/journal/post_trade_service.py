"""Post-trade checks against the database, and the one call to make after a fill.

``after_fill`` is what the application calls when a fill of the user has been booked (the ledger's NOTIFY,
an import): it links the order's pre-trade checks to the fill's decision context, regroups the symbol's
campaigns, and when the fill closed a campaign runs the post-trade checks on it. It is idempotent and may
run on any client, any number of times: the checks of a campaign are stored under stable ids (per decision
context and check) and re-running updates their verdict while keeping what the trader did about them.

Post-trade checks hang on the decision context of the fill that closed the campaign (created bare if the
trader wrote none), in the ``post_trade`` phase.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import CampaignCheck, DecisionContext
from core.journal.campaign_store import rebuild_in_session
from core.journal.campaigns import Campaign, build_campaigns
from core.journal.check_records import check_row_id, link_in_session
from core.journal.check_settings import CheckSettings, load_settings_in_session
from core.journal.check_types import POST_TRADE, CheckResult
from core.journal.contexts import ensure_context
from core.journal.errors import NotFound
from core.journal.exit_intent import ExitIntent
from core.journal.fills import get_fill, load_fills
from core.journal.post_trade import evaluate_post_trade


@dataclass(frozen=True)
class AfterFill:
    linked_checks: int  # pre-trade checks linked to the fill's decision context
    campaigns: tuple[Campaign, ...]  # the campaign(s) the fill belongs to, regrouped
    post_trade: tuple[CheckResult, ...]  # post-trade checks of a campaign the fill closed (else empty)


def _plans(session: Session, user_id: uuid.UUID, fill_ids: list[uuid.UUID]) -> dict[uuid.UUID, ExitIntent | None]:
    rows = session.execute(
        select(DecisionContext.fill_id, DecisionContext.exit_intent).where(
            DecisionContext.user_id == user_id, DecisionContext.fill_id.in_(fill_ids)
        )
    )
    return {fill_id: ExitIntent.from_json(intent) for fill_id, intent in rows}


def _store_post_trade(
    session: Session, user_id: uuid.UUID, campaign: Campaign, results: tuple[CheckResult, ...], now: datetime
) -> None:
    closing = get_fill(session, user_id, campaign.effects[-1].fill_id)
    assert closing is not None
    context_id = ensure_context(session, user_id, closing)
    rows = [
        {
            "id": check_row_id(context_id, r.check_type, POST_TRADE),
            "user_id": user_id,
            "decision_context_id": context_id,
            "check_type": r.check_type,
            "severity": r.severity,
            "passed": r.passed,
            "details": dict(r.details),
            "nudge_text": r.nudge_text,
            "checked_at": now,
            "check_phase": POST_TRADE,
        }
        for r in results
    ]
    stmt = insert(CampaignCheck).values(rows)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[CampaignCheck.id],
            set_={k: stmt.excluded[k] for k in ("severity", "passed", "details", "nudge_text", "checked_at")},
            where=CampaignCheck.user_id == user_id,
        )
    )


def _post_trade(
    session: Session, user_id: uuid.UUID, campaign: Campaign, history: list[Campaign],
    settings: CheckSettings, now: datetime,
) -> tuple[CheckResult, ...]:  # fmt: skip
    plans = _plans(session, user_id, [e.fill_id for e in campaign.effects])
    results = evaluate_post_trade(campaign, plans, history, settings)
    if results:
        _store_post_trade(session, user_id, campaign, results, now)
    return results


def run_post_trade_checks(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    group_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> tuple[CheckResult, ...]:
    """Run and store the post-trade checks of the user's closed campaign ``group_id`` (blocking).

    Returns no results for an open campaign; raises NotFound for a campaign that is not this user's."""
    now = now or datetime.now(UTC)
    with session_factory() as s:
        campaigns = build_campaigns(load_fills(s, user_id))
        campaign = next((c for c in campaigns if c.group_id == group_id), None)
        if campaign is None:
            raise NotFound("No such campaign.")
        results = _post_trade(s, user_id, campaign, campaigns, load_settings_in_session(s, user_id), now)
        s.commit()
    return results


def after_fill(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    fill_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> AfterFill:
    """Bring the journal up to date with one booked fill of the user (see the module docstring), in one
    transaction. Raises NotFound for a fill that is not this user's."""
    now = now or datetime.now(UTC)
    with session_factory() as s:
        fill = get_fill(s, user_id, fill_id)
        if fill is None:
            raise NotFound("No such fill.")
        linked = link_in_session(s, user_id, fill_id)
        symbol_campaigns = rebuild_in_session(s, user_id, fill.symbol)
        mine = tuple(c for c in symbol_campaigns if fill_id in c.fill_ids)
        closed = [c for c in mine if c.is_closed and c.effects[-1].fill_id == fill_id]
        results: tuple[CheckResult, ...] = ()
        if closed:
            history = build_campaigns(load_fills(s, user_id))
            results = _post_trade(s, user_id, closed[0], history, load_settings_in_session(s, user_id), now)
        s.commit()
    return AfterFill(linked, mine, results)
