"""ledger: book broker events in the database, one round trip per event

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

Booking a fill touches six rows (user, order, position, fill, position history,
and the order's fills for a merged-event price) under two row locks. Done from
Python that was a dozen statements and as many round trips with the user's
row locked throughout, so clients serialised on each other's network latency.
``sf_apply_event`` does the same work inside the server: the locks are held
only for the microseconds the function runs, and every client, whatever it is
written in, books an event identically.

Bookings commit asynchronously (``synchronous_commit = off`` for that
transaction only). Every booking is re-derivable: the broker keeps each
order's cumulative fill, and start-up settlement asks it about every order
still open in the ledger, so a booking lost to a server or OS crash (at most
the last fraction of a second) is booked again. WAL is sequential, so any
later durable commit (an order placement) makes earlier bookings durable too.
Placements stay synchronous: an order must be on disk before the broker sees it.
NOTIFY is sent by the client after commit, coalesced (``core.db.notifier``):
inside these transactions it would serialise every commit in the database.

``sf_money`` rounds half to even at six places, as ``core.domain.money.money``
does, so amounts booked here and amounts computed in Python agree to the unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The text this revision installs, frozen beside it (``sql/0003_*.sql``): a later revision that changes a
# function freezes its own copy and leaves these alone. Revision 0006's downgrade reinstalls them.
_FROZEN = Path(__file__).with_name("sql")


def _frozen(name: str) -> str:
    return (_FROZEN / name).read_text(encoding="utf-8")


def upgrade() -> None:
    op.execute(_frozen("0003_sf_money.sql"))
    op.execute(_frozen("0003_sf_apply_event.sql"))


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION sf_apply_event(text, text, text, text, numeric, numeric, numeric, numeric, timestamptz, "
        "numeric, numeric, numeric, text, timestamptz, text)"
    )
    op.execute("DROP FUNCTION sf_money(numeric)")
