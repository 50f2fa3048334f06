"""club router: routing steps, their allocations, followed resting fills, triggered stops

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

The club service's router (core/club) nets every trader's virtual orders into at most one street order per
symbol. It writes each step here before it sends anything, and moves a step's fill watermark in the same
transaction as the virtual fills it books: a router killed mid-step leaves a plan the next one finishes, and no
virtual fill is booked twice. See core/db/models/club.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QTY = sa.Numeric(24, 9)
MONEY = sa.Numeric(20, 6)


def _ts(name: str, nullable: bool = False) -> sa.Column:
    if nullable:
        return sa.Column(name, sa.DateTime(timezone=True), nullable=True)
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "club_route_steps",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("purpose", sa.String(8), nullable=False),
        sa.Column("side", sa.String(4)),
        sa.Column("street_qty", QTY, nullable=False, server_default="0"),
        sa.Column("client_order_id", sa.String(64), unique=True),
        sa.Column("broker_order_id", sa.String(64), unique=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("street_filled", QTY, nullable=False, server_default="0"),
        sa.Column("street_notional", sa.Numeric(28, 9), nullable=False, server_default="0"),
        sa.Column("reference_price", MONEY),
        sa.Column("error", sa.Text),
        _ts("created_at"),
        _ts("sent_at", nullable=True),
        sa.CheckConstraint("status IN ('planned', 'open', 'done', 'not_placed')", name="status"),
        sa.CheckConstraint("purpose IN ('net', 'close', 'open', 'cross')", name="purpose"),
        sa.CheckConstraint("side IS NULL OR side IN ('buy', 'sell')", name="side"),
        sa.CheckConstraint("street_qty >= 0 AND street_filled >= 0 AND street_filled <= street_qty", name="qty_range"),
    )
    op.create_index(
        "ix_club_route_steps_open_symbol", "club_route_steps", ["symbol"],
        postgresql_where=sa.text("status IN ('planned', 'open')"),
    )  # fmt: skip
    op.create_table(
        "club_route_allocations",
        sa.Column("step_id", UUID(as_uuid=True), sa.ForeignKey("club_route_steps.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("order_id", UUID(as_uuid=True), sa.ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("qty", QTY, nullable=False),
        sa.Column("filled", QTY, nullable=False, server_default="0"),
        sa.CheckConstraint("kind IN ('street', 'cross', 'follow')", name="kind"),
        sa.CheckConstraint("qty > 0 AND filled >= 0 AND filled <= qty", name="qty_range"),
    )  # fmt: skip
    op.create_index("ix_club_route_allocations_order_id", "club_route_allocations", ["order_id"])
    op.create_table(
        "club_follows",
        sa.Column("order_id", UUID(as_uuid=True), sa.ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("symbol", sa.String(20), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("qty", QTY, nullable=False),
        sa.Column("settled", QTY, nullable=False, server_default="0"),
        sa.Column("price", MONEY, nullable=False),
        _ts("created_at"),
        sa.CheckConstraint("side IN ('buy', 'sell')", name="side"),
        sa.CheckConstraint("qty > 0 AND settled >= 0 AND settled <= qty", name="qty_range"),
    )
    op.create_index("ix_club_follows_unsettled", "club_follows", ["symbol"], postgresql_where=sa.text("settled < qty"))
    op.create_table(
        "club_stop_triggers",
        sa.Column("order_id", UUID(as_uuid=True), sa.ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
        _ts("triggered_at"),
    )


def downgrade() -> None:
    op.drop_table("club_stop_triggers")
    op.drop_index("ix_club_follows_unsettled", table_name="club_follows")
    op.drop_table("club_follows")
    op.drop_index("ix_club_route_allocations_order_id", table_name="club_route_allocations")
    op.drop_table("club_route_allocations")
    op.drop_index("ix_club_route_steps_open_symbol", table_name="club_route_steps")
    op.drop_table("club_route_steps")
