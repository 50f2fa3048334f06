"""Decision contexts: why the trader made a fill, what exit they planned, how they felt then and feel now.

One per fill (seed 003). The fill itself never changes; its context is the trader's, and partly editable:

* ``feelings_now``, ``notes``, the ``context_type`` (e.g. turning it into a ``post_trade_reflection``) and
  the linked strategy can be changed at any time;
* ``hypothesis``, ``exit_intent`` and ``feelings_then`` record what the trader thought *at the time*. They can
  be filled in once while empty (a context created automatically, or written in a hurry), but a value once
  set is never rewritten: a plan edited after the outcome is known would make every check that compares
  the trade with its plan (exceeded planned stop, exit without a plan) meaningless.

Only the fill's owner can attach or edit; another user's fill or context is "not found".
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import DecisionContext, Strategy
from core.db.models.journal import CONTEXT_TYPES
from core.journal._common import UNSET, bounded_text, json_object, utc
from core.journal.campaigns import infer_context_type, positions_before
from core.journal.errors import AlreadyAttached, InvalidJournalInput, NotFound
from core.journal.exit_intent import ExitIntent
from core.journal.fills import JournalFill, get_fill, load_fills

__all__ = [
    "CONTEXT_TYPES",
    "DecisionContextView",
    "attach_context",
    "context_for_fill",
    "ensure_context",
    "get_context",
    "list_contexts",
    "update_context",
]


@dataclass(frozen=True)
class DecisionContextView:
    id: uuid.UUID
    fill_id: uuid.UUID
    context_type: str
    strategy_id: uuid.UUID | None
    hypothesis: str | None
    exit_intent: ExitIntent | None
    feelings_then: dict[str, Any] | None
    feelings_now: dict[str, Any] | None
    notes: str | None
    created_at: datetime
    updated_at: datetime


def _view(row: DecisionContext) -> DecisionContextView:
    return DecisionContextView(
        id=row.id,
        fill_id=row.fill_id,
        context_type=row.context_type,
        strategy_id=row.strategy_id,
        hypothesis=row.hypothesis,
        exit_intent=ExitIntent.from_json(row.exit_intent),
        feelings_then=row.feelings_then,
        feelings_now=row.feelings_now,
        notes=row.notes,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
    )


def _context_type(value: str) -> str:
    if value not in CONTEXT_TYPES:
        raise InvalidJournalInput(f"The context type must be one of: {', '.join(CONTEXT_TYPES)}.")
    return value


def _strategy(session: Session, user_id: uuid.UUID, strategy_id: uuid.UUID | None) -> uuid.UUID | None:
    """The strategy, if the user may link it: their own, or one shared with the club (public)."""
    if strategy_id is None:
        return None
    allowed = session.scalar(
        select(Strategy.id).where(Strategy.id == strategy_id, or_(Strategy.user_id == user_id, Strategy.is_public))
    )
    if allowed is None:
        raise NotFound("No such strategy.")
    return allowed


def _exit_intent_json(value: ExitIntent | Mapping[str, Any] | None) -> dict[str, Any] | None:
    intent = ExitIntent.coerce(value)
    if intent is None or not (intent.has_plan or intent.note):
        return None
    return intent.to_json()


def attach_context(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    fill_id: uuid.UUID,
    context_type: str,
    *,
    hypothesis: str | None = None,
    exit_intent: ExitIntent | Mapping[str, Any] | None = None,
    feelings_then: Mapping[str, Any] | None = None,
    feelings_now: Mapping[str, Any] | None = None,
    notes: str | None = None,
    strategy_id: uuid.UUID | None = None,
) -> DecisionContextView:
    """Attach the context of the user's fill. Raises NotFound (no such fill or strategy of this user),
    AlreadyAttached (the fill has one: edit it with ``update_context``), InvalidJournalInput."""
    row = DecisionContext(
        id=uuid.uuid4(),
        user_id=user_id,
        fill_id=fill_id,
        context_type=_context_type(context_type),
        hypothesis=bounded_text(hypothesis, "The hypothesis"),
        exit_intent=_exit_intent_json(exit_intent),
        feelings_then=json_object(feelings_then, "Feelings then"),
        feelings_now=json_object(feelings_now, "Feelings now"),
        notes=bounded_text(notes, "Notes"),
    )
    with session_factory() as s:
        if get_fill(s, user_id, fill_id) is None:
            raise NotFound("No such fill.")
        row.strategy_id = _strategy(s, user_id, strategy_id)
        s.add(row)
        try:
            s.commit()
        except IntegrityError as exc:
            s.rollback()
            if "uq_decision_contexts_fill_id" in str(exc.orig):
                raise AlreadyAttached("This fill already has its decision context; edit that one.") from None
            raise
        s.refresh(row)
        return _view(row)


_THEN_FIELDS = {"hypothesis": "hypothesis", "exit_intent": "planned exit", "feelings_then": "feelings at the time"}


def update_context(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    context_id: uuid.UUID,
    *,
    context_type: str = UNSET,
    feelings_now: Mapping[str, Any] | None = UNSET,
    notes: str | None = UNSET,
    strategy_id: uuid.UUID | None = UNSET,
    hypothesis: str | None = UNSET,
    exit_intent: ExitIntent | Mapping[str, Any] | None = UNSET,
    feelings_then: Mapping[str, Any] | None = UNSET,
) -> DecisionContextView:
    """Change the given fields of the user's context (None clears an editable field). The "then" fields
    (hypothesis, exit_intent, feelings_then) may only be filled in while empty; raises InvalidJournalInput
    when asked to change one that is set, NotFound for a context that is not this user's."""
    with session_factory() as s:
        row = s.scalar(
            select(DecisionContext)
            .where(DecisionContext.id == context_id, DecisionContext.user_id == user_id)
            .with_for_update()
        )
        if row is None:
            raise NotFound("No such decision context.")
        if context_type is not UNSET:
            row.context_type = _context_type(context_type)
        if feelings_now is not UNSET:
            row.feelings_now = json_object(feelings_now, "Feelings now")
        if notes is not UNSET:
            row.notes = bounded_text(notes, "Notes")
        if strategy_id is not UNSET:
            row.strategy_id = _strategy(s, user_id, strategy_id)
        then: dict[str, tuple[object, Callable[[Any], object]]] = {
            "hypothesis": (hypothesis, lambda v: bounded_text(v, "The hypothesis")),
            "exit_intent": (exit_intent, _exit_intent_json),
            "feelings_then": (feelings_then, lambda v: json_object(v, "Feelings then")),
        }
        for field, (given, clean) in then.items():
            if given is UNSET:
                continue
            value = clean(given)
            current = getattr(row, field)
            if current == value:
                continue
            if current is not None:
                raise InvalidJournalInput(
                    f"The {_THEN_FIELDS[field]} records what you thought when you traded and cannot be rewritten; "
                    "add to the notes or to how you feel now instead."
                )
            setattr(row, field, value)
        s.commit()
        s.refresh(row)
        return _view(row)


