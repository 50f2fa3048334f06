"""Alice, with her own database role and psql, against bob's rows: every table, every statement.

The contract (issue 26): in every user-owned table a trader sees and changes only its own rows; bob's rows stay
exactly as they were whatever alice runs (0 rows touched, or permission denied: the superuser checks the rows
afterwards). Her own rows she reads, and writes where the contract lets her: never money, orders, positions or
ledger fills, never the audit trail's history. Shared tables she reads and cannot change; the club's tables are
not hers at all.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.security.conftest import (
    ONLY_ROW,
    Club,
    assert_denied,
    assert_no_effect,
    attempt,
    describe,
    fetch,
    snapshot,
    table_snapshot,
    victims,
)
from tests.security.rows import (
    AUDIT,
    CHILDREN,
    CLUB_ONLY,
    MUTATIONS,
    ONE_PER_USER,
    OWN_READ_ONLY,
    OWN_READ_WRITE,
    SHARED_READ_ONLY,
    USER_EDITABLE,
    USER_FORBIDDEN,
    USER_OWNED,
    imported_fill,
    insert,
    key,
    new_row,
    ticket_json,
)


def _t(table: str) -> sql.Identifier:
    return sql.Identifier(table)


def _keys_of(conn: psycopg.Connection, table: str) -> set[Any] | psycopg.Error:
    rows = fetch(conn, sql.SQL("SELECT {} FROM {}").format(sql.Identifier(key(table)), _t(table)))
    return rows if isinstance(rows, psycopg.Error) else {r[0] for r in rows}


def _insert_outcome(conn: psycopg.Connection, table: str, values: dict[str, Any]) -> int | psycopg.Error:
    """1 if the row went in (then rolled back: a planted row would only confuse later tests), or the error."""
    try:
        with conn.transaction(force_rollback=True), conn.transaction():
            insert(conn, table, values)
            return 1
    except psycopg.Error as exc:
        return exc


# --- bob's rows ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("table", USER_OWNED)
def test_alice_reads_none_of_bobs_rows(club: Club, alice: psycopg.Connection, table: str) -> None:
    """Whatever she selects, none of bob's private rows comes back (his public strategies excepted)."""
    hidden = set(club.bob.private(table))
    assert hidden, f"the suite seeded no row of bob's in {table}"
    seen = _keys_of(alice, table)
    assert not isinstance(seen, psycopg.Error), f"alice cannot read {table} at all: {describe(seen)}"
    assert not seen & hidden, f"SELECT FROM {table} as alice returned bob's rows {seen & hidden}"


@pytest.mark.parametrize("table", USER_OWNED)
def test_alice_cannot_insert_a_row_for_bob(club: Club, su: psycopg.Connection, alice: psycopg.Connection,
                                           table: str) -> None:  # fmt: skip
    """A row with bob's user (or, in a child table, under bob's parent: his public one too) is refused."""
    if table == "users":
        rows = [new_row(table, club.bob)]  # a new member: only the admin makes those
    elif table in CHILDREN:
        column, parent = CHILDREN[table]
        rows = [new_row(table, club.bob) | {column: p} for p in club.bob.keys(parent)]
    elif table == "fills":  # the kind alice may insert for herself, but for bob
        rows = [imported_fill(club.bob), new_row(table, club.bob)]
    else:
        rows = [new_row(table, club.bob)]
    before = snapshot(su, table, club.bob.keys(table))
    for values in rows:
        outcome = _insert_outcome(alice, table, values)
        assert_denied(outcome, f"INSERT INTO {table} {_summary(values)} as alice")
    assert snapshot(su, table, club.bob.keys(table)) == before


def _summary(values: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in values.items() if k.endswith("_id") or k in ("source",)) + ")"


@pytest.mark.parametrize("table", USER_OWNED)
def test_alice_cannot_update_bobs_rows(club: Club, su: psycopg.Connection, alice: psycopg.Connection,
                                       table: str) -> None:  # fmt: skip
    bobs = victims(su, club, table)
    before = snapshot(su, table, bobs)
    query = sql.SQL("UPDATE {} SET {} WHERE {} = ANY(%s)").format(
        _t(table), sql.SQL(MUTATIONS[table]), sql.Identifier(key(table))
    )
    outcome = attempt(alice, query, (bobs,), rollback=table in ONLY_ROW)
    assert_no_effect(outcome, f"UPDATE {table} SET {MUTATIONS[table]} (bob's rows) as alice")
    assert snapshot(su, table, bobs) == before, f"bob's {table} rows changed"


