"""ledger: an index for the placement's "realized today" read (fills of one user since a time, ledger's own)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Every placement sums the user's ledger fills since the start of the UTC day (the daily loss rule). The
query filters on ``source = 'ledger'``, which matches the predicate of ``uq_fills_ledger_execution_id``, and
the planner took that partial index, reading every ledger fill of every user (0.7 ms per user with 2,000
fills in the table, growing with it). An index on (user_id, executed_at) with the same predicate makes the
read the user's fills of the day and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_fills_ledger_user_id_executed_at"


def upgrade() -> None:
    op.create_index(INDEX, "fills", ["user_id", "executed_at"], postgresql_where=sa.text("source = 'ledger'"))


def downgrade() -> None:
    op.drop_index(INDEX, table_name="fills")
