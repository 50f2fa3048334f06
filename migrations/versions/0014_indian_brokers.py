"""broker links may name Zerodha, Angel One or ICICI Direct (seed 004 ``brokers.broker_type``)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08

Seed 004 keeps each user's Indian brokerage accounts (``zerodha``, ``angel``, ``icici``) with their API
credentials encrypted at rest; StratForge keeps them as ``broker_connections`` rows (the credentials in
``credentials_encrypted``, sealed with a key that lives outside the database). Only the list of allowed broker
names changes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = ("alpaca", "snaptrade", "csv", "sim")
_AFTER = (*_BEFORE, "zerodha", "angel", "icici")


def _check(names: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_broker_connections_broker"), "broker_connections", type_="check")
    listed = ", ".join(f"'{name}'" for name in names)
    op.create_check_constraint(op.f("ck_broker_connections_broker"), "broker_connections", f"broker IN ({listed})")


def upgrade() -> None:
    _check(_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM broker_connections WHERE broker IN ('zerodha', 'angel', 'icici')")
    _check(_BEFORE)