@pytest.mark.parametrize("table", USER_OWNED)
def test_alice_cannot_steal_bobs_rows(club: Club, su: psycopg.Connection, alice: psycopg.Connection,
                                      table: str) -> None:  # fmt: skip
    """Moving bob's row to herself (his strategy, his fills, his money) finds nothing to move."""
    bobs = victims(su, club, table)
    before = snapshot(su, table, bobs)
    change: sql.Composable
    if table == "users":  # his money is the row's
        change = sql.SQL("virtual_balance = 0")
    elif table in CHILDREN:
        column, parent = CHILDREN[table]
        change = sql.SQL("{} = {}").format(sql.Identifier(column), sql.Literal(club.alice.first(parent)))
    else:
        change = sql.SQL("user_id = {}").format(sql.Literal(club.alice.user_id))
    query = sql.SQL("UPDATE {} SET {} WHERE {} = ANY(%s)").format(_t(table), change, sql.Identifier(key(table)))
    outcome = attempt(alice, query, (bobs,), rollback=table in ONLY_ROW)
    assert_no_effect(outcome, f"UPDATE {table} SET owner = alice (bob's rows) as alice")
    assert snapshot(su, table, bobs) == before, f"bob's {table} rows changed"


@pytest.mark.parametrize("table", USER_OWNED)
def test_alice_cannot_delete_bobs_rows(club: Club, su: psycopg.Connection, alice: psycopg.Connection,
                                       table: str) -> None:  # fmt: skip
    bobs = victims(su, club, table)
    before = snapshot(su, table, bobs)
    query = sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(_t(table), sql.Identifier(key(table)))
    outcome = attempt(alice, query, (bobs,), rollback=table in ONLY_ROW)
    assert_no_effect(outcome, f"DELETE FROM {table} (bob's rows) as alice")
    assert snapshot(su, table, bobs) == before, f"bob's {table} rows were deleted"
    assert len(before) == len(bobs)


@pytest.mark.parametrize("table", USER_OWNED)
def test_alice_cannot_reach_bobs_rows_with_a_blanket_statement(club: Club, alice: psycopg.Connection,
                                                               table: str) -> None:  # fmt: skip
    """UPDATE and DELETE without a WHERE clause: whatever they reach of her own, nothing of bob's (RETURNING
    names every row a statement touched; rolled back, so her rows stay for the other tests)."""
    bobs = set(club.bob.keys(table))
    k = sql.Identifier(key(table))
    for statement in (
        sql.SQL("UPDATE {} SET {} RETURNING {}").format(_t(table), sql.SQL(MUTATIONS[table]), k),
        sql.SQL("DELETE FROM {} RETURNING {}").format(_t(table), k),
    ):
        with alice.transaction(force_rollback=True):
            try:
                with alice.transaction():
                    touched = {r[0] for r in alice.execute(statement).fetchall()}
            except psycopg.Error:
                touched = set()
            assert not touched & bobs, f"{statement.as_string(alice)} as alice touched bob's rows {touched & bobs}"


# --- her own rows -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("table", USER_OWNED)
def test_alice_reads_her_own_rows(club: Club, alice: psycopg.Connection, table: str) -> None:
    mine = set(club.alice.keys(table))
    seen = _keys_of(alice, table)
    assert not isinstance(seen, psycopg.Error), f"SELECT FROM {table} as alice: {describe(seen)}"
    assert mine <= seen, f"alice does not see her own {table} rows {mine - seen}"


@pytest.mark.parametrize("table", OWN_READ_WRITE)
def test_alice_writes_her_own_rows(club: Club, alice: psycopg.Connection, table: str) -> None:
    """Insert, read, update and delete a row of her own (rolled back: the seeded rows stay for other tests)."""
    with alice.transaction(force_rollback=True):
        if table in ONE_PER_USER:
            gone = alice.execute(
                sql.SQL("DELETE FROM {} WHERE user_id = %s").format(_t(table)), (club.alice.user_id,)
            ).rowcount
            assert gone == 1, f"DELETE her own {table} row: {gone} rows"
        new = insert(alice, table, new_row(table, club.alice), returning="id")
        changed = alice.execute(
            sql.SQL("UPDATE {} SET {} WHERE id = %s").format(_t(table), sql.SQL(MUTATIONS[table])), (new,)
        ).rowcount
        assert changed == 1, f"UPDATE her own new {table} row: {changed} rows"
        assert alice.execute(sql.SQL("SELECT 1 FROM {} WHERE id = %s").format(_t(table)), (new,)).fetchall()
        gone = alice.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(_t(table)), (new,)).rowcount
        assert gone == 1, f"DELETE her own new {table} row: {gone} rows"


