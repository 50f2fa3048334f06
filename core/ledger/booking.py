"""Booking broker events in the database with ``sf_apply_event``, one at a time or a set in one statement.

The rules of booking (cumulative quantities, exactly-once execution ids, fees by
cumulative total, reservation release, status that never goes backwards) live
in that function so that they run under the row locks in a single round trip.
Its definition at head is ``core/ledger/sql/sf_apply_event.sql`` (with
``sf_money.sql`` beside it); a change to it is a new migration that installs a
frozen copy, ``migrations/versions/sql/<revision>_sf_apply_event.sql``.
This module only maps :class:`OrderEvent` objects onto its arguments and its
errors onto ledger errors.

A set of events (a bar's fills) is booked by one statement that calls the
function once per event, in one transaction: one round trip, one commit and
one pass through the driver instead of one of each per event. The calls run
in the order of the events' users, then of their orders' client ids, then of
their place in the set: every booking locks the user's row before the order's,
so two sets (or a set and a placement, which locks one user) take their locks
in the same order and wait for each other instead of deadlocking, and the
acceptance writer (core.ledger.acceptances) locks orders in that order too.
Events of one order keep their relative order.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import psycopg

from core.domain.orders import OrderEvent
from core.ledger.errors import LedgerError

log = logging.getLogger(__name__)

_CALL = "SELECT outcome, owner_id FROM sf_apply_event(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
_LEDGER_ERRORS = ("SF001", "SF002")
_UNIQUE_VIOLATION = "23505"
_DEADLOCK = "40P01"

# The function's arguments as arrays, one element per event, with the user of each event's order (unknown orders:
# NULL, sorted last). The subquery sorts the calls (OFFSET 0 keeps the planner from flattening it, so the nested
# loop calls the function in that order). {only_free} is empty, or keeps the events whose user's row ``free`` could
# lock at once: the rows are locked in one pass in id order, skipping those another transaction holds.
_CALL_SET = """
WITH a AS (
    SELECT a.*, coalesce((SELECT user_id FROM orders WHERE client_order_id = a.client_id),
                         (SELECT user_id FROM orders WHERE broker_order_id = a.broker_id)) AS user_id
      FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::numeric[], %s::numeric[], %s::numeric[],
                  %s::numeric[], %s::timestamptz[], %s::numeric[], %s::numeric[], %s::numeric[], %s::text[],
                  %s::timestamptz[], %s::text[])
           WITH ORDINALITY AS a(type, client_id, broker_id, status, order_qty, filled_qty, filled_avg, filled_fees,
                                submitted_at, price, qty, fee, execution_id, ts, reason, n)
){free}
SELECT e.n, r.outcome, r.owner_id
  FROM (SELECT * FROM a {only_free} ORDER BY user_id, client_id, n OFFSET 0) e
 CROSS JOIN LATERAL sf_apply_event(e.type, e.client_id, e.broker_id, e.status, e.order_qty, e.filled_qty,
                                   e.filled_avg, e.filled_fees, e.submitted_at, e.price, e.qty, e.fee,
                                   e.execution_id, e.ts, e.reason) r
