"""One club database for the attacker's suite: migrated to head, two traders' books, their login roles.

Everything here talks to PostgreSQL through raw psycopg connections as the roles themselves, never through the
app's services: the point is what a member with ``psql`` and their own credentials can do, with every layer
above the database switched off.

- alice and bob: traders with one row in every user-owned table (tests/security/rows.py) and login roles made
  by ``sf_admin_grant_login`` with the SCRAM verifier of their password;
- carol: a trader whose users.role is 'admin', so her role is also a member of ``<p>_admin`` (the club admin);
- the club service's role ``<p>_club`` and the applicant role ``<p>_applicant``, with the passwords a club admin
  would set.

Connections pass the password, so the suite works on a server that checks it as well as on one that trusts
127.0.0.1 (the test server).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from core.db import migrate
from core.db.club_roles import GroupKind, group_role, scram_verifier, trader_role
from core.db.engine import make_engine
from tests.pg import create_scratch_database, drop_database, libpq_url
from tests.security.rows import ONE_PER_USER, Books, imported_fill, insert, key, new_row, seed_books

PASSWORD = "Tr4ding-Pass-2026"
SERVICE_PASSWORD = "Club-Service-Pass-2026"
INSUFFICIENT_PRIVILEGE = "42501"


@dataclass
class Club:
    admin_url: str  # the superuser's, on the club's database
    database: str
    alice: Books
    bob: Books
    carol: Books  # the club admin

    def group(self, kind: GroupKind) -> str:
        return group_role(self.database, kind)

    def url(self, role: str, password: str = PASSWORD) -> str:
        return (
            make_url(libpq_url(self.admin_url))
            .set(username=role, password=password)
            .render_as_string(hide_password=False)
        )

    def connect(self, role: str, password: str = PASSWORD, *, autocommit: bool = True) -> psycopg.Connection:
        return psycopg.connect(self.url(role, password), autocommit=autocommit, connect_timeout=10)

    def connect_club(self) -> psycopg.Connection:
        return self.connect(self.group("club"), SERVICE_PASSWORD)

    def connect_applicant(self) -> psycopg.Connection:
        return self.connect(self.group("applicant"), SERVICE_PASSWORD)

    def superuser(self) -> psycopg.Connection:
        return psycopg.connect(libpq_url(self.admin_url), autocommit=True, connect_timeout=10)


def grant_login(su: psycopg.Connection, database: str, books: Books) -> None:
    """Approve ``books``'s user the way the admin does: the role is made from the verifier of their password."""
    verifier = scram_verifier(su, PASSWORD, trader_role(database, books.name))
    row = su.execute("SELECT sf_admin_grant_login(%s, %s)", (books.user_id, verifier)).fetchone()
    assert row is not None
    books.role = row[0]
    books.rows["club_members"] = [books.role]


@pytest.fixture(scope="session")
def club(pg_admin_url: str) -> Iterator[Club]:
    url = create_scratch_database(pg_admin_url, prefix="sf_security")
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    database = make_url(url).database
    assert database is not None
    try:
        with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=10) as su:
            books = {name: seed_books(su, name) for name in ("alice", "bob")}
            books["carol"] = seed_books(su, "carol", role="admin")
            for member in books.values():
                grant_login(su, database, member)
            for service in (group_role(database, "club"), group_role(database, "applicant")):
                verifier = scram_verifier(su, SERVICE_PASSWORD, service)  # what the club admin sets
                su.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(service), sql.Literal(verifier)))
            seed_shared(su)
        yield Club(url, database, books["alice"], books["bob"], books["carol"])
    finally:
        drop_database(pg_admin_url, url)


def seed_shared(su: psycopg.Connection) -> None:
    """One row in every shared table (so that "alice reads them" and "she cannot change them" mean something)."""
    row = su.execute("INSERT INTO tickers (symbol) VALUES ('AAPL'), ('MSFT') RETURNING id").fetchone()
    assert row is not None
    ticker = row[0]
    su.execute(
        "INSERT INTO ohlcv_bars (ticker_id, timeframe, timestamp, open, high, low, close, volume, source) "
        "VALUES (%s, '1Min', '2026-03-02 15:00+00', 100, 101, 99, 100.5, 1000, 'simulated')",
        (ticker,),
    )
    su.execute(
        "INSERT INTO data_sync_log (ticker_id, timeframe, range_start, range_end, status) "
        "VALUES (%s, '1Min', '2026-03-02', '2026-03-03', 'success')",
        (ticker,),
    )
    su.execute(
        "INSERT INTO computed_features (ticker_id, timeframe, timestamp, feature_version) "
        "VALUES (%s, '1Min', '2026-03-02 15:00+00', 'v1')",
        (ticker,),
    )
    row = su.execute(
        "INSERT INTO probe_strategies (name, display_name) VALUES ('probe', 'Probe') RETURNING id"
    ).fetchone()
    assert row is not None
    row = su.execute(
        "INSERT INTO strategy_probe_results (run_id, probe_strategy_id, symbol, period_start, period_end, open_day) "
        "VALUES ('run', %s, 'AAPL', '2026-03-02', '2026-03-03', '2026-03-02') RETURNING id",
        (row[0],),
    ).fetchone()
    assert row is not None
    su.execute(
        "INSERT INTO strategy_probe_trades (result_id, symbol, side, entry_time, entry_price, quantity) "
        "VALUES (%s, 'AAPL', 'long', '2026-03-02 15:00+00', 100, 1)",
        (row[0],),
    )


