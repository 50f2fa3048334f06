"""The catalog's side of the contract: every table classified, protected by row-level security, granted no more
than its class allows; every function executable only by the groups the contract names.

These tests read pg_class, pg_policies, pg_proc and the privilege functions, so they also catch what the
behaviour tests cannot reach yet: a new table or function added without a decision.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from core.db.club_roles import GroupKind
from tests.security.conftest import Club, assert_denied, attempt
from tests.security.rows import (
    AUDIT,
    CHILDREN,
    CLASSES,
    CLUB_ONLY,
    OWN_READ_WRITE,
    SHARED_READ_ONLY,
    USER_OWNED,
)

# What the trader group may do to each table (anything else it holds is a finding). users: UPDATE only on the
# columns the trader edits (a column grant: has_table_privilege says no).
TRADER_MAY: dict[str, set[str]] = {
    **{t: {"SELECT", "INSERT", "UPDATE", "DELETE"} for t in OWN_READ_WRITE},
    **{t: {"SELECT"} for t in ("users", "orders", "positions", "position_history", *SHARED_READ_ONLY)},
    "fills": {"SELECT", "INSERT", "DELETE"},
    "order_requests": {"SELECT", "INSERT"},
    **{t: {"SELECT", "INSERT"} for t in AUDIT},
    **{t: set() for t in CLUB_ONLY},
}
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
ALL_TABLES = tuple(t for tables in CLASSES.values() for t in tables)

# Who may execute each of the contract's functions. sf_money and sf_apply_event are the ledger's (the club's).
FUNCTIONS: dict[str, set[str]] = {
    "sf_uid": {"trader", "club", "admin"},
    "sf_request_signup": {"applicant", "admin"},
    "sf_request_identity_signup": {"applicant", "admin"},  # migration 0015: a request carrying a Google/Discord id
    "sf_admin_grant_login": {"admin"},
    "sf_admin_set_active": {"admin"},
    "sf_admin_set_role": {"admin"},
    "sf_admin_reset_balance": {"admin"},
    "sf_admin_purge_audit": {"admin"},
    "sf_withdraw_order_request": {"trader"},
    "sf_apply_event": {"club"},
    "sf_money": {"club"},
}
GROUPS: tuple[GroupKind, ...] = ("trader", "club", "admin", "applicant")


def public_tables(su: psycopg.Connection) -> set[str]:
    rows = su.execute(
        "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
        "AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
    ).fetchall()
    return {r[0] for r in rows}


def test_every_table_of_the_public_schema_is_classified(su: psycopg.Connection) -> None:
    """A new table fails here until someone decides whose it is (rows.py: user-owned, shared, club-only)."""
    classified = [t for tables in CLASSES.values() for t in tables]
    assert len(classified) == len(set(classified)), "a table is in two classes"
    tables = public_tables(su)
    assert not tables - set(classified), f"tables nobody classified: {sorted(tables - set(classified))}"
    assert not set(classified) - tables, f"classified tables that do not exist: {sorted(set(classified) - tables)}"


def test_every_table_with_a_user_column_has_row_level_security_and_a_trader_policy(
    club: Club, su: psycopg.Connection
) -> None:
    """Every table with a user column, and the children the contract owns through a parent, has row-level
    security enabled and a policy that applies to the trader group; those a trader may not touch at all
    (club-only) may instead hold no grant of the trader's whatsoever."""
    with_user = {
        r[0]
        for r in su.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name = 'user_id'"
        ).fetchall()
    }
    guarded = with_user | set(CHILDREN) | {"users"}
    trader = club.group("trader")
    problems = []
    for table in sorted(guarded):
        if table not in USER_OWNED and table not in CLUB_ONLY:
            problems.append(f"{table}: has a user column but is classified {_class_of(table)}")
            continue
        rls = su.execute("SELECT relrowsecurity FROM pg_class WHERE oid = %s::regclass", (table,)).fetchone()
        policies = su.execute(
            "SELECT count(*) FROM pg_policies WHERE schemaname = 'public' AND tablename = %s "
            "AND (%s = ANY(roles) OR 'public' = ANY(roles))",
            (table, trader),
        ).fetchone()
        granted = _granted(su, trader, table)
        if table in CLUB_ONLY and not granted:
            continue
        if not (rls and rls[0]):
            problems.append(f"{table}: row-level security is not enabled")
        if not (policies and policies[0]):
            problems.append(f"{table}: no policy for {trader} (it holds {sorted(granted)})")
    assert not problems, "\n".join(problems)


