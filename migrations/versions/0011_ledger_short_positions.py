"""ledger: virtual short positions (signed quantities and cost bases, flips through zero in one fill)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

A trader may now sell more than they hold (issue 25). A position's quantity is signed: a short has a negative
quantity and a negative cost basis (its quantity times its average entry price, which stays positive), so the
ledger invariant (cash + reserved + cost of positions - realized P&L + fees = starting balance) holds unchanged
with shorts: a short sale credits its proceeds to cash and debits the same amount to the cost basis.

Constraints: ``positions.quantity >= 0`` and ``positions.cost_basis >= 0`` become one CHECK that the cost basis
has the quantity's sign (``ck_positions_cost_basis_sign``; zero is allowed on either side, since a long of a
few billionths of a share can cost less than a millionth of a dollar); ``position_history.quantity_after`` may
be negative, and its action gains ``REVERSE`` for a fill that closes a position and opens the other way.

``sf_apply_event`` (frozen as ``sql/0011_sf_apply_event.sql``) is revision 0008's function with the position
arithmetic generalised: a fill first closes what it opposes (realizing P&L on that part) and opens the rest on
its own side; a sell fill releases the initial margin its short sale held (in proportion to the fill); SF002 now
means a sell fill whose short part is a fractional number of shares (it used to mean any sell beyond the long).
Its signature is unchanged.

The downgrade reinstalls revision 0008's frozen text and the old constraints; it fails while any short
position or reversal is on the books, which is what it should do (those books cannot be expressed without
shorts).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FROZEN = Path(__file__).with_name("sql")

_ACTIONS_BEFORE = "action IN ('OPEN', 'CLOSE', 'INCREASE', 'DECREASE')"
_ACTIONS = "action IN ('OPEN', 'CLOSE', 'INCREASE', 'DECREASE', 'REVERSE')"
_COST_BASIS_SIGN = "(quantity >= 0 AND cost_basis >= 0) OR (quantity < 0 AND cost_basis <= 0)"


def _frozen(name: str) -> str:
    return (_FROZEN / name).read_text(encoding="utf-8")


def upgrade() -> None:
    op.drop_constraint(op.f("ck_positions_quantity_non_negative"), "positions", type_="check")
    op.drop_constraint(op.f("ck_positions_cost_basis_non_negative"), "positions", type_="check")
    op.create_check_constraint(op.f("ck_positions_cost_basis_sign"), "positions", _COST_BASIS_SIGN)
    op.drop_constraint(op.f("ck_position_history_quantity_after_non_negative"), "position_history", type_="check")
    op.drop_constraint(op.f("ck_position_history_action"), "position_history", type_="check")
    op.create_check_constraint(op.f("ck_position_history_action"), "position_history", _ACTIONS)
    op.execute(_frozen("0011_sf_apply_event.sql"))


def downgrade() -> None:
    op.execute(_frozen("0008_sf_apply_event.sql"))
    op.drop_constraint(op.f("ck_position_history_action"), "position_history", type_="check")
    op.create_check_constraint(op.f("ck_position_history_action"), "position_history", _ACTIONS_BEFORE)
    op.create_check_constraint(
        op.f("ck_position_history_quantity_after_non_negative"), "position_history", "quantity_after >= 0"
    )
    op.drop_constraint(op.f("ck_positions_cost_basis_sign"), "positions", type_="check")
    op.create_check_constraint(op.f("ck_positions_cost_basis_non_negative"), "positions", "cost_basis >= 0")
    op.create_check_constraint(op.f("ck_positions_quantity_non_negative"), "positions", "quantity >= 0")
