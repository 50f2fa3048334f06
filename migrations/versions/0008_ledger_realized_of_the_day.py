"""ledger: the day's realized P&L kept on the user's row instead of summed over the day's fills per order

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

The daily loss rule needs the user's realized P&L net of fees since 00:00 UTC. Every placement summed the
user's ledger fills of the day for it, under the account lock: O(fills today) per order, so a busy day cost
more with each fill (1.3 ms per placement with 2,229 fills, replayed by ``bench.ledger_sql``), quadratic over
the day.

``users.realized_day`` and ``users.realized_day_pnl`` now hold the UTC date of the user's latest booked ledger
fill and the realized P&L net of fees of that date's fills. ``sf_apply_event`` keeps them in the users UPDATE
it already makes per fill (no extra statement): a fill of that date adds to it, a fill of a later date starts
the new day, a late fill of an earlier date leaves it alone. The placement reads the figure when the date is
today's. The upgrade fills them in from the fills already booked.

``sf_apply_event`` (frozen as ``sql/0008_sf_apply_event.sql``) is revision 0006's function with two statements
changed:

* that users UPDATE. In an UPDATE every right-hand side sees the row as it was, so both CASEs compare the old
  ``realized_day``.
* the order lookup by client or broker id, ``WHERE client_order_id = ... OR broker_order_id = ... LIMIT 1``,
  which becomes two unique-index lookups (the broker id's only when the client id finds nothing). The OR with
  LIMIT 1 was planned as a sequential scan whenever the function was first called on a nearly empty table (a
  new database), and PL/pgSQL kept that plan for the session: every booking then read the whole orders table
  until an ANALYZE happened to invalidate it.

The downgrade reinstalls revision 0006's frozen text (``sql/0006_sf_apply_event.sql``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FROZEN = Path(__file__).with_name("sql")


def _frozen(name: str) -> str:
    return (_FROZEN / name).read_text(encoding="utf-8")


_BACKFILL = """
WITH days AS (
    SELECT user_id, (executed_at AT TIME ZONE 'UTC')::date AS day, coalesce(realized_pnl, 0) - fees AS net
      FROM fills
     WHERE source = 'ledger'
), latest AS (
    SELECT user_id, max(day) AS day FROM days GROUP BY user_id
)
UPDATE users u
   SET realized_day = l.day,
       realized_day_pnl = (SELECT sum(d.net) FROM days d WHERE d.user_id = l.user_id AND d.day = l.day)
  FROM latest l
 WHERE u.id = l.user_id
"""


def upgrade() -> None:
    op.add_column("users", sa.Column("realized_day", sa.Date(), nullable=True))
    op.add_column(
        "users", sa.Column("realized_day_pnl", sa.Numeric(20, 6), server_default=sa.text("0"), nullable=False)
    )
    op.execute(_BACKFILL)
    op.execute(_frozen("0008_sf_apply_event.sql"))


def downgrade() -> None:
    op.execute(_frozen("0006_sf_apply_event.sql"))
    op.drop_column("users", "realized_day_pnl")
    op.drop_column("users", "realized_day")