def _class_of(table: str) -> str:
    return next((name for name, tables in CLASSES.items() if table in tables), "nowhere")


def _granted(su: psycopg.Connection, role: str, table: str) -> set[str]:
    held = set()
    for privilege in PRIVILEGES:
        row = su.execute("SELECT has_table_privilege(%s, %s, %s)", (role, f"public.{table}", privilege)).fetchone()
        if row and row[0]:
            held.add(privilege)
    return held


@pytest.mark.parametrize("table", ALL_TABLES)
def test_the_trader_group_holds_no_more_than_its_tables_class_allows(club: Club, su: psycopg.Connection,
                                                                      table: str) -> None:  # fmt: skip
    held = _granted(su, club.group("trader"), table)
    assert held <= TRADER_MAY[table], f"{club.group('trader')} holds {sorted(held - TRADER_MAY[table])} on {table}"


def test_the_trader_group_updates_only_its_profile_columns_of_users(club: Club, su: psycopg.Connection) -> None:
    rows = su.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'users'::regclass AND attnum > 0 AND NOT attisdropped "
        "AND has_column_privilege(%s, 'users'::regclass, attnum, 'UPDATE')",
        (club.group("trader"),),
    ).fetchall()
    editable = {"display_name", "avatar_url", "phone", "address", "date_of_birth", "gender", "preferences",
                "last_login_at"}  # fmt: skip
    assert {r[0] for r in rows} <= editable


@pytest.mark.parametrize("table", ALL_TABLES)
def test_the_applicant_holds_nothing_on_any_table(club: Club, su: psycopg.Connection, table: str) -> None:
    """The sign-up role (whose credentials are the club's public URL) reads and writes no table. alembic_version
    excepted: the app checks the schema's revision before it offers anything."""
    held = _granted(su, club.group("applicant"), table)
    allowed = {"SELECT"} if table == "alembic_version" else set()
    assert held <= allowed, f"{club.group('applicant')} holds {sorted(held)} on {table}"


# --- functions ----------------------------------------------------------------------------------------------
def _functions(su: psycopg.Connection, name: str) -> list[tuple[int, str, str]]:
    """(oid, signature, a call with NULL arguments) of every overload of ``name`` in public."""
    rows = su.execute(
        "SELECT p.oid, p.oid::regprocedure::text, "
        "coalesce((SELECT string_agg('NULL::' || format_type(t, NULL), ', ' ORDER BY i) "
        "          FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, i)), '') "
        "FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.proname = %s",
        (name,),
    ).fetchall()
    return [(r[0], r[1], f"SELECT public.{name}({r[2]})") for r in rows]


def test_every_sf_function_is_one_the_contract_names(su: psycopg.Connection) -> None:
    """A new sf_ function fails here until someone decides who may execute it (FUNCTIONS above)."""
    rows = su.execute(
        "SELECT DISTINCT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'sf\\_%'"
    ).fetchall()
    names = {r[0] for r in rows}
    assert names - set(FUNCTIONS) == set(), f"unclassified functions: {sorted(names - set(FUNCTIONS))}"
    assert set(FUNCTIONS) - names == set(), f"functions the contract names but the database lacks: " \
                                            f"{sorted(set(FUNCTIONS) - names)}"  # fmt: skip


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("group", GROUPS)
def test_each_group_executes_exactly_the_functions_the_contract_gives_it(
    club: Club, su: psycopg.Connection, name: str, group: GroupKind
) -> None:
    functions = _functions(su, name)
    assert functions, f"{name} does not exist"
    for oid, signature, _ in functions:
        row = su.execute("SELECT has_function_privilege(%s, %s::oid, 'EXECUTE')", (club.group(group), oid)).fetchone()
        expected = group in FUNCTIONS[name]
        assert row == (expected,), f"{club.group(group)} {'cannot' if expected else 'can'} execute {signature}"


@pytest.mark.parametrize("name", [n for n in FUNCTIONS if n not in ("sf_uid", "sf_withdraw_order_request")])
def test_alice_cannot_call_a_privileged_function(su: psycopg.Connection, alice: psycopg.Connection, name: str) -> None:
    """Calling it, not just asking the catalog: every overload, NULL arguments (the grant is checked first)."""
    for _, signature, call in _functions(su, name):
        assert_denied(attempt(alice, call), f"{signature} as alice")


