"""The trading-buddy journal (003): decision contexts, behavioural checks, campaigns, entries.

Fills themselves live in ``fills`` (core.db.models.trading); the journal
attaches reasoning to them and derives campaigns from them.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, created_ts, enum_check, updated_ts, uuid_pk

CONTEXT_TYPES = ("entry", "add", "reduce", "exit", "idea", "post_trade_reflection")
SEVERITIES = ("info", "warn", "critical")
TRADER_ACTIONS = ("proceeded", "modified", "cancelled")
CHECK_PHASES = ("pre_trade", "at_entry", "during", "at_exit", "post_trade")


class DecisionContext(Base):
    """Why the trader made one fill, and how they feel about it now (1-to-1 with a fill)."""

    __tablename__ = "decision_contexts"
    __table_args__ = (
        CheckConstraint(enum_check("context_type", CONTEXT_TYPES), name="context_type"),
        Index("ix_decision_contexts_user_id_fill_id", "user_id", "fill_id"),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    fill_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("fills.id", ondelete="CASCADE"), unique=True)
    context_type: Mapped[str] = mapped_column(String(30))
    strategy_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("strategies.id", ondelete="SET NULL"), index=True)
    hypothesis: Mapped[str | None] = mapped_column(Text)
    exit_intent: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    feelings_then: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    feelings_now: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]


class CampaignCheck(Base):
    """One behavioural check result and what the trader did about its nudge.

    A pre-trade check is recorded before any fill exists: against the order the trader placed
    (``order_id``), or against nothing when the trader cancelled or changed the ticket (the proposal is in
    ``details``). When the order fills, its checks are linked to the fill's decision context. Every other
    phase judges a fill and must name its decision context (``ck_campaign_checks_subject``, migration 0005).
    """

    __tablename__ = "campaign_checks"
    __table_args__ = (
        CheckConstraint(enum_check("severity", SEVERITIES), name="severity"),
        CheckConstraint(enum_check("check_phase", CHECK_PHASES), name="check_phase"),
        CheckConstraint(
            "trader_action IS NULL OR " + enum_check("trader_action", TRADER_ACTIONS), name="trader_action"
        ),
        CheckConstraint("check_phase = 'pre_trade' OR decision_context_id IS NOT NULL", name="subject"),
        Index("ix_campaign_checks_user_id_checked_at", "user_id", "checked_at"),
    )

    id: Mapped[uuid_pk]
    decision_context_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("decision_contexts.id", ondelete="CASCADE"), index=True
    )
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    check_type: Mapped[str] = mapped_column(String(50))
    severity: Mapped[str] = mapped_column(String(10))
    passed: Mapped[bool] = mapped_column(Boolean)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    nudge_text: Mapped[str | None] = mapped_column(Text)
    acknowledged: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    trader_action: Mapped[str | None] = mapped_column(String(20))
    checked_at: Mapped[created_ts]
    check_phase: Mapped[str] = mapped_column(String(20))


class CampaignFill(Base):
    """Membership of a fill in a campaign (flat-to-flat, FIFO zero-crossing).

    ``group_id`` is the id of the campaign's first fill; a fill that flips the
    position through zero belongs to two campaigns, hence (group, fill) unique.
    """

    __tablename__ = "campaign_fills"
    __table_args__ = (UniqueConstraint("group_id", "fill_id"),)

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("fills.id", ondelete="CASCADE"), index=True)
    fill_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("fills.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[created_ts]


class JournalEntry(Base):
    __tablename__ = "journal_entries"
    __table_args__ = (Index("ix_journal_entries_user_id_entry_date", "user_id", "entry_date"),)

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    entry_date: Mapped[date] = mapped_column(Date)  # 003 "date" (was VARCHAR YYYY-MM-DD)
    entry_type: Mapped[str] = mapped_column(String(30))
    content: Mapped[str] = mapped_column(Text)
    fill_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("fills.id", ondelete="SET NULL"))
    tags: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    mood: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]
