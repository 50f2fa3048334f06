"""One database's trade journal, as the Journal panel and the journal follower use it.

``core.journal``'s functions each take the session factory; this facade holds it, so the app passes a ``Journal``
around and never the database handle. Most methods are those functions with the factory bound (same arguments,
same answers, same ``JournalError`` refusals written for the trader). Two are workflows of their own, moved out
of the panel: ``fill_detail`` (what the decision-context form shows for one fill, read in one call) and
``save_context`` (attach or update, coping with a context the follower created meanwhile).

Every method blocks on PostgreSQL, so the GUI calls them on a worker thread.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.journal import (
    AfterFill,
    AlreadyAttached,
    Campaign,
    DecisionContextView,
    EntryView,
    FillEffect,
    FillImportReport,
    JournalFill,
    JournalFillRow,
    StoredCheck,
    StrategyStats,
    acknowledge_check,
    attach_context,
    campaigns_of_fill,
    create_entry,
    delete_entry,
    get_context,
    import_fills_csv,
    list_campaigns,
    list_checks,
    list_fills,
    search_entries,
    strategy_stats,
    update_context,
    update_entry,
)
from core.journal.follow import CATCH_UP_LIMIT, journal_new_fills
from core.strategy.library import SavedStrategy, list_strategies

__all__ = ["CATCH_UP_LIMIT", "ContextInput", "FillDetail", "Journal"]


@dataclass(frozen=True)
class FillDetail:
    """What the decision-context form needs about one fill, read in one worker call."""

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


def suggested_type(fill_id: uuid.UUID, effects: list[FillEffect]) -> str:
    """As ``core.journal.campaigns.infer_context_type``, from the fill's effect in its first campaign (a fill
    through zero closes one campaign first: an exit)."""
    effect = next((e for e in effects if e.fill_id == fill_id), None)
    if effect is None:
        return "entry"
    if effect.closed > 0:
        return "exit" if effect.position_after == 0 else "reduce"
    return "entry" if abs(effect.position_after) == effect.opened else "add"


class Journal:
    """The journal of one database; every method sees only ``user_id``'s rows."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # --- fills and their decision contexts ---
    def fills(self, user_id: uuid.UUID, *, symbol: str | None = None, limit: int = 500) -> list[JournalFillRow]:
        """The trader's fills of every source (ledger and imported), newest first."""
        return list_fills(self._sessions, user_id, symbol=symbol, limit=limit)

    def strategies(self, user_id: uuid.UUID) -> list[SavedStrategy]:
        """The saved strategies a decision context can name."""
        return list_strategies(self._sessions, user_id)

    def import_fills_csv(self, user_id: uuid.UUID, path: str | os.PathLike[str]) -> FillImportReport:
        """A broker's CSV export into the journal (never the virtual account), reported row by row."""
        return import_fills_csv(self._sessions, user_id, path)

    def fill_detail(self, user_id: uuid.UUID, fill: JournalFill) -> FillDetail:
        """The fill's context, its checks (linked to the context, or recorded against its order and not linked
        yet), and the context type a new context would start with."""
        context = get_context(self._sessions, user_id, fill_id=fill.id)
        checks: dict[uuid.UUID, StoredCheck] = {}
        if context is not None:
            checks.update((c.id, c) for c in list_checks(self._sessions, user_id, decision_context_id=context.id))
        if fill.order_id is not None:
            checks.update((c.id, c) for c in list_checks(self._sessions, user_id, order_id=fill.order_id))
        ordered = tuple(sorted(checks.values(), key=lambda c: (c.checked_at, c.check_type), reverse=True))
        suggested = "entry"
        if context is None:
            campaigns = campaigns_of_fill(self._sessions, user_id, fill.id)
            suggested = suggested_type(fill.id, [e for c in campaigns for e in c.effects])
        return FillDetail(fill.id, context, ordered, suggested)

    def save_context(
        self, user_id: uuid.UUID, fill_id: uuid.UUID, context_id: uuid.UUID | None, data: ContextInput
    ) -> DecisionContextView:
        """Attach the fill's context, or update it. A context that appeared meanwhile (the journal follower
        creates a bare one to hang checks on) is updated instead; a "then" field it already holds is refused by
        core with the reason."""
        then = data.then_fields()
        editable: dict[str, Any] = {
            "notes": data.notes,
            "feelings_now": data.feelings_now,
            "strategy_id": data.strategy_id,
        }
        if context_id is None:
            try:
                return attach_context(self._sessions, user_id, fill_id, data.context_type, **editable, **then)
            except AlreadyAttached:
                existing = get_context(self._sessions, user_id, fill_id=fill_id)
                if existing is None:
                    raise
                context_id = existing.id
        return update_context(self._sessions, user_id, context_id, context_type=data.context_type, **editable, **then)

    # --- campaigns, statistics, checks ---
    def campaigns(self, user_id: uuid.UUID) -> list[Campaign]:
        """Every campaign of the trader, flat to flat per symbol."""
        return list_campaigns(self._sessions, user_id)

    def strategy_stats(self, user_id: uuid.UUID) -> list[StrategyStats]:
        return strategy_stats(self._sessions, user_id)

    def checks(self, user_id: uuid.UUID, *, failed_only: bool = False, limit: int = 200) -> list[StoredCheck]:
        """Checks of every phase, newest first."""
        return list_checks(self._sessions, user_id, failed_only=failed_only, limit=limit)

    def acknowledge_check(self, user_id: uuid.UUID, check_id: uuid.UUID) -> StoredCheck:
        """Mark a failed check as seen."""
        return acknowledge_check(self._sessions, user_id, check_id)

    # --- entries ---
    def search_entries(self, user_id: uuid.UUID, **filters: Any) -> list[EntryView]:
        """Entries matching every filter of ``core.journal.search_entries`` (text, tags, mood, ..., limit)."""
        return search_entries(self._sessions, user_id, **filters)

    def create_entry(self, user_id: uuid.UUID, entry_date: date, content: str, **fields: Any) -> EntryView:
        return create_entry(self._sessions, user_id, entry_date, content, **fields)

    def update_entry(self, user_id: uuid.UUID, entry_id: uuid.UUID, **fields: Any) -> EntryView:
        return update_entry(self._sessions, user_id, entry_id, **fields)

    def delete_entry(self, user_id: uuid.UUID, entry_id: uuid.UUID) -> None:
        delete_entry(self._sessions, user_id, entry_id)

    # --- following the ledger ---
    def journal_new_fills(self, user_id: uuid.UUID, *, limit: int = CATCH_UP_LIMIT) -> list[AfterFill]:
        """Journal the fills the ledger booked since the last pass (at most ``limit``): checks linked, campaigns
        regrouped, post-trade checks run. A list as long as ``limit`` means more may be waiting."""
        return journal_new_fills(self._sessions, user_id, limit=limit)
