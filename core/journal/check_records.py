"""Behavioural checks as stored rows (``campaign_checks``): the trader's answers, and their link to fills.

A pre-trade evaluation is recorded when the trader answers its nudges: ``proceeded`` (the order was
placed: pass its id), ``modified`` (the ticket was changed; the changed order is evaluated again) or
``cancelled``. Every check of the evaluation is stored, passed ones too, so "how often did this nudge fire,
and what did I do" can be answered. Row ids are derived from the evaluation id and the check, so recording
the same evaluation again (a double click, a retry) updates the rows instead of adding more.

When the order fills, ``link_checks_to_fill`` hangs its checks on the fill's decision context (created bare
if the trader wrote none, carrying the order's planned stop and target). Recording after the order already
filled (a fast simulated fill can beat the GUI) links at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import CampaignCheck, Fill, Order
from core.journal._common import utc
from core.journal.check_types import (
    CHECK_PHASES,
    PRE_TRADE,
    TRADER_ACTIONS,
    CheckResult,
    PreTradeEvaluation,
)
from core.journal.contexts import ensure_context
from core.journal.errors import InvalidJournalInput, NotFound
from core.journal.exit_intent import ExitIntent
from core.journal.fills import get_fill

_ROW_NAMESPACE = uuid.UUID("6f3c1f0e-93d4-4c55-9a54-2f5a8f1f7e21")


def check_row_id(subject: uuid.UUID, check_type: str, phase: str) -> uuid.UUID:
    """A stable id for one check of one evaluation (pre-trade) or one decision context (later phases)."""
    return uuid.uuid5(_ROW_NAMESPACE, f"{subject}:{phase}:{check_type}")


@dataclass(frozen=True)
class StoredCheck:
    id: uuid.UUID
    check_type: str
    phase: str
    severity: str
    passed: bool
    details: dict[str, Any]
    nudge_text: str | None
    acknowledged: bool
    trader_action: str | None
    checked_at: datetime
    decision_context_id: uuid.UUID | None
    order_id: uuid.UUID | None

    @property
    def proposal(self) -> dict[str, Any] | None:
        """The proposed order a pre-trade check judged (symbol, side, quantity, price, stop, target)."""
        return self.details.get("proposal")


def _stored(row: CampaignCheck) -> StoredCheck:
    return StoredCheck(
        row.id, row.check_type, row.check_phase, row.severity, row.passed, dict(row.details or {}), row.nudge_text,
        row.acknowledged, row.trader_action, utc(row.checked_at), row.decision_context_id, row.order_id,
    )  # fmt: skip


def _own_order(session: Session, user_id: uuid.UUID, order_id: uuid.UUID) -> Order:
    order = session.scalar(select(Order).where(Order.id == order_id, Order.user_id == user_id))
    if order is None:
        raise NotFound("No such order.")
    return order


def _pre_trade_row(user_id: uuid.UUID, evaluation: PreTradeEvaluation, result: CheckResult, action: str,
                   order_id: uuid.UUID | None) -> dict[str, Any]:  # fmt: skip
    details = {**result.details, "evaluation_id": str(evaluation.evaluation_id),
               "proposal": evaluation.proposal.to_json()}  # fmt: skip
    return {
        "id": check_row_id(evaluation.evaluation_id, result.check_type, PRE_TRADE),
        "user_id": user_id,
        "order_id": order_id,
        "check_type": result.check_type,
        "severity": result.severity,
        "passed": result.passed,
        "details": details,
        "nudge_text": result.nudge_text,
        "acknowledged": not result.passed,  # the trader answered a nudge they were shown
        "trader_action": action,
        "checked_at": evaluation.evaluated_at,
        "check_phase": PRE_TRADE,
    }


def record_pre_trade_response(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    evaluation: PreTradeEvaluation,
    action: str,
    *,
    order_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, ...]:
    """Store the evaluation's checks with the trader's answer; returns the rows' ids (blocking). An
    evaluation with no applicable check (an order that only reduces a position) stores nothing.

    ``order_id``: the order placed (``proceeded``, or ``modified`` when the changed order is the one placed).
    Raises InvalidJournalInput for an unknown action, NotFound for an order that is not this user's."""
    if action not in TRADER_ACTIONS:
        raise InvalidJournalInput(f"The trader's action must be one of: {', '.join(TRADER_ACTIONS)}.")
    if not evaluation.results:
        return ()
    with session_factory() as s:
        if order_id is not None:
            _own_order(s, user_id, order_id)
        rows = [_pre_trade_row(user_id, evaluation, r, action, order_id) for r in evaluation.results]
        stmt = insert(CampaignCheck).values(rows)
        s.execute(
            stmt.on_conflict_do_update(
                index_elements=[CampaignCheck.id],
                set_={k: stmt.excluded[k] for k in ("trader_action", "order_id", "acknowledged")},
                where=CampaignCheck.user_id == user_id,
            )
        )
        if order_id is not None:
            first = s.scalar(
                select(Fill.id)
                .where(Fill.user_id == user_id, Fill.order_id == order_id)
                .order_by(Fill.executed_at, Fill.created_at, Fill.execution_id.collate("C"), Fill.id)
                .limit(1)
            )
            if first is not None:  # it filled before the answer was recorded
                link_in_session(s, user_id, first)
        s.commit()
    return tuple(r["id"] for r in rows)