"""
_FREE = """, free AS MATERIALIZED (
    SELECT id FROM users WHERE id IN (SELECT user_id FROM a) ORDER BY id FOR UPDATE SKIP LOCKED
)"""
_CALL_SET_WAITING = _CALL_SET.format(free="", only_free="")
_CALL_SET_FREE = _CALL_SET.format(free=_FREE, only_free="WHERE user_id IS NULL OR user_id IN (SELECT id FROM free)")

# A statement's size is bounded: a set this large is booked in several statements, in order.
MAX_SET = 500


class Outcome(StrEnum):
    UNKNOWN = "unknown"  # no StratForge order has this client or broker id (maybe a bracket leg to adopt)
    ACCEPTED = "accepted"  # a NEW event recorded the broker's id
    CHANGED = "changed"
    UNCHANGED = "unchanged"  # already booked: a duplicate, replayed or stale event
    REFUSED = "refused"  # book_events only: the function refused it (SQLSTATE SF001/SF002); nothing was booked
    BUSY = "busy"  # book_events(skip_busy=True) only: its user's row was locked elsewhere; not booked, not tried


def _params(event: OrderEvent) -> tuple[Any, ...]:
    order = event.order
    execution_id = event.execution_id or f"{order.id}:{order.filled_qty}"
    return (
        event.type.value, order.client_order_id, order.id, order.status.value, order.qty, order.filled_qty,
        order.filled_avg_price, order.filled_fees, order.submitted_at, event.price, event.qty, event.fee,
        execution_id, event.timestamp, event.reason,
    )  # fmt: skip


def book_event(conn: psycopg.Connection, event: OrderEvent) -> tuple[Outcome, uuid.UUID | None]:
    """Apply ``event`` on ``conn`` (an autocommit connection: the call is its own transaction).
    Returns the outcome and the user whose order it is (None when unknown)."""
    try:
        row = conn.execute(_CALL, _params(event), prepare=True).fetchone()
    except psycopg.Error as exc:
        if exc.sqlstate in _LEDGER_ERRORS:
            raise LedgerError(exc.diag.message_primary or str(exc)) from exc
        raise
    assert row is not None
    return Outcome(row[0]), row[1]


def book_events(
    conn: psycopg.Connection, events: Sequence[OrderEvent], *, skip_busy: bool = False
) -> list[tuple[Outcome, uuid.UUID | None]]:
    """Apply ``events`` on ``conn`` (an autocommit connection) in one statement and one transaction per
    ``MAX_SET`` events; the outcome and owner of each, in the order given.

    When the function refuses one event (a ledger error) or one hits a unique violation, the statement books
    nothing; that set is then booked one event per call, so the others are not lost: a refused event is
    reported ``REFUSED`` (and logged), a unique violation ``UNCHANGED`` (another client booked the event at
    the same moment, as ``Ledger.apply_event`` treats it).

    ``skip_busy``: events whose user's row another transaction holds (an order being placed, another set) are
    left alone and reported ``BUSY``, instead of waiting for it while holding the rows locked so far. All
    events of one user are either booked or left, so booking the ``BUSY`` ones later keeps each order's events
    in order."""
    results: list[tuple[Outcome, uuid.UUID | None]] = []
    for start in range(0, len(events), MAX_SET):
        results.extend(_book_set(conn, events[start : start + MAX_SET], skip_busy))
    return results


def _book_set(
    conn: psycopg.Connection, events: Sequence[OrderEvent], skip_busy: bool
) -> list[tuple[Outcome, uuid.UUID | None]]:
    if not events:
        return []
    if len(events) == 1 and not skip_busy:
        return _book_each(conn, events)
    columns = [list(column) for column in zip(*map(_params, events), strict=True)]
    try:
        rows = conn.execute(_CALL_SET_FREE if skip_busy else _CALL_SET_WAITING, columns, prepare=True).fetchall()
    except psycopg.Error as exc:
        if exc.sqlstate not in (*_LEDGER_ERRORS, _UNIQUE_VIOLATION, _DEADLOCK):
            raise
        log.info("booking %d events one by one: %s", len(events), exc.diag.message_primary or exc)
        return _book_each(conn, events)
    results: list[tuple[Outcome, uuid.UUID | None]] = [(Outcome.BUSY, None)] * len(events)
    for n, outcome, owner in rows:
        results[n - 1] = (Outcome(outcome), owner)
    return results


def _book_each(conn: psycopg.Connection, events: Sequence[OrderEvent]) -> list[tuple[Outcome, uuid.UUID | None]]:
    results: list[tuple[Outcome, uuid.UUID | None]] = []
    for event in events:
        try:
            results.append(book_event(conn, event))
        except LedgerError as exc:
            log.warning("%s event of %s refused: %s", event.type.value, event.order.client_order_id, exc)
            results.append((Outcome.REFUSED, None))
        except psycopg.Error as exc:
            if exc.sqlstate != _UNIQUE_VIOLATION:
                raise
            log.info("event for %s already applied elsewhere", event.order.client_order_id)
            results.append((Outcome.UNCHANGED, None))
    return results
