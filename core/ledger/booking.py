"""Booking one broker event in the database with ``sf_apply_event``.

The rules of booking (cumulative quantities, exactly-once execution ids, fees by
cumulative total, reservation release, status that never goes backwards) live
in that function so that they run under the row locks in a single round trip.
Its definition at head is ``core/ledger/sql/sf_apply_event.sql`` (with
``sf_money.sql`` beside it); a change to it is a new migration that installs a
frozen copy, ``migrations/versions/sql/<revision>_sf_apply_event.sql``.
This module only maps an :class:`OrderEvent` onto its arguments and its errors
onto ledger errors.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

import psycopg

from core.domain.orders import OrderEvent
from core.ledger.errors import LedgerError

_CALL = "SELECT outcome, owner_id FROM sf_apply_event(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
_LEDGER_ERRORS = ("SF001", "SF002")


class Outcome(StrEnum):
    UNKNOWN = "unknown"  # no StratForge order has this client or broker id (maybe a bracket leg to adopt)
    ACCEPTED = "accepted"  # a NEW event recorded the broker's id
    CHANGED = "changed"
    UNCHANGED = "unchanged"  # already booked: a duplicate, replayed or stale event


def book_event(conn: psycopg.Connection, event: OrderEvent) -> tuple[Outcome, uuid.UUID | None]:
    """Apply ``event`` on ``conn`` (an autocommit connection: the call is its own transaction).
    Returns the outcome and the user whose order it is (None when unknown)."""
    order = event.order
    execution_id = event.execution_id or f"{order.id}:{order.filled_qty}"
    params = (
        event.type.value, order.client_order_id, order.id, order.status.value, order.qty, order.filled_qty,
        order.filled_avg_price, order.filled_fees, order.submitted_at, event.price, event.qty, event.fee,
        execution_id, event.timestamp, event.reason,
    )  # fmt: skip
    try:
        row = conn.execute(_CALL, params, prepare=True).fetchone()
    except psycopg.Error as exc:
        if exc.sqlstate in _LEDGER_ERRORS:
            raise LedgerError(exc.diag.message_primary or str(exc)) from exc
        raise
    assert row is not None
    return Outcome(row[0]), row[1]