@pytest.mark.parametrize("table", OWN_READ_WRITE)
def test_alice_cannot_give_her_row_to_bob(club: Club, su: psycopg.Connection, alice: psycopg.Connection,
                                          table: str) -> None:  # fmt: skip
    """Planting a row in bob's books (her row with his user, or under his parent) fails the policy's check."""
    if table in CHILDREN:
        column, parent = CHILDREN[table]
        targets = [sql.SQL("{} = {}").format(sql.Identifier(column), sql.Literal(p)) for p in club.bob.keys(parent)]
    else:
        targets = [sql.SQL("user_id = {}").format(sql.Literal(club.bob.user_id))]
    mine = club.alice.keys(table)
    before = snapshot(su, table, mine)
    for change in targets:
        query = sql.SQL("UPDATE {} SET {} WHERE id = ANY(%s)").format(_t(table), change)
        outcome = attempt(alice, query, (mine,), rollback=True)
        assert_denied(outcome, f"UPDATE {table} SET {change.as_string(alice)} (her rows)")
    assert snapshot(su, table, mine) == before


@pytest.mark.parametrize("table", [t for t in OWN_READ_ONLY if t != "users"])
def test_alice_cannot_write_her_own_books(club: Club, su: psycopg.Connection, alice: psycopg.Connection,
                                          table: str) -> None:  # fmt: skip
    """Orders, positions, their history and ledger fills are the club service's to write, even hers."""
    mine = club.alice.keys(table)
    before = snapshot(su, table, mine)
    assert_denied(_insert_outcome(alice, table, new_row(table, club.alice)), f"INSERT INTO {table} (her own) as alice")
    query = sql.SQL("UPDATE {} SET {} WHERE {} = ANY(%s)").format(
        _t(table), sql.SQL(MUTATIONS[table]), sql.Identifier(key(table))
    )
    outcome = attempt(alice, query, (mine,), rollback=True)
    assert_no_effect(outcome, f"UPDATE {table} SET {MUTATIONS[table]} (her own) as alice")
    ledger_rows = mine if table != "fills" else mine[:1]  # her imported fill she may delete (its own test)
    query = sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(_t(table), sql.Identifier(key(table)))
    outcome = attempt(alice, query, (ledger_rows,), rollback=True)
    assert_no_effect(outcome, f"DELETE FROM {table} (her own) as alice")
    assert snapshot(su, table, mine) == before, f"alice changed her own {table}"


def test_alice_cannot_change_her_order_status(club: Club, su: psycopg.Connection, alice: psycopg.Connection) -> None:
    order = club.alice.first("orders")
    before = snapshot(su, "orders", [order])
    for status in ("canceled", "filled", "rejected"):
        outcome = attempt(alice, "UPDATE orders SET status = %s WHERE id = %s", (status, order), rollback=True)
        assert_no_effect(outcome, f"UPDATE orders SET status = '{status}' (her own order) as alice")
    assert snapshot(su, "orders", [order]) == before


@pytest.mark.parametrize("column", USER_EDITABLE)
def test_alice_edits_her_profile_columns(club: Club, alice: psycopg.Connection, column: str) -> None:
    values = {"date_of_birth": "1990-01-01", "preferences": '{"theme": "dark"}', "last_login_at": "2026-03-02"}
    with alice.transaction(force_rollback=True):
        query = sql.SQL("UPDATE users SET {} = %s WHERE id = %s").format(sql.Identifier(column))
        changed = alice.execute(query, (values.get(column, "x"), club.alice.user_id)).rowcount
        assert changed == 1, f"UPDATE users SET {column} (her own row): {changed} rows"


@pytest.mark.parametrize("column", USER_FORBIDDEN)
def test_alice_cannot_change_her_money_role_or_identity(club: Club, su: psycopg.Connection,
                                                        alice: psycopg.Connection, column: str) -> None:  # fmt: skip
    before = snapshot(su, "users", [club.alice.user_id])
    query = sql.SQL("UPDATE users SET {} = {} WHERE id = %s").format(
        sql.Identifier(column), sql.SQL(USER_FORBIDDEN[column])
    )
    outcome = attempt(alice, query, (club.alice.user_id,), rollback=True)
    assert_no_effect(outcome, f"UPDATE users SET {column} (her own row)")
    assert snapshot(su, "users", [club.alice.user_id]) == before


# --- fills: a trader imports its own, the ledger's are the club's -----------------------------------------
def test_alice_imports_and_deletes_her_own_non_ledger_fill(club: Club, alice: psycopg.Connection) -> None:
    with alice.transaction(force_rollback=True):
        fill = insert(alice, "fills", imported_fill(club.alice), returning="id")
        assert alice.execute("DELETE FROM fills WHERE id = %s", (fill,)).rowcount == 1
    imported = club.alice.keys("fills")[-1]
    with alice.transaction(force_rollback=True):
        assert alice.execute("DELETE FROM fills WHERE id = %s", (imported,)).rowcount == 1


