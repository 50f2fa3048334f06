"""Watching the database the app runs on, and bringing it back when it goes away.

The embedded PostgreSQL belongs to the app: if its server process dies while the app runs (killed, crashed,
out of memory), the supervisor notices within a second (a pid check, no connection), starts it again in the
same data folder with the folder lock held throughout, empties the connection pool so the next query
reconnects, and wakes the LISTEN threads so they re-LISTEN at once (each then reloads its view once). After
``max_restarts`` failed starts in a row it gives up and says so. A shared database (an external URL) is not
ours to restart: it is pinged, and when it answers again the pool is emptied and the listeners are woken.

Every change of state is published to the subscribers (the status bar) from the supervisor's thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlalchemy import Engine

from core.db.embedded import EmbeddedPostgres
from core.db.errors import DatabaseError
from core.db.notify import wake_listeners

log = logging.getLogger(__name__)

PROCESS_CHECK_S = 1.0  # a pid lookup: cheap enough to do every second
PING_EVERY_S = 10.0  # a round trip (or a connect timeout): the status bar's old cadence
RETRY_PING_S = 2.0  # while disconnected: the trader is waiting for it
MAX_RESTARTS = 3
RESTART_BACKOFF_S = 1.0  # doubled after each failed start: 1, 2 s between three attempts


class DatabaseState(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # does not answer; retried every few seconds
    RESTARTING = "restarting"  # the embedded server died and is being started again
    RECONNECTED = "reconnected"  # answering again after a restart or an outage
    FAILED = "failed"  # the embedded server could not be restarted: the supervisor gave up


@dataclass(frozen=True)
class DatabaseStatus:
    state: DatabaseState
    message: str = ""  # one trader-readable line (what happened, what to do)
    attempt: int = 0  # which restart attempt (RESTARTING)
    restart_seconds: float | None = None  # how long the successful restart took (RECONNECTED)


class SupervisedDatabase(Protocol):
    """What the supervisor needs of core.db.database.Database (which imports this module)."""

    @property
    def engine(self) -> Engine: ...

    @property
    def embedded(self) -> EmbeddedPostgres | None: ...

    def ping(self) -> bool: ...


class DatabaseSupervisor:
    """One background thread; ``check()`` is one step of it, so tests drive it without waiting."""

    def __init__(
        self,
        database: SupervisedDatabase,
        *,
        process_check_s: float = PROCESS_CHECK_S,
        ping_every_s: float = PING_EVERY_S,
        max_restarts: int = MAX_RESTARTS,
        restart_backoff_s: float = RESTART_BACKOFF_S,
    ) -> None:
        self._database = database
        self._process_check_s = process_check_s
        self._ping_every_s = ping_every_s
        self._max_restarts = max_restarts
        self._restart_backoff_s = restart_backoff_s
        self._subscribers: list[Callable[[DatabaseStatus], None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._since_ping_s = 0.0
        self.status = DatabaseStatus(DatabaseState.CONNECTED)
        self.restarts = 0  # successful restarts of the embedded server

    # --- subscribers ---
    def subscribe(self, callback: Callable[[DatabaseStatus], None]) -> None:
        """``callback`` is called with every new status, on the supervisor's thread."""
        with self._lock:
            self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[DatabaseStatus], None]) -> None:
        with self._lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    # --- the thread ---
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="db-supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop watching (before the database is closed: a server being stopped must not be restarted)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._process_check_s):
            try:
                self.check(elapsed_s=self._process_check_s)
            except Exception:
                log.exception("database supervisor check failed")
            if self.status.state is DatabaseState.FAILED:
                return  # gave up; the trader was told

    # --- one step ---
    def check(self, *, elapsed_s: float | None = None) -> DatabaseStatus:
        """Look once: restart a dead embedded server, and ping when a ping is due (always when ``elapsed_s`` is
        None). Returns the status after the step."""
        if self._stop.is_set() or self.status.state is DatabaseState.FAILED:
            return self.status
        embedded = self._database.embedded
        if embedded is not None and embedded.running and not embedded.server_alive():
            self._restart(embedded)
            return self.status
        self._since_ping_s += elapsed_s or 0.0
        disconnected = self.status.state is DatabaseState.DISCONNECTED
        interval = min(self._ping_every_s, RETRY_PING_S) if disconnected else self._ping_every_s
        if elapsed_s is not None and self._since_ping_s < interval:
            return self.status
        self._since_ping_s = 0.0
        if self._database.ping():
            if disconnected:
                self._resume()
                self._publish(DatabaseStatus(DatabaseState.RECONNECTED, "The database answers again."))
        elif not disconnected:
            self._resume()  # what is pooled is dead or about to be
            self._publish(DatabaseStatus(DatabaseState.DISCONNECTED, "The database does not answer; retrying."))
        return self.status

    def _restart(self, embedded: EmbeddedPostgres) -> None:
        log.warning("the embedded PostgreSQL in %s stopped; restarting it", embedded.pgdata)
        self._resume()  # every pooled connection is dead: none may be handed out again
        backoff = self._restart_backoff_s
        problem: DatabaseError | None = None
        for attempt in range(1, self._max_restarts + 1):
            if self._stop.is_set():
                return
            self._publish(DatabaseStatus(DatabaseState.RESTARTING, "The database stopped; restarting it.", attempt))
            try:
                info = embedded.restart()
            except DatabaseError as exc:
                problem = exc
                log.warning("restart %d of %d failed: %s", attempt, self._max_restarts, exc, exc_info=True)
                if attempt < self._max_restarts and self._stop.wait(backoff):
                    return
                backoff *= 2
                continue
            self.restarts += 1
            self._resume()
            log.info("the embedded PostgreSQL restarted in %.2f s", info.seconds)
            self._publish(
                DatabaseStatus(DatabaseState.RECONNECTED, "The database was restarted.", attempt, info.seconds)
            )
            return
        log.error("gave up restarting the embedded PostgreSQL: %s", problem)
        self._publish(
            DatabaseStatus(
                DatabaseState.FAILED,
                f"The database stopped and could not be restarted ({self._max_restarts} attempts). "
                f"Quit and start StratForge again; the server's log is {embedded.log_path}.",
                self._max_restarts,
            )
        )

    def _resume(self) -> None:
        """The next query reconnects (the pool is emptied) and every LISTEN thread reconnects now."""
        self._database.engine.dispose()
        wake_listeners()

    def _publish(self, status: DatabaseStatus) -> None:
        self.status = status
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(status)
            except Exception:
                log.exception("database status subscriber failed")