def link_in_session(session: Session, user_id: uuid.UUID, fill_id: uuid.UUID) -> int:
    fill = get_fill(session, user_id, fill_id)
    if fill is None:
        raise NotFound("No such fill.")
    if fill.order_id is None:
        return 0
    waiting = select(CampaignCheck.id).where(
        CampaignCheck.user_id == user_id,
        CampaignCheck.order_id == fill.order_id,
        CampaignCheck.decision_context_id.is_(None),
    )
    if session.scalar(waiting.limit(1)) is None:
        return 0
    order = session.get(Order, fill.order_id)
    plan = None
    if order is not None and (order.stop_loss_price is not None or order.take_profit_price is not None):
        plan = ExitIntent(stop=order.stop_loss_price, target=order.take_profit_price)
    context_id = ensure_context(session, user_id, fill, exit_intent=plan)
    linked = session.execute(
        update(CampaignCheck)
        .where(CampaignCheck.id.in_(waiting))
        .values(decision_context_id=context_id)
        .returning(CampaignCheck.id)
    )
    return len(linked.all())


def link_checks_to_fill(session_factory: sessionmaker[Session], user_id: uuid.UUID, fill_id: uuid.UUID) -> int:
    """Link the pre-trade checks recorded against this fill's order to the fill's decision context (creating
    a bare one if needed); returns how many were linked. Idempotent; any client may call it after any fill of
    the user. Raises NotFound for a fill that is not this user's."""
    with session_factory() as s:
        count = link_in_session(s, user_id, fill_id)
        s.commit()
    return count


def list_checks(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    *,
    decision_context_id: uuid.UUID | None = None,
    order_id: uuid.UUID | None = None,
    phase: str | None = None,
    failed_only: bool = False,
    since: datetime | None = None,
    limit: int = 200,
) -> list[StoredCheck]:
    """The user's stored checks, newest first."""
    if phase is not None and phase not in CHECK_PHASES:
        raise InvalidJournalInput(f"The phase must be one of: {', '.join(CHECK_PHASES)}.")
    query = select(CampaignCheck).where(CampaignCheck.user_id == user_id)
    if decision_context_id is not None:
        query = query.where(CampaignCheck.decision_context_id == decision_context_id)
    if order_id is not None:
        query = query.where(CampaignCheck.order_id == order_id)
    if phase is not None:
        query = query.where(CampaignCheck.check_phase == phase)
    if failed_only:
        query = query.where(CampaignCheck.passed.is_(False))
    if since is not None:
        query = query.where(CampaignCheck.checked_at >= since)
    query = query.order_by(CampaignCheck.checked_at.desc(), CampaignCheck.check_type).limit(limit)
    with session_factory() as s:
        return [_stored(r) for r in s.scalars(query)]


def acknowledge_check(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    check_id: uuid.UUID,
    *,
    action: str | None = None,
) -> StoredCheck:
    """Mark a stored check as seen (a post-trade nudge read in the journal), optionally with an action."""
    if action is not None and action not in TRADER_ACTIONS:
        raise InvalidJournalInput(f"The trader's action must be one of: {', '.join(TRADER_ACTIONS)}.")
    with session_factory() as s:
        row = s.scalar(select(CampaignCheck).where(CampaignCheck.id == check_id, CampaignCheck.user_id == user_id))
        if row is None:
            raise NotFound("No such check.")
        row.acknowledged = True
        if action is not None:
            row.trader_action = action
        s.commit()
        return _stored(row)