@pytest.mark.parametrize(
    "change",
    [
        {"source": "ledger"},  # a ledger fill without an order: the constraint or the policy
        {"source": "csv_import", "order_id": "ORDER"},  # an imported fill posing as an order's
        {"source": "ledger", "order_id": "ORDER"},  # a ledger fill of her own order: free shares
    ],
    ids=["ledger-source", "import-with-order", "ledger-fill"],
)
def test_alice_cannot_book_a_ledger_fill(club: Club, alice: psycopg.Connection, change: dict[str, str]) -> None:
    values = imported_fill(club.alice) | {
        k: (club.alice.first("orders") if v == "ORDER" else v) for k, v in change.items()
    }
    outcome = _insert_outcome(alice, "fills", values)
    assert isinstance(outcome, psycopg.Error), f"INSERT INTO fills {change} as alice succeeded"
    if values.get("order_id") is not None:  # well-formed: only the policy can refuse it
        assert_denied(outcome, f"INSERT INTO fills {change} as alice")


# --- order requests -----------------------------------------------------------------------------------------
def test_alice_files_an_order_request_as_herself(club: Club, alice: psycopg.Connection) -> None:
    """The user column defaults to the caller (sf_uid()), the status to 'requested'."""
    with alice.transaction(force_rollback=True):
        row = alice.execute(
            "INSERT INTO order_requests (kind, ticket) VALUES ('place', %s) RETURNING user_id, status",
            (psycopg.types.json.Jsonb(ticket_json()),),
        ).fetchone()
        assert row == (club.alice.user_id, "requested")
        row = alice.execute(
            "INSERT INTO order_requests (kind, order_id) VALUES ('cancel', %s) RETURNING user_id",
            (club.alice.first("orders"),),
        ).fetchone()
        assert row == (club.alice.user_id,)


@pytest.mark.parametrize(
    "change",
    [
        {"status": "accepted"},
        {"status": "processing"},
        {"status": "rejected", "reason": "no"},
        {"order_id": "ORDER"},  # a 'place' that claims to be answered already
        {"answered_at": "2026-03-02T15:00:00+00:00"},
    ],
    ids=["accepted", "processing", "rejected", "place-with-order", "answered"],
)
def test_alice_cannot_file_an_answered_request(club: Club, alice: psycopg.Connection, change: dict[str, str]) -> None:
    values = new_row("order_requests", club.alice) | {
        k: (club.alice.first("orders") if v == "ORDER" else v) for k, v in change.items()
    }
    assert_denied(_insert_outcome(alice, "order_requests", values), f"INSERT INTO order_requests {change} as alice")


def test_alice_cannot_answer_or_delete_her_own_request(club: Club, su: psycopg.Connection,
                                                        alice: psycopg.Connection) -> None:  # fmt: skip
    mine = club.alice.keys("order_requests")
    before = snapshot(su, "order_requests", mine)
    for statement in (
        "UPDATE order_requests SET status = 'accepted' WHERE id = ANY(%s)",
        "UPDATE order_requests SET reason = 'x' WHERE id = ANY(%s)",
        "DELETE FROM order_requests WHERE id = ANY(%s)",
    ):
        assert_no_effect(attempt(alice, statement, (mine,), rollback=True), f"{statement} (her own) as alice")
    assert snapshot(su, "order_requests", mine) == before


def test_alice_withdraws_her_own_request_only(club: Club, su: psycopg.Connection, alice: psycopg.Connection) -> None:
    row = alice.execute(
        "INSERT INTO order_requests (kind, ticket) VALUES ('place', %s) RETURNING id",
        (psycopg.types.json.Jsonb(ticket_json()),),
    ).fetchone()
    assert row is not None
    assert alice.execute("SELECT sf_withdraw_order_request(%s)", (row[0],)).fetchone() == (True,)
    assert alice.execute("SELECT status FROM order_requests WHERE id = %s", (row[0],)).fetchone() == ("withdrawn",)
    assert alice.execute("SELECT sf_withdraw_order_request(%s)", (row[0],)).fetchone() == (False,)  # once

    bobs = club.bob.first("order_requests")
    assert alice.execute("SELECT sf_withdraw_order_request(%s)", (bobs,)).fetchone() == (False,)
    assert su.execute("SELECT status FROM order_requests WHERE id = %s", (bobs,)).fetchone() == ("requested",)


