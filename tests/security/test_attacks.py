"""What a member who knows PostgreSQL would try next: other identities, the search path, COPY, views, leaky
functions, server files, the catalog's statistics, LISTEN/NOTIFY, locks.

Each test states the technique and what must come of it; all run as alice's own login role.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from tests.security.conftest import Club, assert_denied, assert_no_effect, attempt, describe, fetch, fresh, snapshot
from tests.security.rows import ticket_json


def _ids(rows: list[tuple[Any, ...]] | psycopg.Error) -> set[Any]:
    assert not isinstance(rows, psycopg.Error), describe(rows)
    return {r[0] for r in rows}


# --- other identities ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["bob", "club", "admin", "applicant", "superuser"])
def test_alice_cannot_become_another_role(club: Club, target: str) -> None:
    role = {
        "bob": club.bob.role, "club": club.group("club"), "admin": club.group("admin"),
        "applicant": club.group("applicant"), "superuser": "postgres",
    }[target]  # fmt: skip
    with fresh(club, club.alice.role) as conn:
        for statement in ("SET ROLE {}", "SET SESSION AUTHORIZATION {}", "SET LOCAL ROLE {}"):
            query = sql.SQL(statement).format(sql.Identifier(role))
            assert_denied(attempt(conn, query), f"{query.as_string(conn)} as alice")
        assert conn.execute("SELECT current_user, session_user").fetchone() == (club.alice.role, club.alice.role)


def test_setting_role_to_the_trader_group_leaves_her_alice(club: Club) -> None:
    """She is a member of the trader group, so SET ROLE to it works; the policies still name the login role."""
    with fresh(club, club.alice.role) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(club.group("trader"))))
        assert conn.execute("SELECT sf_uid()").fetchone() == (club.alice.user_id,)
        seen = _ids(fetch(conn, "SELECT id FROM strategies"))
        assert not seen & set(club.bob.private("strategies"))


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER ROLE {bob} PASSWORD 'owned'",
        "ALTER ROLE {bob} NOLOGIN",
        "ALTER ROLE {alice} SUPERUSER",
        "ALTER ROLE {alice} BYPASSRLS",
        "ALTER ROLE {alice} CREATEROLE",
        "GRANT {admin} TO {alice}",
        "GRANT {club} TO {alice}",
        "GRANT {bob} TO {alice}",
        "CREATE ROLE evil LOGIN",
        "DROP ROLE {bob}",
    ],
)
def test_alice_cannot_manage_roles(club: Club, statement: str) -> None:
    names = {"bob": club.bob.role, "alice": club.alice.role, "admin": club.group("admin"), "club": club.group("club")}
    query = sql.SQL(statement).format(**{k: sql.Identifier(v) for k, v in names.items()})
    with fresh(club, club.alice.role) as conn:
        assert_denied(attempt(conn, query), f"{query.as_string(conn)} as alice")
    with fresh(club, club.bob.role) as conn:  # bob still logs in, and is still bob
        assert conn.execute("SELECT sf_uid()").fetchone() == (club.bob.user_id,)


# --- the search path and temporary objects ----------------------------------------------------------------
def test_temporary_tables_on_the_search_path_do_not_fool_sf_uid(club: Club, su: psycopg.Connection) -> None:
    """Temporary tables are searched first unless a search_path says otherwise: a SECURITY DEFINER function that
    read club_members through the caller's path would map alice to bob. (If she may not create temporary
    tables at all, the attack ends there.)"""
    bobs_request = club.bob.first("order_requests")
    with fresh(club, club.alice.role) as conn:
        outcome = attempt(
            conn,
            "CREATE TEMP TABLE club_members AS SELECT session_user::text AS role_name, %s::uuid AS user_id, "
            "now() AS created_at",
            (club.bob.user_id,),
        )
        if isinstance(outcome, psycopg.Error):
            assert_denied(outcome, "CREATE TEMP TABLE as alice")
            return
        conn.execute("CREATE TEMP TABLE users AS SELECT %s::uuid AS id, true AS is_active", (club.bob.user_id,))
        for path in ("pg_temp, public", "public", "pg_temp"):
            conn.execute(sql.SQL("SET search_path = {}").format(sql.SQL(path)))
            assert conn.execute("SELECT public.sf_uid()").fetchone() == (club.alice.user_id,), path
            assert conn.execute("SELECT public.sf_withdraw_order_request(%s)", (bobs_request,)).fetchone() == (False,)
            seen = _ids(fetch(conn, "SELECT id FROM public.strategies"))
            assert not seen & set(club.bob.private("strategies")), path
    assert su.execute("SELECT status FROM order_requests WHERE id = %s", (bobs_request,)).fetchone() == ("requested",)


def test_a_view_she_creates_reads_with_her_rights(club: Club) -> None:
    with fresh(club, club.alice.role) as conn:
        outcome = attempt(conn, "CREATE TEMP VIEW everything AS SELECT id, user_id FROM public.fills")
        if isinstance(outcome, psycopg.Error):
            assert_denied(outcome, "CREATE TEMP VIEW as alice")
            return
        conn.execute("CREATE TEMP VIEW guarded WITH (security_barrier) AS SELECT id FROM public.strategies")
        assert {r[1] for r in conn.execute("SELECT * FROM everything").fetchall()} == {club.alice.user_id}
        assert not _ids(fetch(conn, "SELECT id FROM guarded")) & set(club.bob.private("strategies"))


def test_a_leaky_function_in_her_where_clause_sees_none_of_bobs_rows(club: Club, su: psycopg.Connection) -> None:
    """The classic leak: a cheap function that prints its argument, in the WHERE clause. The policy's quals
    must run first, so bob's strategy names never reach it."""
    secrets = {r[0] for r in su.execute("SELECT name FROM strategies WHERE user_id = %s AND NOT is_public",
                                         (club.bob.user_id,)).fetchall()}  # fmt: skip
    assert secrets
    heard: list[str] = []
    with fresh(club, club.alice.role) as conn:
        outcome = attempt(
            conn,
            "CREATE FUNCTION pg_temp.leak(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS "
            "$$ BEGIN RAISE NOTICE 'leak %', $1; RETURN true; END $$",
        )
        if isinstance(outcome, psycopg.Error):
            assert_denied(outcome, "CREATE FUNCTION pg_temp.leak as alice")
            return
        conn.add_notice_handler(lambda d: heard.append(d.message_primary or ""))
        conn.execute("SELECT id FROM strategies WHERE pg_temp.leak(name)").fetchall()
        conn.execute("SELECT id FROM strategies WHERE pg_temp.leak(name) AND user_id = %s", (club.bob.user_id,))
    assert heard, "the leaky function never ran: the test proves nothing"
    leaked = {s for s in secrets if any(s in line for line in heard)}
    assert not leaked, f"bob's strategy names reached alice's function: {leaked}"


