"""What the decision-context form reads and writes, as plain blocking functions for a worker thread (no Qt).

``load_fill_detail`` reads the fill's context, its checks and the type a new context should start with;
``save_context`` attaches or updates, and copes with a context created meanwhile by the journal follower (it
creates a bare one to hang the order's checks on), which would otherwise make attaching fail.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.journal import (
    AlreadyAttached,
    DecisionContextView,
    FillEffect,
    JournalFill,
    StoredCheck,
    attach_context,
    campaigns_of_fill,
    get_context,
    list_checks,
    update_context,
)


@dataclass(frozen=True)
class FillDetail:
    """What the form needs about one fill, read in one worker call."""

    fill_id: uuid.UUID
    context: DecisionContextView | None
    checks: tuple[StoredCheck, ...]
    suggested_type: str  # what the fill did to its position: the type a new context starts with


@dataclass(frozen=True)
class ContextInput:
    """The form's values. The "then" fields are None when they are not to be written (read-only or empty)."""

    context_type: str
    notes: str | None
    feelings_now: dict[str, Any] | None
    strategy_id: uuid.UUID | None
    hypothesis: str | None = None
    exit_intent: dict[str, str] | None = None
    feelings_then: dict[str, Any] | None = None

    def then_fields(self) -> dict[str, Any]:
        fields = {"hypothesis": self.hypothesis, "exit_intent": self.exit_intent, "feelings_then": self.feelings_then}
        return {k: v for k, v in fields.items() if v is not None}


def _suggested_type(fill_id: uuid.UUID, effects: list[FillEffect]) -> str:
    """As ``core.journal.campaigns.infer_context_type``, from the fill's effect in its first campaign (a fill
    through zero closes one campaign first: an exit)."""
    effect = next((e for e in effects if e.fill_id == fill_id), None)
    if effect is None:
        return "entry"
    if effect.closed > 0:
        return "exit" if effect.position_after == 0 else "reduce"
    return "entry" if abs(effect.position_after) == effect.opened else "add"


def load_fill_detail(sessions: sessionmaker[Session], user_id: uuid.UUID, fill: JournalFill) -> FillDetail:
    """The fill's context, its checks (linked to the context, or recorded against its order and not linked
    yet), and the context type a new context would start with. Blocking."""
    context = get_context(sessions, user_id, fill_id=fill.id)
    checks: dict[uuid.UUID, StoredCheck] = {}
    if context is not None:
        checks.update((c.id, c) for c in list_checks(sessions, user_id, decision_context_id=context.id))
    if fill.order_id is not None:
        checks.update((c.id, c) for c in list_checks(sessions, user_id, order_id=fill.order_id))
    ordered = tuple(sorted(checks.values(), key=lambda c: (c.checked_at, c.check_type), reverse=True))
    suggested = "entry"
    if context is None:
        campaigns = campaigns_of_fill(sessions, user_id, fill.id)
        suggested = _suggested_type(fill.id, [e for c in campaigns for e in c.effects])
    return FillDetail(fill.id, context, ordered, suggested)


def save_context(
    sessions: sessionmaker[Session],
    user_id: uuid.UUID,
    fill_id: uuid.UUID,
    context_id: uuid.UUID | None,
    data: ContextInput,
) -> DecisionContextView:
    """Attach the fill's context, or update it. A context that appeared meanwhile (the journal follower creates
    a bare one to hang checks on) is updated instead; a "then" field it already holds is refused by core with
    the reason. Blocking."""
    then = data.then_fields()
    editable = {"notes": data.notes, "feelings_now": data.feelings_now, "strategy_id": data.strategy_id}
    if context_id is None:
        try:
            return attach_context(sessions, user_id, fill_id, data.context_type, **editable, **then)
        except AlreadyAttached:
            existing = get_context(sessions, user_id, fill_id=fill_id)
            if existing is None:
                raise
            context_id = existing.id
    return update_context(sessions, user_id, context_id, context_type=data.context_type, **editable, **then)
