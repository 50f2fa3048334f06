"""The database supervisor: a killed embedded server comes back with every connection and listener; a shared
database is only reconnected to; after N failed restarts it gives up and says so."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from core.accounts import AccountService
from core.config import Settings
from core.db.database import open_database
from core.db.embedded import EmbeddedPostgres
from core.db.errors import DataFolderInUse, EmbeddedDatabaseFailed
from core.db.notify import NotificationListener, libpq_url
from core.db.supervisor import DatabaseState, DatabaseStatus, DatabaseSupervisor

PASSWORD = "Tr4ding-Pass-2026"


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


def test_a_killed_embedded_server_is_restarted_and_queries_and_listeners_resume(tmp_path: Path) -> None:
    db = open_database(Settings(data_dir=tmp_path, database_url=None))
    assert db.embedded is not None
    statuses: list[DatabaseStatus] = []
    heard: list[str] = []
    reconnected = threading.Event()
    listener = NotificationListener(
        db.embedded.url or "", "supervised", heard.append, max_backoff_s=60.0, on_reconnect=reconnected.set
    )
    try:
        AccountService(db.session_factory).sign_up("before@example.com", "before", PASSWORD)
        listener.start()
        supervisor = db.supervise(process_check_s=0.1)
        supervisor.subscribe(statuses.append)
        old_pid = postmaster_pid(db.embedded.pgdata)

        os.kill(old_pid, signal.SIGKILL)

        assert wait_until(lambda: any(s.state is DatabaseState.RECONNECTED for s in statuses)), statuses
        assert [s.state for s in statuses] == [DatabaseState.RESTARTING, DatabaseState.RECONNECTED]
        assert postmaster_pid(db.embedded.pgdata) != old_pid
        # The pool was emptied: the next query reconnects, and nothing written before the kill is lost.
        with db.session_factory() as session:
            assert session.execute(text("SELECT 1")).scalar() == 1
        assert AccountService(db.session_factory).log_in("before", PASSWORD).user.username == "before"
        # The listener re-LISTENed at once (its 60 s backoff was cut short) and told its owner to reload.
        assert reconnected.wait(10), "the listener did not resume"
        with psycopg.connect(libpq_url(db.embedded.url or ""), autocommit=True) as conn:
            conn.execute("NOTIFY supervised, 'after'")
        assert wait_until(lambda: heard == ["after"], timeout=10), heard
        assert listener.reconnects == 1
        # The folder lock was never let go: no other process could take the folder in between.
        with pytest.raises(DataFolderInUse):
            EmbeddedPostgres(tmp_path / "db").start()
    finally:
        listener.stop()
        db.close()
    assert not (tmp_path / "db" / "postgres" / "postmaster.pid").exists()


def test_closing_the_database_stops_the_supervisor_before_the_server(tmp_path: Path) -> None:
    db = open_database(Settings(data_dir=tmp_path, database_url=None))
    supervisor = db.supervise(process_check_s=0.05)
    statuses: list[DatabaseStatus] = []
    supervisor.subscribe(statuses.append)
    db.close()
    assert not (tmp_path / "db" / "postgres" / "postmaster.pid").exists()
    assert statuses == []  # the stop was not taken for a death
    assert supervisor.check().state is DatabaseState.CONNECTED  # stopped: it no longer acts


def test_a_dead_server_is_closed_cleanly_when_it_was_not_restarted(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path)
    server.start()
    os.kill(postmaster_pid(server.pgdata), signal.SIGKILL)
    assert wait_until(lambda: not server.server_alive(), timeout=10)
    server.stop()  # no wait on the dead pid, no error; the lock and the stale pid file are gone
    assert not (server.pgdata / "postmaster.pid").exists()
    again = EmbeddedPostgres(tmp_path)
    assert again.start().initialized is False
    again.stop()


class FakeEngine:
    def __init__(self) -> None:
        self.disposals = 0

    def dispose(self) -> None:
        self.disposals += 1


class DeadServer:
    """An embedded server that died and will not start again."""

    running = True
    pgdata = Path("/nowhere/postgres")
    log_path = pgdata / "log"

    def __init__(self) -> None:
        self.restarts = 0

    def server_alive(self) -> bool:
        return False

    def restart(self) -> object:
        self.restarts += 1
        raise EmbeddedDatabaseFailed("pg_ctl: could not start server")


class FakeDatabase:
    def __init__(self, embedded: object | None = None) -> None:
        self.engine = FakeEngine()
        self.embedded = embedded
        self.up = True

    def ping(self) -> bool:
        return self.up


def test_after_n_failed_restarts_the_supervisor_gives_up_with_a_clear_message() -> None:
    server = DeadServer()
    database = FakeDatabase(server)
    supervisor = DatabaseSupervisor(database, max_restarts=3, restart_backoff_s=0)  # type: ignore[arg-type]
    statuses: list[DatabaseStatus] = []
    supervisor.subscribe(statuses.append)

    status = supervisor.check()

    assert server.restarts == 3
    assert [s.state for s in statuses] == [DatabaseState.RESTARTING] * 3 + [DatabaseState.FAILED]
    assert [s.attempt for s in statuses[:3]] == [1, 2, 3]
    assert status.state is DatabaseState.FAILED
    assert "could not be restarted (3 attempts)" in status.message
    assert "Quit and start StratForge again" in status.message and str(server.log_path) in status.message
    supervisor.check()
    assert server.restarts == 3  # given up: no more attempts


def test_a_shared_database_is_only_reconnected_to_never_restarted() -> None:
    database = FakeDatabase(embedded=None)
    supervisor = DatabaseSupervisor(database, ping_every_s=10)  # type: ignore[arg-type]
    statuses: list[DatabaseStatus] = []
    supervisor.subscribe(statuses.append)

    assert supervisor.check(elapsed_s=1).state is DatabaseState.CONNECTED  # no ping due yet
    database.up = False
    assert supervisor.check().state is DatabaseState.DISCONNECTED
    assert supervisor.check().state is DatabaseState.DISCONNECTED  # said once
    database.up = True
    assert supervisor.check(elapsed_s=2).state is DatabaseState.RECONNECTED  # retried every 2 s while down
    assert [s.state for s in statuses] == [DatabaseState.DISCONNECTED, DatabaseState.RECONNECTED]
    assert database.engine.disposals == 2  # once when lost, once when back: no dead pooled connection is reused
