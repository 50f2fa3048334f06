"""Sending NOTIFY after commit, coalesced, instead of inside the transactions that changed data.

PostgreSQL serialises the commits of all transactions that NOTIFY (one global
lock held through the commit's WAL flush), so a NOTIFY in every order and fill
transaction made every client's bookings wait for each other's disk writes.
Here changes are collected for a short window and sent as one small
transaction. A client that dies between its commit and the send loses that
notification; listeners therefore treat NOTIFY as a hint and also refresh on a
timer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from core.db.raw import raw_connection
from core.db.windowed import WindowedFlusher

log = logging.getLogger(__name__)

_SEND = "SELECT pg_notify(channel, payload) FROM unnest(%s::text[], %s::text[]) AS sent(channel, payload)"


class CoalescingNotifier:
    """``notify(payload)`` returns at once; a background thread sends each distinct payload once per window.

    ``channel`` is one channel, or the channel of each payload (the ledger's: one per user, so a listener hears
    only its own user's changes)."""

    def __init__(
        self, engine: Engine, channel: str | Callable[[str], str], *, window_s: float = 0.02, idle_exit_s: float = 5.0
    ) -> None:
        self._engine = engine
        self._channel_of: Callable[[str], str] = channel if callable(channel) else (lambda _payload: channel)
        self._channel = channel if isinstance(channel, str) else getattr(channel, "__name__", "per-payload")
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._sender = WindowedFlusher(
            self.flush, window_s=window_s, idle_exit_s=idle_exit_s, name=f"notify-{self._channel}"
        )  # fmt: skip

    def notify(self, payload: str) -> None:
        with self._lock:
            self._pending.add(payload)
        self._sender.poke()

    def flush(self) -> None:
        """Send what is pending now, on the caller's thread."""
        with self._lock:
            batch, self._pending = self._pending, set()
        if not batch:
            return
        try:
            with raw_connection(self._engine, autocommit=True) as conn:
                payloads = sorted(batch)
                conn.execute(_SEND, ([self._channel_of(p) for p in payloads], payloads))
        except (psycopg.Error, SQLAlchemyError) as exc:
            # The change itself is committed; other clients will see it at their next refresh.
            log.warning("could not notify %d change(s) on %s: %s", len(batch), self._channel, exc)
