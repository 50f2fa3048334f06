"""journal: pre-trade checks before any fill exists (campaign_checks.order_id, nullable decision context)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

Seed 003 ties every behavioural check to a fill's decision context, but the order ticket runs its checks
before the order is placed, let alone filled. So:

* ``decision_context_id`` becomes nullable and ``order_id`` (to ``orders``) is added: a pre-trade check is
  recorded against the order the trader placed, and linked to the fill's decision context when the order
  fills (``core.journal.check_store.link_checks_to_fill``).
* ``ck_campaign_checks_subject``: every check but a pre-trade one names a decision context. Rather than "a
  decision context or an order", because (1) every later phase (at entry, during, at exit, post trade) judges
  a fill, so it must name that fill's context, an order is not enough; and (2) a pre-trade check may have
  neither: some of the most telling ones never lead to an order (the trader cancelled at the nudge, changed
  the ticket so the original proposal never existed as an order, or the ledger refused it). Those rows keep
  the proposal in ``details`` and are the record of "the nudge stopped me"; requiring a subject would throw
  them away.
* ``order_id`` is ``ON DELETE SET NULL``: the check outlives its order, and the CHECK above still holds for it
  (an order only ever stands in for the context of a pre-trade check). Orders with fills cannot be deleted
  anyway: ``fills.order_id`` has no ON DELETE action.

Downgrade deletes the checks that have no decision context (pre-trade checks that never met a fill): the
0004 schema cannot hold them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUBJECT = "check_phase = 'pre_trade' OR decision_context_id IS NOT NULL"


def upgrade() -> None:
    op.add_column("campaign_checks", sa.Column("order_id", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_campaign_checks_order_id_orders"), "campaign_checks", "orders", ["order_id"], ["id"],
        ondelete="SET NULL",
    )  # fmt: skip
    op.create_index(op.f("ix_campaign_checks_order_id"), "campaign_checks", ["order_id"], unique=False)
    op.alter_column("campaign_checks", "decision_context_id", existing_type=sa.UUID(), nullable=True)
    op.create_check_constraint(op.f("ck_campaign_checks_subject"), "campaign_checks", SUBJECT)


def downgrade() -> None:
    op.drop_constraint(op.f("ck_campaign_checks_subject"), "campaign_checks", type_="check")
    op.execute("DELETE FROM campaign_checks WHERE decision_context_id IS NULL")
    op.alter_column("campaign_checks", "decision_context_id", existing_type=sa.UUID(), nullable=False)
    op.drop_index(op.f("ix_campaign_checks_order_id"), table_name="campaign_checks")
    op.drop_constraint(op.f("fk_campaign_checks_order_id_orders"), "campaign_checks", type_="foreignkey")
    op.drop_column("campaign_checks", "order_id")
