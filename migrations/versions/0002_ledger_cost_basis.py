"""ledger: exact cost basis on positions; cash may go below zero after an unreserved gap fill

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

The ledger invariant (cash + reserved + cost of positions - realized P&L + fees
= starting balance) must hold to the cent, so positions keep the exact money
paid for the shares they hold instead of an average price that rounds. A fill
is a fact from the broker and must always apply, even when a market order
gapped beyond its reservation; the cash check would refuse it, so it goes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "positions",
        sa.Column("cost_basis", sa.Numeric(precision=20, scale=6), server_default=sa.text("0"), nullable=False),
    )
    op.execute("UPDATE positions SET cost_basis = round(quantity * average_entry_price, 6)")
    op.create_check_constraint(op.f("ck_positions_cost_basis_non_negative"), "positions", "cost_basis >= 0")
    op.drop_constraint(op.f("ck_users_virtual_balance_non_negative"), "users", type_="check")
    op.create_index("ix_orders_user_id_symbol_created_at", "orders", ["user_id", "symbol", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_orders_user_id_symbol_created_at", table_name="orders")
    op.create_check_constraint(op.f("ck_users_virtual_balance_non_negative"), "users", "virtual_balance >= 0")
    op.drop_constraint(op.f("ck_positions_cost_basis_non_negative"), "positions", type_="check")
    op.drop_column("positions", "cost_basis")