def test_a_security_definer_function_she_creates_runs_as_herself(club: Club) -> None:
    with fresh(club, club.alice.role) as conn:
        outcome = attempt(
            conn,
            "CREATE FUNCTION pg_temp.count_bobs(uuid) RETURNS bigint LANGUAGE sql SECURITY DEFINER AS "
            "$$ SELECT count(*) FROM public.strategies WHERE user_id = $1 AND NOT is_public $$",
        )
        if isinstance(outcome, psycopg.Error):
            assert_denied(outcome, "CREATE FUNCTION pg_temp.count_bobs as alice")
            return
        assert conn.execute("SELECT pg_temp.count_bobs(%s)", (club.bob.user_id,)).fetchone() == (0,)


def test_row_security_off_refuses_instead_of_bypassing(club: Club) -> None:
    """row_security = off makes a query that policies would filter fail; it never shows the unfiltered table."""
    with fresh(club, club.alice.role) as conn:
        conn.execute("SET row_security = off")
        outcome = fetch(conn, "SELECT id FROM strategies")
        assert_denied(outcome, "SELECT FROM strategies with row_security = off as alice")


# --- COPY and server files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("table", ["strategies", "fills", "orders", "users", "journal_entries", "trade_logs"])
def test_copy_to_stdout_gives_only_her_rows(club: Club, alice: psycopg.Connection, table: str) -> None:
    hidden = {str(k) for k in club.bob.private(table)}
    for statement in (
        sql.SQL("COPY {} (id) TO STDOUT").format(sql.Identifier(table)),
        sql.SQL("COPY (SELECT id FROM {}) TO STDOUT").format(sql.Identifier(table)),
    ):
        with alice.cursor() as cur, cur.copy(statement) as copy:
            out = b"".join(bytes(chunk) for chunk in copy).decode()
        assert not {line for line in out.splitlines()} & hidden, f"{statement.as_string(alice)} gave bob's rows"