def test_the_applicant_calls_nothing_but_the_sign_up(club: Club, su: psycopg.Connection) -> None:
    with club.connect_applicant() as applicant:
        for name in FUNCTIONS:
            if name in ("sf_request_signup", "sf_request_identity_signup"):
                continue
            for _, signature, call in _functions(su, name):
                assert_denied(attempt(applicant, call), f"{signature} as the applicant")


def test_no_function_of_the_public_schema_is_executable_by_everyone(su: psycopg.Connection) -> None:
    """PostgreSQL grants EXECUTE to PUBLIC on every new function: one a later migration adds must be revoked.
    Trigger functions cannot be called directly, so their grant does not matter."""
    rows = su.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace "
        "AND p.prorettype <> 'trigger'::regtype "
        "AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0))"
    ).fetchall()
    assert rows == [], f"executable by PUBLIC: {[r[0] for r in rows]}"


def test_every_security_definer_function_pins_its_search_path(su: psycopg.Connection) -> None:
    """A SECURITY DEFINER function that resolves names through the caller's search_path runs the caller's
    objects (a temporary table is searched first) with the owner's rights; pg_temp must come last."""
    rows = su.execute(
        "SELECT p.oid::regprocedure::text, p.proconfig FROM pg_proc p "
        "WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef"
    ).fetchall()
    assert rows, "no SECURITY DEFINER function: the contract's functions are"
    bad = [
        (signature, config)
        for signature, config in rows
        if not any(c.replace(" ", "") == "search_path=pg_catalog,public,pg_temp" for c in (config or []))
    ]
    assert bad == [], f"SECURITY DEFINER functions without search_path = pg_catalog, public, pg_temp: {bad}"


def test_alice_cannot_create_anything_in_the_public_schema(su: psycopg.Connection, alice: psycopg.Connection) -> None:
    # An extension the server has but this database has not installed (dblink where it exists: it reaches other
    # databases); the servers tests run on ship different sets, and one that is missing proves nothing.
    row = su.execute(
        "SELECT name FROM pg_available_extensions WHERE installed_version IS NULL "
        "ORDER BY name <> 'dblink', name LIMIT 1"
    ).fetchone()
    extension = [f'CREATE EXTENSION IF NOT EXISTS "{row[0]}"'] if row else []
    for statement in (
        "CREATE TABLE public.evil (id int)",
        "CREATE VIEW public.evil AS SELECT 1",
        "CREATE FUNCTION public.evil() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'",
        "CREATE SCHEMA evil",
        *extension,
    ):
        assert_denied(attempt(alice, statement), f"{statement} as alice")


def test_alice_can_see_the_policies_but_not_change_them(club: Club, alice: psycopg.Connection) -> None:
    for statement in (
        "ALTER TABLE strategies DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE strategies NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY trader_own ON strategies",
        "CREATE POLICY evil ON strategies FOR SELECT USING (true)",
        "ALTER POLICY trader_own ON strategies USING (true)",
        f"ALTER TABLE strategies OWNER TO {club.alice.role}",
        "GRANT SELECT ON club_members TO PUBLIC",
    ):
        outcome = attempt(alice, statement)
        if statement.startswith("GRANT"):  # without the grant option PostgreSQL only warns: check the effect
            row = alice.execute("SELECT has_table_privilege('club_members', 'SELECT')").fetchone()
            assert row == (False,), f"{statement} as alice gave her SELECT on club_members"
            continue
        assert isinstance(outcome, psycopg.Error), f"{statement} as alice succeeded"
        assert outcome.sqlstate in ("42501", "42704"), f"{statement}: {outcome.sqlstate} {outcome}"


@pytest.mark.parametrize("table", ALL_TABLES)
def test_alice_cannot_alter_or_truncate_any_table(alice: psycopg.Connection, table: str) -> None:
    """TRUNCATE and ALTER TABLE bypass row-level security: they must fail on the grant or on ownership."""
    for statement in (
        sql.SQL("TRUNCATE {}").format(sql.Identifier(table)),
        sql.SQL("TRUNCATE {} CASCADE").format(sql.Identifier(table)),
        sql.SQL("ALTER TABLE {} DISABLE ROW LEVEL SECURITY").format(sql.Identifier(table)),
        sql.SQL("ALTER TABLE {} DISABLE TRIGGER ALL").format(sql.Identifier(table)),
    ):
        with alice.transaction(force_rollback=True):
            try:
                with alice.transaction():
                    alice.execute(statement)
                outcome: object = "succeeded"
            except psycopg.Error as exc:
                outcome = exc
            assert_denied(outcome, f"{statement.as_string(alice)} as alice")
