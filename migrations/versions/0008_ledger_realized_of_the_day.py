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

``sf_apply_event`` is revision 0006's function, derived from that text, with two statements changed: that
users UPDATE, and the order lookup by client or broker id, which becomes two unique-index lookups (see
``_LOOKUP``).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PREVIOUS = importlib.import_module("migrations.versions.0006_ledger_booking_without_replanning")

_USERS_UPDATE_0006 = """
    IF v_cash <> 0 OR v_reserved <> 0 OR v_realized_total <> 0 OR v_fees_total <> 0 THEN
        UPDATE users
           SET virtual_balance = virtual_balance + v_cash,
               reserved_balance = reserved_balance + v_reserved,
               realized_pnl = realized_pnl + v_realized_total,
               fees_paid = fees_paid + v_fees_total,
               updated_at = now()
         WHERE id = v_user_id;
    END IF;
"""

# In an UPDATE every right-hand side sees the row as it was, so both CASEs compare the old realized_day.
_USERS_UPDATE = """
    IF v_cash <> 0 OR v_reserved <> 0 OR v_realized_total <> 0 OR v_fees_total <> 0 OR v_fill_id IS NOT NULL THEN
        UPDATE users
           SET virtual_balance = virtual_balance + v_cash,
               reserved_balance = reserved_balance + v_reserved,
               realized_pnl = realized_pnl + v_realized_total,
               fees_paid = fees_paid + v_fees_total,
               realized_day_pnl = CASE
                   WHEN v_fill_id IS NULL OR realized_day > (p_ts AT TIME ZONE 'UTC')::date THEN realized_day_pnl
                   WHEN realized_day = (p_ts AT TIME ZONE 'UTC')::date
                       THEN realized_day_pnl + v_realized_total - v_fees_total
                   ELSE v_realized_total - v_fees_total END,
               realized_day = CASE
                   WHEN v_fill_id IS NULL OR realized_day > (p_ts AT TIME ZONE 'UTC')::date THEN realized_day
                   ELSE (p_ts AT TIME ZONE 'UTC')::date END,
               updated_at = now()
         WHERE id = v_user_id;
    END IF;
"""

_LOOKUP_0006 = """
    SELECT id, orders.user_id INTO v_order_id, v_user_id
      FROM orders
     WHERE client_order_id = p_client_order_id OR broker_order_id = p_broker_order_id
     LIMIT 1;
"""

# Two unique-index lookups. The OR with LIMIT 1 was planned as a sequential scan whenever the function was
# first called on a nearly empty table (a new database), and PL/pgSQL kept that plan for the session: every
# booking then read the whole orders table until an ANALYZE happened to invalidate it.
_LOOKUP = """
    SELECT id, orders.user_id INTO v_order_id, v_user_id FROM orders WHERE client_order_id = p_client_order_id;
    IF NOT FOUND AND p_broker_order_id IS NOT NULL THEN
        SELECT id, orders.user_id INTO v_order_id, v_user_id FROM orders WHERE broker_order_id = p_broker_order_id;
    END IF;
"""


def _revised(function: str) -> str:
    for old, new in ((_USERS_UPDATE_0006, _USERS_UPDATE), (_LOOKUP_0006, _LOOKUP)):
        if function.count(old) != 1:
            raise RuntimeError("revision 0006's sf_apply_event no longer has the statement this revision replaces")
        function = function.replace(old, new)
    return function


SF_APPLY_EVENT = _revised(_PREVIOUS.SF_APPLY_EVENT)

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
    op.execute(SF_APPLY_EVENT)


def downgrade() -> None:
    op.execute(_PREVIOUS.SF_APPLY_EVENT)
    op.drop_column("users", "realized_day_pnl")
    op.drop_column("users", "realized_day")