def test_copy_from_stdin_cannot_plant_rows_in_bobs_books(club: Club, su: psycopg.Connection,
                                                          alice: psycopg.Connection) -> None:  # fmt: skip
    before = su.execute("SELECT count(*) FROM journal_entries WHERE user_id = %s", (club.bob.user_id,)).fetchone()
    try:
        statement = "COPY journal_entries (user_id, entry_date, entry_type, content) FROM STDIN"
        with alice.transaction(), alice.cursor() as cur, cur.copy(statement) as copy:
            copy.write_row((club.bob.user_id, "2026-03-02", "note", "planted"))
        outcome: object = "succeeded"
    except psycopg.Error as exc:
        outcome = exc
    assert isinstance(outcome, psycopg.Error), "COPY journal_entries FROM STDIN with bob's user succeeded"
    after = su.execute("SELECT count(*) FROM journal_entries WHERE user_id = %s", (club.bob.user_id,)).fetchone()
    assert after == before


@pytest.mark.parametrize(
    "statement",
    [
        "COPY strategies TO '/tmp/stratforge-stolen.csv'",
        "COPY (SELECT 1) TO PROGRAM 'id'",
        "COPY journal_entries FROM '/etc/passwd'",
        "COPY journal_entries FROM PROGRAM 'id'",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT pg_read_binary_file('/etc/passwd')",
        "SELECT pg_ls_dir('.')",
        "SELECT pg_stat_file('postgresql.conf')",
        "SELECT lo_import('/etc/passwd')",
        "SELECT lo_export(0, '/tmp/stratforge-lo')",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename <> current_user",
        "SELECT pg_reload_conf()",
        "ALTER SYSTEM SET log_statement = 'none'",
    ],
)
def test_server_files_programs_and_administration_are_refused(alice: psycopg.Connection, statement: str) -> None:
    if statement.startswith("ALTER SYSTEM"):  # not allowed in a transaction block: run it bare
        try:
            alice.execute(statement)
            outcome: object = "succeeded"
        except psycopg.Error as exc:
            outcome = exc
    else:
        outcome = attempt(alice, statement)
    if statement.startswith("SELECT pg_terminate_backend"):  # other roles' backends: a warning, or refused
        assert isinstance(outcome, psycopg.Error) or all(r == (False,) for r in alice.execute(statement).fetchall()), (
            "alice terminated another role's connection"
        )
        return
    assert_denied(outcome, f"{statement} as alice")


# --- statements that return or lock bob's rows --------------------------------------------------------------
def test_delete_returning_on_bobs_fills_returns_and_deletes_nothing(club: Club, su: psycopg.Connection,
                                                                     alice: psycopg.Connection) -> None:  # fmt: skip
    fills = club.bob.keys("fills")
    before = snapshot(su, "fills", fills)
    rows = fetch(alice, "DELETE FROM fills WHERE user_id = %s RETURNING *", (club.bob.user_id,))
    assert isinstance(rows, psycopg.Error) or rows == [], f"DELETE ... RETURNING gave alice {len(rows)} of bob's fills"
    rows = fetch(alice, "UPDATE orders SET status = 'canceled' WHERE user_id = %s RETURNING *", (club.bob.user_id,))
    assert isinstance(rows, psycopg.Error) or rows == []
    assert snapshot(su, "fills", fills) == before


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO user_profiles (user_id, profile) VALUES (%(bob)s, '{\"pwned\": 1}') "
        "ON CONFLICT (user_id) DO UPDATE SET profile = excluded.profile",
        "INSERT INTO risk_settings (user_id, daily_loss_limit, max_position_size, max_order_value, max_open_orders, "
        "max_drawdown_percent, max_risk_per_trade) VALUES (%(bob)s, 0, 1, 1, 1, 1, 1) "
        "ON CONFLICT (user_id) DO UPDATE SET daily_loss_limit = 0",
        "INSERT INTO user_profiles (user_id) VALUES (%(bob)s) ON CONFLICT DO NOTHING",
    ],
    ids=["profile-upsert", "risk-upsert", "do-nothing"],
)
def test_an_upsert_cannot_reach_bobs_row(club: Club, su: psycopg.Connection, alice: psycopg.Connection,
                                         statement: str) -> None:  # fmt: skip
    table = statement.split()[2]
    bobs = club.bob.keys(table)
    before = snapshot(su, table, bobs)
    assert_denied(attempt(alice, statement, {"bob": club.bob.user_id}), f"{statement} as alice")
    assert snapshot(su, table, bobs) == before