# --- the audit trail ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("table", AUDIT)
def test_alice_appends_to_the_audit_trail_but_never_rewrites_it(
    club: Club, su: psycopg.Connection, alice: psycopg.Connection, table: str
) -> None:
    new = insert(alice, table, new_row(table, club.alice), returning="id")
    mine = [*club.alice.keys(table), new]
    before = snapshot(su, table, mine)
    assert len(before) == len(mine)
    for statement in (
        sql.SQL("UPDATE {} SET {} WHERE id = ANY(%s)").format(_t(table), sql.SQL(MUTATIONS[table])),
        sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(_t(table)),
    ):
        outcome = attempt(alice, statement, (mine,), rollback=True)
        assert_no_effect(outcome, f"{statement.as_string(alice)} (her own) as alice")
    assert snapshot(su, table, mine) == before


@pytest.mark.parametrize("table", AUDIT)
def test_alice_cannot_write_anonymous_audit_rows(club: Club, alice: psycopg.Connection, table: str) -> None:
    """A row without a user would pass for the system's or the club service's."""
    values = new_row(table, club.alice) | {"user_id": None}
    assert_denied(_insert_outcome(alice, table, values), f"INSERT INTO {table} (user_id NULL) as alice")


# --- tables that are not hers -------------------------------------------------------------------------------
@pytest.mark.parametrize("table", SHARED_READ_ONLY)
def test_alice_reads_shared_tables_but_cannot_change_them(club: Club, su: psycopg.Connection,
                                                          alice: psycopg.Connection, table: str) -> None:  # fmt: skip
    rows = fetch(alice, sql.SQL("SELECT count(*) FROM {}").format(_t(table)))
    assert not isinstance(rows, psycopg.Error), f"SELECT FROM {table} as alice: {describe(rows)}"
    assert rows[0][0] >= 1
    before = table_snapshot(su, table)
    # A copy of a row: the grant is checked before any row is (a unique column cannot answer first).
    copy = sql.SQL("INSERT INTO {} SELECT * FROM {} LIMIT 1").format(_t(table), _t(table))
    assert_denied(attempt(alice, copy, rollback=True), f"INSERT INTO {table} as alice")
    update = sql.SQL("UPDATE {} SET {}").format(_t(table), sql.SQL(MUTATIONS[table]))
    assert_denied(attempt(alice, update, rollback=True), f"UPDATE {table} as alice")
    delete = sql.SQL("DELETE FROM {}").format(_t(table))
    assert_denied(attempt(alice, delete, rollback=True), f"DELETE FROM {table} as alice")
    assert table_snapshot(su, table) == before


@pytest.mark.parametrize("table", CLUB_ONLY)
def test_alice_cannot_read_or_write_the_clubs_tables(club: Club, su: psycopg.Connection,
                                                     alice: psycopg.Connection, table: str) -> None:  # fmt: skip
    before = table_snapshot(su, table)
    assert before, f"the suite seeded no row in {table}"
    rows = fetch(alice, sql.SQL("SELECT * FROM {}").format(_t(table)))
    assert isinstance(rows, psycopg.Error) or rows == [], f"SELECT FROM {table} as alice returned {len(rows)} rows"
    if isinstance(rows, psycopg.Error):
        assert_denied(rows, f"SELECT FROM {table} as alice")
    values = new_row(table, club.alice) if table != "club_members" else {
        "role_name": club.alice.role + "_twin", "user_id": club.bob.user_id
    }  # fmt: skip
    assert_denied(_insert_outcome(alice, table, values), f"INSERT INTO {table} as alice")
    update = sql.SQL("UPDATE {} SET {}").format(_t(table), sql.SQL(MUTATIONS[table]))
    assert_no_effect(attempt(alice, update, rollback=True), f"UPDATE {table} as alice")
    delete = sql.SQL("DELETE FROM {}").format(_t(table))
    assert_no_effect(attempt(alice, delete, rollback=True), f"DELETE FROM {table} as alice")
    assert table_snapshot(su, table) == before


def test_alice_cannot_map_her_role_to_bobs_user(club: Club, su: psycopg.Connection, alice: psycopg.Connection) -> None:
    """club_members is what sf_uid() reads: pointing her role at bob's user would make every policy bob's."""
    outcome = attempt(alice, "UPDATE club_members SET user_id = %s WHERE role_name = session_user",
                      (club.bob.user_id,), rollback=True)  # fmt: skip
    assert_no_effect(outcome, "UPDATE club_members SET user_id = bob (her own role) as alice")
    assert alice.execute("SELECT sf_uid()").fetchone() == (club.alice.user_id,)
