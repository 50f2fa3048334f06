"""StreamLeadership: which running client holds a shared stream, elected with a PostgreSQL advisory lock.

Alpaca allows one trade-updates stream per account, so exactly one club member
may hold it. Each client keeps one dedicated psycopg connection (not a pooled
one: a session-level advisory lock belongs to its connection, and a pool would
hand that connection to other work) and tries ``pg_try_advisory_lock(key)``
every ``poll_s``. The winner keeps the lock as long as its connection lives; a
crashed client's connection dies with it, PostgreSQL releases the lock, and
another client wins at its next poll, so leadership moves within seconds.

While leading, each poll runs ``SELECT 1`` so a broken connection is noticed
(TCP keepalives and ``tcp_user_timeout`` bound how long a silent network failure
can hide it); the client then calls ``on_demoted`` and competes again once it
reconnects. Callbacks run on the leadership thread, one at a time, in order.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

import psycopg
from psycopg.conninfo import make_conninfo

from core.db.notify import libpq_url

log = logging.getLogger(__name__)

CONNECT_OPTIONS: dict[str, str | int] = {  # libpq's, merged into the connection string (autocommit is psycopg's)
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,  # ms: unacknowledged writes fail after this
    # The same on the server's side of the socket: a client that vanished without closing it
    # (power cut, network partition) loses the lock in ~15 s, not after the OS default of hours.
    "options": "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"
    " -c tcp_user_timeout=10000",
    "application_name": "stratforge-leadership",
}


class StreamLeadership:
    def __init__(
        self,
        url: str,
        *,
        key: int,
        on_elected: Callable[[], None],
        on_demoted: Callable[[], None],
        poll_s: float = 1.0,
        max_backoff_s: float = 10.0,
        name: str = "stream",
    ) -> None:
        self._url = libpq_url(url)
        self._key = key
        self._on_elected = on_elected
        self._on_demoted = on_demoted
        self._poll_s = poll_s
        self._max_backoff_s = max_backoff_s
        self._name = name
        self._stop = threading.Event()
        self._killed = False
        self._leader = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._conn_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"leadership-{name}", daemon=True)

    @property
    def is_leader(self) -> bool:
        return self._leader.is_set()

    def start(self) -> None:
        """Start competing; returns at once (``wait_until_leader`` to block)."""
        self._thread.start()

    def wait_until_leader(self, timeout: float) -> bool:
        return self._leader.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Step down cleanly: unlock, close, and call ``on_demoted`` if leading (before returning)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def kill(self, timeout: float = 5.0) -> None:
        """Simulate a crash (tests): cut the socket under the connection; no unlock, no callbacks.

        PostgreSQL sees the connection die and releases the lock, exactly as when a client's
        process dies; ``is_leader`` is False afterwards and this instance does not compete again.
        """
        self._killed = True
        self._stop.set()
        with self._conn_lock:
            conn = self._conn
        if conn is not None:
            try:
                with socket.socket(fileno=os.dup(conn.fileno())) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError as exc:
                log.debug("kill: socket already gone (%s)", exc)
        self._thread.join(timeout)
        self._leader.clear()

    # ---- the leadership thread ----

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(make_conninfo(self._url, **CONNECT_OPTIONS), autocommit=True) as conn:
                    with self._conn_lock:
                        self._conn = conn
                    backoff = 0.5
                    self._compete(conn)
                    if not self._killed and self.is_leader:
                        self._step_down()  # stream closed first, so the next leader's is the only one
                        conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
            except psycopg.Error as exc:
                if self._killed:
                    return
                self._step_down()
                if self._stop.is_set():
                    return
                log.warning("%s leadership connection lost (%s); retrying in %.1f s", self._name, exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
            finally:
                with self._conn_lock:
                    self._conn = None
        if not self._killed:
            self._step_down()

    def _compete(self, conn: psycopg.Connection) -> None:
        """Until stopped: try for the lock while following, check the connection while leading."""
        while not self._stop.is_set():
            if self.is_leader:
                conn.execute("SELECT 1")
            else:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
                if row is not None and row[0]:
                    self._leader.set()
                    log.info("%s leadership: elected", self._name)
                    self._callback(self._on_elected)
            self._stop.wait(self._poll_s)

    def _step_down(self) -> None:
        if self.is_leader:
            self._leader.clear()
            log.info("%s leadership: demoted", self._name)
            self._callback(self._on_demoted)

    def _callback(self, fn: Callable[[], None]) -> None:
        if self._killed:
            return
        try:
            fn()
        except Exception:
            log.exception("%s leadership callback %r failed", self._name, fn)
