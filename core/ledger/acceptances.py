"""Recording the broker's acceptance of orders in batches, a few milliseconds late.

Acceptance moves no money: it only records the broker's order id and moves the
status to ``accepted``. Written one order at a time it was a transaction, a
round trip and a full row update per order (a fifth of the ledger's cost per
order on the benchmark), and most of those rows were rewritten again moments
later by the fill, whose booking records the broker id as well.

So accepted orders are collected for a short window and written with one
statement, which skips every order a booking has already moved past
``pending``/``submitted``. Nothing is lost if the process dies inside the
window: the order stays ``pending`` without a broker id, and start-up
settlement asks the broker about it by client order id. Cancelling an order
whose acceptance is still waiting flushes it first (``Ledger.cancel_order``).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from core.db.raw import raw_connection
from core.db.windowed import WindowedFlusher

log = logging.getLogger(__name__)

# The rows are locked first, in the order of their users and then their client ids: the order in which a set of
# bookings (core.ledger.booking) locks them, so a batch of acceptances and a set of bookings never wait for each
# other in a circle.
_RECORD = """
WITH locked AS (
    SELECT o.id, a.broker_id, a.submitted_at
      FROM unnest(%s::text[], %s::text[], %s::timestamptz[]) AS a(client_id, broker_id, submitted_at)
      JOIN orders o ON o.client_order_id = a.client_id
     WHERE o.broker_order_id IS NULL OR o.status IN ('pending', 'submitted')
     ORDER BY o.user_id, o.client_order_id
       FOR UPDATE OF o
)
UPDATE orders o
   SET broker_order_id = coalesce(o.broker_order_id, l.broker_id),
       status = CASE WHEN o.status IN ('pending', 'submitted') THEN 'accepted' ELSE o.status END,
       submitted_at = coalesce(o.submitted_at, l.submitted_at),
       updated_at = now()
  FROM locked l
 WHERE o.id = l.id
   AND (o.broker_order_id IS NULL OR o.status IN ('pending', 'submitted'))
RETURNING o.user_id
"""


@dataclass(frozen=True)
class Acceptance:
    client_order_id: str
    broker_order_id: str
    submitted_at: datetime | None


class AcceptanceWriter:
    """``add`` returns at once; a background thread writes what was added once per ``window_s``.
    ``on_written`` gets the users whose orders changed, for their NOTIFY."""

    def __init__(
        self,
        engine: Engine,
        on_written: Callable[[set[uuid.UUID]], None],
        *,
        window_s: float = 0.02,
        idle_exit_s: float = 5.0,
    ) -> None:
        self._engine = engine
        self._on_written = on_written
        self._pending: dict[str, Acceptance] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one batch at a time, so a flush returns after its rows are written
        self._writer = WindowedFlusher(
            self.flush, window_s=window_s, idle_exit_s=idle_exit_s, name="ledger-acceptances"
        )  # fmt: skip

    def add(self, acceptance: Acceptance) -> None:
        with self._lock:
            self._pending[acceptance.client_order_id] = acceptance
        self._writer.poke()

    def is_pending(self, client_order_id: str) -> bool:
        with self._lock:
            return client_order_id in self._pending

    def flush(self) -> None:
        """Write everything added so far, on the caller's thread; returns when it is written (or failed)."""
        with self._write_lock:
            with self._lock:
                batch, self._pending = list(self._pending.values()), {}
            if not batch:
                return
            try:
                with raw_connection(self._engine, autocommit=True) as conn:
                    rows = conn.execute(
                        _RECORD,
                        (
                            [a.client_order_id for a in batch],
                            [a.broker_order_id for a in batch],
                            [a.submitted_at for a in batch],
                        ),
                        prepare=True,
                    ).fetchall()
            except (psycopg.Error, SQLAlchemyError) as exc:
                # Nothing is lost: the orders stay pending and settlement asks the broker about them.
                log.warning("could not record %d acceptance(s): %s", len(batch), exc)
                return
        if rows:
            self._on_written({row[0] for row in rows})
