"""orders: fewer index entries per row version (two unused indexes dropped, four made partial)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

Every ledger update of an order sets an indexed column (status, broker id, submitted_at), so PostgreSQL
cannot update it in place (HOT): each row version of an order, its insert, its acceptance and its fill,
adds an entry to every index of the table: 32 index insertions per order with eleven indexes (ten for the
fill's version, which leaves the open-orders index).

* ``ix_orders_user_id_status`` and ``ix_orders_symbol`` had no reader. A user's open orders come from the
  partial ``ix_orders_open``, a user's orders by symbol and time from ``ix_orders_user_id_symbol_created_at``
  (whose leading user_id also serves the users foreign key), and nothing looks orders up by symbol alone.
* ``session_id``, ``signal_id``, ``parent_order_id`` (only bracket legs have one) and ``submitted_at`` are
  NULL on many rows, and every reader asks for a value (``= x``, which PostgreSQL proves implies NOT NULL,
  including the foreign keys' own ON DELETE lookups) or sorts submitted orders. Partial indexes ``WHERE
  ... IS NOT NULL`` answer the same queries without an entry for each NULL.

A manual order (no session, no signal, no parent) now adds 16 index entries over its three row versions
instead of 32. The seed's ``submitted_at DESC`` index (002) stays, as a partial one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROPPED = {"ix_orders_user_id_status": ["user_id", "status"], "ix_orders_symbol": ["symbol"]}
SPARSE = {  # index -> its column (expression)
    "ix_orders_session_id": "session_id",
    "ix_orders_signal_id": "signal_id",
    "ix_orders_parent_order_id": "parent_order_id",
}


def upgrade() -> None:
    for name in DROPPED:
        op.drop_index(name, table_name="orders")
    for name, column in SPARSE.items():
        op.drop_index(name, table_name="orders")
        op.create_index(name, "orders", [column], postgresql_where=sa.text(f"{column} IS NOT NULL"))
    op.drop_index("ix_orders_submitted_at", table_name="orders")
    op.create_index(
        "ix_orders_submitted_at", "orders", [sa.text("submitted_at DESC")],
        postgresql_where=sa.text("submitted_at IS NOT NULL"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_orders_submitted_at", table_name="orders")
    op.create_index("ix_orders_submitted_at", "orders", [sa.text("submitted_at DESC")])
    for name, column in SPARSE.items():
        op.drop_index(name, table_name="orders")
        op.create_index(name, "orders", [column])
    for name, columns in DROPPED.items():
        op.create_index(name, "orders", columns)