@pytest.fixture(scope="session")
def su(club: Club) -> Iterator[psycopg.Connection]:
    """The superuser (the database's owner): the referee that reads what really is in the tables."""
    with club.superuser() as conn:
        yield conn


@pytest.fixture(scope="session")
def alice(club: Club) -> Iterator[psycopg.Connection]:
    """Alice's own login role: the attacker."""
    with club.connect(club.alice.role) as conn:
        yield conn


@pytest.fixture(scope="session")
def carol(club: Club) -> Iterator[psycopg.Connection]:
    """Carol's login role: a trader who is also the club's admin."""
    with club.connect(club.carol.role) as conn:
        yield conn


# --- attempts -----------------------------------------------------------------------------------------------
def attempt(conn: psycopg.Connection, query: Any, params: Any = None, *, rollback: bool = False) -> int | psycopg.Error:
    """Run one statement in its own transaction: the rows it touched, or the error it raised.

    Committed, so the superuser can see what really happened; ``rollback`` for the attacks whose success would
    wreck the seeded books other tests read (the row count alone then says whether it worked).
    """
    try:
        with conn.transaction(force_rollback=rollback), conn.transaction():
            cur = conn.execute(query, params)
            return cur.rowcount
    except psycopg.Error as exc:
        return exc


def fetch(conn: psycopg.Connection, query: Any, params: Any = None) -> list[tuple[Any, ...]] | psycopg.Error:
    """A query's rows, or the error it raised (in its own transaction)."""
    try:
        with conn.transaction():
            return conn.execute(query, params).fetchall()
    except psycopg.Error as exc:
        return exc


def describe(outcome: object) -> str:
    if isinstance(outcome, psycopg.Error):
        return f"{type(outcome).__name__} [{outcome.sqlstate}]: {str(outcome).strip()}"
    return repr(outcome)


def assert_denied(outcome: object, what: str) -> None:
    """The statement raised 'insufficient privilege' (a missing grant, or a row-level security WITH CHECK)."""
    assert isinstance(outcome, psycopg.Error) and outcome.sqlstate == INSUFFICIENT_PRIVILEGE, (
        f"{what}: expected permission denied (42501), got {describe(outcome)}"
    )


def assert_no_effect(outcome: object, what: str) -> None:
    """Refused, or matched no row: row-level security hides the target, or the grant is missing."""
    denied = isinstance(outcome, psycopg.Error) and outcome.sqlstate == INSUFFICIENT_PRIVILEGE
    assert denied or outcome == 0, f"{what}: expected 0 rows or permission denied (42501), got {describe(outcome)}"


def snapshot(su: psycopg.Connection, table: str, keys: list[Any]) -> list[Any]:
    """The rows as the superuser sees them (to prove an attack changed nothing)."""
    query = sql.SQL("SELECT to_jsonb(t) FROM {} t WHERE {} = ANY(%s) ORDER BY {}").format(
        sql.Identifier(table), sql.Identifier(key(table)), sql.Identifier(key(table))
    )
    return [r[0] for r in su.execute(query, (keys,)).fetchall()]


def table_snapshot(su: psycopg.Connection, table: str) -> list[Any]:
    """Every row of a table, in a stable order."""
    query = sql.SQL("SELECT to_jsonb(t) FROM {} t ORDER BY to_jsonb(t)::text").format(sql.Identifier(table))
    return [r[0] for r in su.execute(query).fetchall()]


# The tables of which bob has exactly one row: attacks on it are rolled back (see victims).
ONLY_ROW = ("users", *ONE_PER_USER)


def victims(su: psycopg.Connection, club: Club, table: str) -> list[Any]:
    """Rows of bob's made for one test to attack, so an attack that works wrecks nothing another test reads.

    Strategies and their versions: a private and a public one (the public read must not let alice write). Of
    users, profiles and risk settings bob has one row only: the attack on it runs in ``attempt(rollback=True)``.
    """
    bob = club.bob
    if table in ONLY_ROW:
        return bob.keys(table)
    rows = [new_row(table, bob)]
    if table == "strategies":
        rows.append(new_row(table, bob) | {"is_public": True})
    elif table == "strategy_versions":
        rows.append(new_row(table, bob, strategy=bob.keys("strategies")[1]))
    elif table == "fills":
        rows.append(imported_fill(bob))
    elif table in ("decision_contexts", "campaign_fills"):  # one per fill (and group): a fill of their own
        rows = [new_row(table, bob) | {"fill_id": insert(su, "fills", imported_fill(bob), returning="id")}]
    return [insert(su, table, row, returning=key(table)) for row in rows]


@contextlib.contextmanager
def fresh(club: Club, role: str, password: str = PASSWORD) -> Iterator[psycopg.Connection]:
    """A connection of its own, for attacks that change the session (SET ROLE, search_path, temp objects)."""
    conn = club.connect(role, password)
    try:
        yield conn
    finally:
        conn.close()
