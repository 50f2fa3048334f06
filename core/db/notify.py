"""LISTEN/NOTIFY: how every running client learns that another one changed the shared books.

A listener owns one dedicated psycopg connection on a background thread (a
LISTENing connection cannot be shared with a pool). It wakes at least every
``poll_s`` seconds to notice ``stop()``, and reconnects with backoff if the
server goes away, so a database restart does not silently end notifications.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)


def libpq_url(url: str) -> str:
    """A URL psycopg.connect accepts (SQLAlchemy's driver suffix removed)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class NotificationListener:
    def __init__(
        self,
        url: str,
        channel: str,
        callback: Callable[[str], None],
        *,
        poll_s: float = 0.5,
        max_backoff_s: float = 10.0,
    ) -> None:
        self._url = libpq_url(url)
        self._channel = channel
        self._callback = callback
        self._poll_s = poll_s
        self._max_backoff_s = max_backoff_s
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"listen-{channel}", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        """Start listening; returns once LISTEN is in effect (so no later NOTIFY is missed)."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"could not LISTEN on {self._channel} within {timeout} s")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    self._ready.set()
                    backoff = 0.5
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=self._poll_s):
                            self._deliver(note.payload)
            except psycopg.OperationalError as exc:
                if self._stop.is_set():
                    return
                log.warning("LISTEN %s lost (%s); reconnecting in %.1f s", self._channel, exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)

    def _deliver(self, payload: str) -> None:
        try:
            self._callback(payload)
        except Exception:
            log.exception("notification handler failed for %s", self._channel)
