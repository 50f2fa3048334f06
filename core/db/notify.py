"""LISTEN/NOTIFY: how every running client learns that another one changed the shared books.

A listener owns one dedicated psycopg connection on a background thread (a
LISTENing connection cannot be shared with a pool). It wakes at least every
``poll_s`` seconds to notice ``stop()``, and reconnects with backoff if the
server goes away, so a database restart does not silently end notifications.

Notifications sent while a listener was away are lost, so a listener that *re*connects calls its
``on_reconnect`` once: the view reloads what it may have missed. When the app knows the server is back (the
supervisor restarted it), ``wake_listeners()`` cuts every waiting listener's backoff short.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)


def libpq_url(url: str) -> str:
    """A URL psycopg.connect accepts (SQLAlchemy's driver suffix removed)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


_listeners: weakref.WeakSet[NotificationListener] = weakref.WeakSet()
_listeners_lock = threading.Lock()


def wake_listeners() -> int:
    """Every listener waiting to reconnect tries again now (the server is back); returns how many were woken."""
    with _listeners_lock:
        waiting = list(_listeners)
    for listener in waiting:
        listener.wake()
    return len(waiting)


class NotificationListener:
    def __init__(
        self,
        url: str,
        channel: str,
        callback: Callable[[str], None],
        *,
        poll_s: float = 0.5,
        max_backoff_s: float = 10.0,
        on_reconnect: Callable[[], None] | None = None,
    ) -> None:
        self._url = libpq_url(url)
        self._channel = channel
        self._callback = callback
        self._on_reconnect = on_reconnect
        self._poll_s = poll_s
        self._max_backoff_s = max_backoff_s
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by stop() and wake(): ends a backoff wait early
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"listen-{channel}", daemon=True)
        self.reconnects = 0  # how many times LISTEN was re-established after a lost connection
        with _listeners_lock:
            _listeners.add(self)

    def start(self, timeout: float = 10.0) -> None:
        """Start listening; returns once LISTEN is in effect (so no later NOTIFY is missed)."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"could not LISTEN on {self._channel} within {timeout} s")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        with _listeners_lock:
            _listeners.discard(self)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def wake(self) -> None:
        """Reconnect now if waiting out a backoff (the server is known to be back)."""
        self._wake.set()

    def _run(self) -> None:
        backoff = 0.5
        lost = False
        while not self._stop.is_set():
            self._wake.clear()  # a wake() from here on cuts the next backoff short
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    self._ready.set()
                    backoff = 0.5
                    if lost:
                        lost = False
                        self.reconnects += 1
                        log.info("LISTEN %s resumed", self._channel)
                        self._resumed()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=self._poll_s):
                            self._deliver(note.payload)
            except psycopg.OperationalError as exc:
                if self._stop.is_set():
                    return
                lost = True
                log.warning("LISTEN %s lost (%s); reconnecting in %.1f s", self._channel, _first_line(exc), backoff)
                self._wake.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)

    def _resumed(self) -> None:
        """Notifications sent while we were away are gone: the owner reloads once."""
        if self._on_reconnect is None:
            return
        try:
            self._on_reconnect()
        except Exception:
            log.exception("reconnect handler failed for %s", self._channel)

    def _deliver(self, payload: str) -> None:
        try:
            self._callback(payload)
        except Exception:
            log.exception("notification handler failed for %s", self._channel)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