def get_context(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    *,
    context_id: uuid.UUID | None = None,
    fill_id: uuid.UUID | None = None,
) -> DecisionContextView | None:
    """The user's context by its id or by its fill's id; None when there is none (or it is not theirs)."""
    if (context_id is None) == (fill_id is None):
        raise InvalidJournalInput("Give either a context id or a fill id.")
    query = select(DecisionContext).where(DecisionContext.user_id == user_id)
    query = query.where(DecisionContext.id == context_id if context_id else DecisionContext.fill_id == fill_id)
    with session_factory() as s:
        row = s.scalar(query)
        return _view(row) if row is not None else None


def list_contexts(
    session_factory: sessionmaker[Session], user_id: uuid.UUID, fill_ids: Iterable[uuid.UUID] | None = None
) -> dict[uuid.UUID, DecisionContextView]:
    """The user's contexts by fill id (all of them, or those of ``fill_ids``)."""
    query = select(DecisionContext).where(DecisionContext.user_id == user_id)
    if fill_ids is not None:
        query = query.where(DecisionContext.fill_id.in_(list(fill_ids)))
    with session_factory() as s:
        return {row.fill_id: _view(row) for row in s.scalars(query)}


def context_for_fill(session: Session, user_id: uuid.UUID, fill_id: uuid.UUID) -> DecisionContextView | None:
    row = session.scalar(
        select(DecisionContext).where(DecisionContext.user_id == user_id, DecisionContext.fill_id == fill_id)
    )
    return _view(row) if row is not None else None


def ensure_context(
    session: Session,
    user_id: uuid.UUID,
    fill: JournalFill,
    *,
    exit_intent: ExitIntent | None = None,
) -> uuid.UUID:
    """The id of the fill's context, created bare if it has none (inside the caller's transaction).

    Checks must hang on a context; a fill the trader never annotated gets one whose type says what the fill
    did to the position (entry, add, reduce, exit), and the exit the order itself planned (its bracket's stop
    and target), so the trader can still write their reasoning into it later."""
    existing = session.scalar(
        select(DecisionContext.id).where(DecisionContext.user_id == user_id, DecisionContext.fill_id == fill.id)
    )
    if existing is not None:
        return existing
    before = positions_before(load_fills(session, user_id, fill.symbol)).get(fill.id)
    kind = infer_context_type(before if before is not None else Decimal(0), fill.signed_quantity)
    plan = exit_intent.to_json() if exit_intent is not None and exit_intent.has_plan else None
    session.execute(
        insert(DecisionContext)
        .values(id=uuid.uuid4(), user_id=user_id, fill_id=fill.id, context_type=kind, exit_intent=plan)
        .on_conflict_do_nothing(index_elements=[DecisionContext.fill_id])
    )
    created = session.scalar(select(DecisionContext.id).where(DecisionContext.fill_id == fill.id))
    assert created is not None
    return created