def test_alice_cannot_lock_bobs_account(club: Club, su: psycopg.Connection) -> None:
    """SELECT ... FOR UPDATE on bob's user row finds nothing, so the club service can still lock it to book."""
    with fresh(club, club.alice.role) as conn, conn.transaction():
        rows = fetch(conn, "SELECT id FROM users WHERE id = %s FOR UPDATE", (club.bob.user_id,))
        assert isinstance(rows, psycopg.Error) or rows == []
        with su.transaction():
            locked = su.execute("SELECT id FROM users WHERE id = %s FOR UPDATE NOWAIT", (club.bob.user_id,)).fetchall()
        assert locked == [(club.bob.user_id,)]


# --- what the server shows about other sessions -------------------------------------------------------------
def test_pg_stat_activity_hides_bobs_queries(club: Club, alice: psycopg.Connection) -> None:
    with fresh(club, club.bob.role) as bob:
        bob.execute("SELECT 'bob-secret-marker-7f3a'").fetchall()
        rows = alice.execute("SELECT query FROM pg_stat_activity WHERE usename = %s", (club.bob.role,)).fetchall()
        assert rows, "bob's session is not listed at all (the test proves nothing)"
        assert not any("bob-secret-marker" in (q or "") for (q,) in rows)


def test_planner_statistics_of_guarded_tables_are_hidden(club: Club, su: psycopg.Connection,
                                                          alice: psycopg.Connection) -> None:  # fmt: skip
    """pg_stats shows a column's most common values: for a table under row-level security, bob's names."""
    su.execute("ANALYZE strategies, fills, users")
    visible = su.execute("SELECT count(*) FROM pg_stats WHERE tablename = 'strategies'").fetchone()
    assert visible is not None and visible[0] > 0, "no statistics at all: the test proves nothing"
    rows = alice.execute(
        "SELECT tablename, attname FROM pg_stats WHERE schemaname = 'public' "
        "AND tablename IN ('strategies', 'fills', 'users')"
    ).fetchall()
    assert rows == [], f"alice reads the planner's statistics of {sorted({r[0] for r in rows})}"


# --- LISTEN/NOTIFY ------------------------------------------------------------------------------------------
def test_notifications_carry_no_data_of_bobs(club: Club, alice: psycopg.Connection) -> None:
    """LISTEN is allowed (the app refreshes on it) and any role may NOTIFY any channel: this is documented, not
    prevented. What alice hears of bob's new order request is that one was filed, not its id; the ledger
    NOTIFYs each user's book changes on that user's own channel (tests/ledger/test_notifications.py), named by an
    id she cannot learn."""
    with fresh(club, club.alice.role) as listener:
        listener.execute("LISTEN stratforge_order_requests")
        with fresh(club, club.bob.role) as bob:
            row = bob.execute(
                "INSERT INTO order_requests (kind, ticket) VALUES ('place', %s) RETURNING id",
                (Jsonb(ticket_json("MSFT")),),
            ).fetchone()
        assert row is not None
        request = row[0]
        deadline = time.monotonic() + 5
        heard: list[str] = []
        while not heard and time.monotonic() < deadline:
            heard = [n.payload for n in listener.notifies(timeout=0.5, stop_after=1)]
        assert heard == [""], f"expected a wake-up without the request's id, heard {heard}"
        assert alice.execute("SELECT * FROM order_requests WHERE id = %s", (request,)).fetchall() == []
        with fresh(club, club.bob.role) as bob:
            assert bob.execute("SELECT sf_withdraw_order_request(%s)", (request,)).fetchone() == (True,)


# --- the audit trail's own escape hatch ---------------------------------------------------------------------
@pytest.mark.parametrize("who", ["alice", "club"])
def test_the_purge_flag_is_no_way_around_the_audit_trail(club: Club, su: psycopg.Connection, who: str) -> None:
    """The retention function sets stratforge.audit_purge for its own transaction; anyone can set a custom
    setting, so setting it by hand must not open the audit tables to DELETE."""
    rows = [*club.alice.keys("trade_logs"), *club.bob.keys("trade_logs")]
    before = snapshot(su, "trade_logs", rows)
    connect = club.connect_club if who == "club" else (lambda: club.connect(club.alice.role))
    with connect() as conn:
        conn.execute("SET stratforge.audit_purge = 'on'")
        for statement in ("DELETE FROM trade_logs WHERE id = ANY(%s)", "UPDATE trade_logs SET message = 'x' "
                                                                       "WHERE id = ANY(%s)"):  # fmt: skip
            # Rolled back: the flag set in this session must not reach the transaction attempt() opens either.
            outcome = attempt(conn, statement, (rows,), rollback=True)
            assert_no_effect(outcome, f"{statement} as {who} with the purge flag set")
    assert snapshot(su, "trade_logs", rows) == before
