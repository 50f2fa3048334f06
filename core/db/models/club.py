"""The club router's own tables: what it sent to the shared account and whose orders each street order carries.

Traders' orders stay in ``orders`` (virtual until routed). The router (core/club) records each routing step
before it sends anything, so a router that dies mid-step leaves a plan the next one can finish:

- ``club_route_steps``: one per (symbol, step): the street order sent for the net quantity, if any, with the
  fill already allocated (``street_filled``/``street_notional``: the watermark, moved in the same transaction
  as the virtual fills it books, which is what makes every virtual fill happen exactly once).
- ``club_route_allocations``: the virtual orders a step carries, in allocation priority: ``street`` (filled from
  the street order), ``cross`` (crossed internally with the other side at the step's price), ``follow`` (a
  resting order already filled virtually by the fill model, whose quantity the real account must follow).
- ``club_follows``: resting orders the fill model filled on a bar, not yet fully followed by the real account.
- ``club_stop_triggers``: stop-limit orders whose stop has triggered (they rest as limits afterwards).

Two tables of migration 0012 (per-trader roles, docs/ARCHITECTURE.md "Who may touch what"):

- ``club_members``: which PostgreSQL login role is which user (``sf_uid()`` reads it for row-level security).
- ``order_requests``: a trader's role cannot write orders or money; it files a request here, and the club service
  runs the risk chain and the reservation for that trader only, then answers on the row.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, Money, Quantity, created_ts, enum_check, tstz, uuid_pk

STEP_STATUSES = ("planned", "open", "done", "not_placed")
STEP_PURPOSES = ("net", "close", "open", "cross")
ALLOCATION_KINDS = ("street", "cross", "follow")
OPEN_STEP_STATUSES = ("planned", "open")
REQUEST_KINDS = ("place", "cancel")
REQUEST_STATUSES = ("requested", "processing", "accepted", "rejected", "withdrawn")


class ClubRouteStep(Base):
    __tablename__ = "club_route_steps"
    __table_args__ = (
        CheckConstraint(enum_check("status", STEP_STATUSES), name="status"),
        CheckConstraint(enum_check("purpose", STEP_PURPOSES), name="purpose"),
        CheckConstraint("side IS NULL OR side IN ('buy', 'sell')", name="side"),
        CheckConstraint("street_qty >= 0 AND street_filled >= 0 AND street_filled <= street_qty", name="qty_range"),
        # The unfinished steps of a symbol (several may be on their way, all on one side: core/club/router.py).
        Index("ix_club_route_steps_open_symbol", "symbol", postgresql_where=text("status IN ('planned', 'open')")),
    )  # fmt: skip

    id: Mapped[uuid_pk]
    symbol: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(8))
    side: Mapped[str | None] = mapped_column(String(4))
    street_qty: Mapped[Decimal] = mapped_column(Quantity, server_default="0")
    client_order_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    broker_order_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(12))
    street_filled: Mapped[Decimal] = mapped_column(Quantity, server_default="0")
    street_notional: Mapped[Decimal] = mapped_column(Numeric(28, 9), server_default="0")
    reference_price: Mapped[Decimal | None] = mapped_column(Money)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created_ts]
    sent_at: Mapped[tstz | None]


class ClubRouteAllocation(Base):
    __tablename__ = "club_route_allocations"
    __table_args__ = (
        CheckConstraint(enum_check("kind", ALLOCATION_KINDS), name="kind"),
        CheckConstraint("qty > 0 AND filled >= 0 AND filled <= qty", name="qty_range"),
        Index("ix_club_route_allocations_order_id", "order_id"),
    )

    step_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("club_route_steps.id", ondelete="CASCADE"), primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    priority: Mapped[int] = mapped_column(Integer)
    qty: Mapped[Decimal] = mapped_column(Quantity)
    filled: Mapped[Decimal] = mapped_column(Quantity, server_default="0")


class ClubFollow(Base):
    __tablename__ = "club_follows"
    __table_args__ = (
        CheckConstraint("side IN ('buy', 'sell')", name="side"),
        CheckConstraint("qty > 0 AND settled >= 0 AND settled <= qty", name="qty_range"),
        Index("ix_club_follows_unsettled", "symbol", postgresql_where=text("settled < qty")),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(20))
    side: Mapped[str] = mapped_column(String(4))
    qty: Mapped[Decimal] = mapped_column(Quantity)
    settled: Mapped[Decimal] = mapped_column(Quantity, server_default="0")
    price: Mapped[Decimal] = mapped_column(Money)
    created_at: Mapped[created_ts]


class ClubStopTrigger(Base):
    __tablename__ = "club_stop_triggers"

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    triggered_at: Mapped[created_ts]


class ClubMember(Base):
    """A trader's PostgreSQL login role (created on approval) and the user it acts as."""

    __tablename__ = "club_members"

    role_name: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[created_ts]


class OrderRequest(Base):
    """A trader's order or cancel, waiting for the club service's checks (the only way a trader's role trades)."""

    __tablename__ = "order_requests"
    __table_args__ = (
        CheckConstraint(enum_check("kind", REQUEST_KINDS), name="kind"),
        CheckConstraint(enum_check("status", REQUEST_STATUSES), name="status"),
        CheckConstraint("(kind = 'place') = (ticket IS NOT NULL)", name="ticket_iff_place"),
        Index(
            "ix_order_requests_waiting", "created_at", postgresql_where=text("status IN ('requested', 'processing')")
        ),
        Index("ix_order_requests_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), server_default=text("sf_uid()")
    )
    kind: Mapped[str] = mapped_column(String(8))
    ticket: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    session_id: Mapped[uuid.UUID | None]
    signal_id: Mapped[uuid.UUID | None]
    strategy_id: Mapped[uuid.UUID | None]
    order_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(String(12), server_default="requested")
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created_ts]
    answered_at: Mapped[tstz | None]
