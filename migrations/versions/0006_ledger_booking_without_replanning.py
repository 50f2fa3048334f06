"""ledger: bookings without per-call planning or trigger calls

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Measured on the ledger benchmark (``bench.ledger``, a private PostgreSQL 15 with
pg_stat_statements), the server spent about a third of its time on work that
books nothing:

* ``sf_money`` was declared STRICT around a CASE, and PostgreSQL refuses to
  inline a strict SQL function whose body is not strict. Every call (five per
  fill) was run as a separate SQL function: parsed and planned again each time,
  31,000 plannings in a 6,000-order run. Without STRICT it is inlined into the
  calling expression and planned once per session. NULL still gives NULL (every
  branch of the CASE is NULL for a NULL argument).
* The ``updated_at`` trigger of ``orders``, ``users`` and ``positions`` fired a
  PL/pgSQL call on every row the ledger updates (five per order). It now fires
  only when the statement left ``updated_at`` as it was, and the ledger's own
  statements (``sf_apply_event`` below and the placement's reservation) set it
  themselves. Any other writer still gets ``updated_at = now()`` from the trigger.

``sf_apply_event`` is otherwise the function of revision 0003, unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables the ledger updates on every order and fill (revision 0001 created their triggers).
LEDGER_TABLES = ("orders", "users", "positions")

# The text this revision installs, frozen beside it (``sql/0006_*.sql``); the downgrade reinstalls revision
# 0003's frozen text (``sql/0003_*.sql``). A later revision that changes a function freezes its own copy.
_FROZEN = Path(__file__).with_name("sql")


def _frozen(name: str) -> str:
    return (_FROZEN / name).read_text(encoding="utf-8")


def _trigger(table: str, when: str) -> str:
    return (
        f"CREATE TRIGGER trg_{table}_updated_at BEFORE UPDATE ON {table} FOR EACH ROW {when}"
        "EXECUTE FUNCTION stratforge_set_updated_at()"
    )


def upgrade() -> None:
    op.execute(_frozen("0006_sf_money.sql"))
    for table in LEDGER_TABLES:
        op.execute(f"DROP TRIGGER trg_{table}_updated_at ON {table}")
        op.execute(_trigger(table, "WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at) "))
    op.execute(_frozen("0006_sf_apply_event.sql"))


def downgrade() -> None:
    op.execute(_frozen("0003_sf_apply_event.sql"))
    for table in LEDGER_TABLES:
        op.execute(f"DROP TRIGGER trg_{table}_updated_at ON {table}")
        op.execute(_trigger(table, ""))
    op.execute(_frozen("0003_sf_money.sql"))
