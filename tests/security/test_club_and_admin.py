"""The roles that are not traders: the club service books, the admin approves and disables, the applicant asks.

The club service runs the real ledger (core.ledger.service.Ledger on a session factory for the club role's URL,
with a hand-driven broker as tests/ledger does) to answer a trader's order request; the admin is carol, a trader
whose users.role is 'admin' (so her login role is in both groups, as every admin's is); the applicant is the
club's sign-up role.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from core.db.club_roles import scram_verifier, trader_role
from core.db.engine import make_engine, make_session_factory
from core.domain.tickets import OrderTicket
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from tests.ledger.manual_broker import ManualBroker
from tests.security.conftest import (
    PASSWORD,
    SERVICE_PASSWORD,
    Club,
    assert_denied,
    assert_no_effect,
    attempt,
    describe,
    fetch,
    snapshot,
)
from tests.security.rows import AUDIT, MUTATIONS, USER_OWNED, insert, key, new_row, risk_row, ticket_json

D = Decimal


# --- sf_uid ------------------------------------------------------------------------------------------------
def test_sf_uid_names_the_member_of_the_session(club: Club, su: psycopg.Connection) -> None:
    for books in (club.alice, club.bob, club.carol):
        with club.connect(books.role) as conn:
            assert conn.execute("SELECT sf_uid()").fetchone() == (books.user_id,), books.name
    with club.connect_club() as conn:
        assert conn.execute("SELECT sf_uid()").fetchone() == (None,)


# --- the club service ---------------------------------------------------------------------------------------
def test_the_club_service_answers_an_order_request_and_books_its_fill(club: Club, su: psycopg.Connection,
                                                                       alice: psycopg.Connection) -> None:  # fmt: skip
    """Alice files a request; the service takes it (FOR UPDATE SKIP LOCKED), places it through the ledger as the
    club's role, answers, and books the broker's fill. Alice reads the outcome; bob sees none of it."""
    row = alice.execute(
        "INSERT INTO order_requests (kind, ticket) VALUES ('place', %s) RETURNING id",
        (Jsonb(ticket_json("MSFT", "3")),),
    ).fetchone()
    assert row is not None
    request = row[0]
    engine = make_engine(club.url(club.group("club"), SERVICE_PASSWORD), pool_size=2, max_overflow=0)
    broker = ManualBroker()
    ledger = Ledger(make_session_factory(engine), broker, LastPrices({"MSFT": D("400")}))
    try:
        with club.connect_club() as service:
            with service.transaction():
                taken = service.execute(
                    "SELECT user_id, ticket FROM order_requests WHERE id = %s AND status = 'requested' "
                    "FOR UPDATE SKIP LOCKED",
                    (request,),
                ).fetchone()
                assert taken is not None, "the club's role does not see alice's request"
                service.execute("UPDATE order_requests SET status = 'processing' WHERE id = %s", (request,))
            user_id, ticket = taken
            assert user_id == club.alice.user_id
            placed = ledger.place_order(
                user_id, OrderTicket(ticket["symbol"], ticket["side"], D(ticket["qty"])), request_id=request
            )
            service.execute(
                "UPDATE order_requests SET status = 'accepted', order_id = %s, answered_at = now() WHERE id = %s",
                (placed.id, request),
            )
            broker.fill(placed.client_order_id, "3", "401")
            ledger.flush_acceptances()
    finally:
        engine.dispose()

    assert alice.execute("SELECT status, order_id FROM order_requests WHERE id = %s", (request,)).fetchone() == (
        "accepted", placed.id,
    )  # fmt: skip
    assert alice.execute("SELECT status, filled_quantity FROM orders WHERE id = %s", (placed.id,)).fetchone() == (
        "filled", D(3),
    )  # fmt: skip
    assert alice.execute("SELECT quantity, price, source FROM fills WHERE order_id = %s", (placed.id,)).fetchall() == [
        (D(3), D(401), "ledger")
    ]
    assert alice.execute("SELECT quantity FROM positions WHERE symbol = 'MSFT'").fetchone() == (D(3),)
    cash = su.execute("SELECT virtual_balance FROM users WHERE id = %s", (club.alice.user_id,)).fetchone()
    assert cash == (D(100_000) - 3 * D(401),)
    with club.connect(club.bob.role) as bob:
        assert bob.execute("SELECT * FROM orders WHERE id = %s", (placed.id,)).fetchall() == []
        assert bob.execute("SELECT * FROM order_requests WHERE id = %s", (request,)).fetchall() == []


def test_the_club_service_reads_every_members_books(club: Club) -> None:
    with club.connect_club() as service:
        for table in ("orders", "fills", "positions", "order_requests", "users"):
            seen = {r[0] for r in service.execute(sql.SQL("SELECT {} FROM {}").format(
                sql.Identifier(key(table)), sql.Identifier(table))).fetchall()}  # fmt: skip
            assert set(club.alice.keys(table)) | set(club.bob.keys(table)) <= seen, table


@pytest.mark.parametrize("table", AUDIT)
def test_the_club_service_appends_to_the_audit_trail_but_cannot_rewrite_it(club: Club, su: psycopg.Connection,
                                                                            table: str) -> None:  # fmt: skip
    rows = [*club.alice.keys(table), *club.bob.keys(table)]
    before = snapshot(su, table, rows)
    with club.connect_club() as service:
        insert(service, table, new_row(table, club.bob))
        for statement in (
            sql.SQL("UPDATE {} SET {} WHERE id = ANY(%s)").format(sql.Identifier(table), sql.SQL(MUTATIONS[table])),
            sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(sql.Identifier(table)),
        ):
            assert_no_effect(attempt(service, statement, (rows,)), f"{statement.as_string(service)} as the club's role")
        with service.transaction(force_rollback=True):  # should it succeed, the other tests keep their rows
            try:
                with service.transaction():
                    service.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(table)))
                truncated: object = "succeeded"
            except psycopg.Error as exc:
                truncated = exc
            assert_denied(truncated, f"TRUNCATE {table} as the club's role")
    assert snapshot(su, table, rows) == before


# --- the admin ----------------------------------------------------------------------------------------------
def request_signup(club: Club, name: str) -> None:
    with club.connect_applicant() as applicant:
        verifier = scram_verifier(applicant, PASSWORD, trader_role(club.database, name))
        applicant.execute(
            "SELECT sf_request_signup(%s, %s, %s, %s)", (name.title(), f"{name}@example.com", name, verifier)
        )


def approve(club: Club, name: str) -> tuple[uuid.UUID, str]:
    """The admin's approval, as her own role: the member's rows, the login role from the request's verifier."""
    request_signup(club, name)
    with club.connect(club.carol.role) as admin, admin.transaction():
        row = admin.execute(
            "SELECT id, username, email, password_verifier FROM waitlist WHERE username = %s AND status = 'waiting'",
            (name,),
        ).fetchone()
        assert row is not None, f"the admin does not see {name}'s sign-up request"
        request, username, email, verifier = row
        user_id = insert(admin, "users", {"email": email, "username": username, "password_hash": "!club-login"},
                         returning="id")  # fmt: skip
        insert(admin, "user_profiles", {"user_id": user_id})
        insert(admin, "risk_settings", risk_row(user_id))
        role_row = admin.execute("SELECT sf_admin_grant_login(%s, %s)", (user_id, verifier)).fetchone()
        assert role_row is not None
        admin.execute(
            "UPDATE waitlist SET status = 'approved', user_id = %s, decided_at = now() WHERE id = %s",
            (user_id, request),
        )
    return user_id, role_row[0]


def test_the_admin_approves_a_sign_up_request(club: Club) -> None:
    user_id, role = approve(club, "dave")
    assert role == trader_role(club.database, "dave")
    with club.connect(role) as dave:
        assert dave.execute("SELECT sf_uid()").fetchone() == (user_id,)
        others = dave.execute("SELECT count(*) FROM strategies WHERE user_id <> %s AND NOT is_public", (user_id,))
        assert others.fetchone() == (0,)


def test_the_admin_disables_a_member_who_then_cannot_connect(club: Club, su: psycopg.Connection) -> None:
    user_id, role = approve(club, "erin")
    erin = club.connect(role)
    try:
        with club.connect(club.carol.role) as admin:
            admin.execute("SELECT sf_admin_set_active(%s, false)", (user_id,))
        with pytest.raises(psycopg.OperationalError):  # her open connection was ended
            erin.execute("SELECT 1").fetchall()
    finally:
        erin.close()
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        club.connect(role).close()
    assert su.execute("SELECT is_active FROM users WHERE id = %s", (user_id,)).fetchone() == (False,)

    with club.connect(club.carol.role) as admin:
        admin.execute("SELECT sf_admin_set_active(%s, true)", (user_id,))
    with club.connect(role) as erin:
        assert erin.execute("SELECT sf_uid()").fetchone() == (user_id,)


def test_a_demoted_admin_leaves_the_admin_group_when_the_login_is_granted_again(
    club: Club, su: psycopg.Connection
) -> None:
    """sf_admin_grant_login makes the role a member of the admin group when users.role is 'admin'; run again
    (a new password) after the admin set that member back to 'trader', the role must not stay the admin's."""
    user_id = insert(su, "users", new_row("users", club.bob) | {"role": "admin"}, returning="id")
    username = su.execute("SELECT username FROM users WHERE id = %s", (user_id,)).fetchone()
    assert username is not None
    verifier = scram_verifier(su, PASSWORD, trader_role(club.database, username[0]))
    with club.connect(club.carol.role) as admin:
        role = admin.execute("SELECT sf_admin_grant_login(%s, %s)", (user_id, verifier)).fetchone()
        assert role is not None
        assert su.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (role[0], club.group("admin"))).fetchone() == (True,)
        assert_denied(attempt(admin, "UPDATE users SET role = 'trader' WHERE id = %s", (user_id,), rollback=True),
                      "UPDATE users.role as the admin (only sf_admin_set_role changes it)")  # fmt: skip
        admin.execute("SELECT sf_admin_set_role(%s, 'trader')", (user_id,))
        member = su.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (role[0], club.group("admin"))).fetchone()
        assert member == (False,), f"{role[0]} is still a member of {club.group('admin')} after sf_admin_set_role"
        su.execute("GRANT {} TO {}".format(*(f'"{n}"' for n in (club.group("admin"), role[0]))))  # out of band
        admin.execute("SELECT sf_admin_grant_login(%s, %s)", (user_id, verifier))
    member = su.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (role[0], club.group("admin"))).fetchone()
    assert member == (False,), f"{role[0]} is still a member of {club.group('admin')} after its user became a trader"


def test_a_trader_can_neither_approve_nor_disable(club: Club, su: psycopg.Connection,
                                                   alice: psycopg.Connection) -> None:  # fmt: skip
    request_signup(club, "frank")
    row = su.execute("SELECT password_verifier FROM waitlist WHERE username = 'frank'").fetchone()
    assert row is not None
    assert_denied(attempt(alice, "SELECT sf_admin_grant_login(%s, %s)", (club.alice.user_id, row[0])),
                  "sf_admin_grant_login as alice")  # fmt: skip
    assert_denied(attempt(alice, "SELECT sf_admin_set_active(%s, false)", (club.bob.user_id,)),
                  "sf_admin_set_active(bob, false) as alice")  # fmt: skip
    assert_denied(fetch(alice, "SELECT * FROM waitlist"), "SELECT FROM waitlist as alice")
    assert_denied(attempt(alice, "UPDATE waitlist SET status = 'approved'", rollback=True), "UPDATE waitlist as alice")
    new_member = "INSERT INTO users (email, username, password_hash) VALUES ('m@example.com', 'mallory', 'x')"
    assert_denied(attempt(alice, new_member, rollback=True), "INSERT INTO users as alice")
    with club.connect(club.bob.role) as bob:
        assert bob.execute("SELECT sf_uid()").fetchone() == (club.bob.user_id,)


def test_the_admin_resets_a_balance_only_when_the_member_is_flat(club: Club, su: psycopg.Connection,
                                                                  alice: psycopg.Connection) -> None:  # fmt: skip
    user_id, _ = approve(club, "gina")
    with club.connect(club.carol.role) as admin:
        outcome = attempt(admin, "SELECT sf_admin_reset_balance(%s, 5000)", (club.bob.user_id,))
        assert isinstance(outcome, psycopg.Error) and outcome.sqlstate == "55000", describe(outcome)
        admin.execute("SELECT sf_admin_reset_balance(%s, 5000)", (user_id,))
    assert su.execute(
        "SELECT virtual_balance, starting_balance, reserved_balance FROM users WHERE id = %s", (user_id,)
    ).fetchone() == (D(5000), D(5000), D(0))
    assert_denied(attempt(alice, "SELECT sf_admin_reset_balance(%s, 1000000)", (club.alice.user_id,)),
                  "sf_admin_reset_balance as alice")  # fmt: skip


def test_the_admin_purges_only_old_audit_rows(club: Club, su: psycopg.Connection) -> None:
    old = insert(su, "system_logs", {"component": "app", "log_level": "INFO", "message": "old",
                                     "created_at": "2020-01-01T00:00:00+00:00"}, returning="id")  # fmt: skip
    recent = {table: club.bob.keys(table) for table in AUDIT}
    with club.connect(club.carol.role) as admin:
        outcome = attempt(admin, "SELECT sf_admin_purge_audit(now())")
        assert isinstance(outcome, psycopg.Error) and outcome.sqlstate == "22023", describe(outcome)
        row = admin.execute("SELECT sf_admin_purge_audit(now() - interval '2 hours')").fetchone()
    assert row is not None and row[0] >= 1
    assert su.execute("SELECT count(*) FROM system_logs WHERE id = %s", (old,)).fetchone() == (0,)
    for table, rows in recent.items():
        assert len(snapshot(su, table, rows)) == len(rows), f"the purge took bob's recent {table}"


def test_the_admin_reads_members_and_the_audit_trail(club: Club, carol: psycopg.Connection) -> None:
    for table in ("users", "user_profiles", "risk_settings", *AUDIT):
        seen = {r[0] for r in carol.execute(sql.SQL("SELECT id FROM {}").format(sql.Identifier(table))).fetchall()}
        assert set(club.bob.keys(table)) <= seen, f"the admin does not see bob's {table}"


BOOKS = [t for t in USER_OWNED if t not in ("users", "user_profiles", "risk_settings", *AUDIT)]


@pytest.mark.parametrize("table", BOOKS)
def test_the_admin_does_not_read_members_books(club: Club, carol: psycopg.Connection, table: str) -> None:
    """The admin manages members, not their trading: bob's strategies, orders and journal stay his."""
    rows = fetch(carol, sql.SQL("SELECT {} FROM {}").format(sql.Identifier(key(table)), sql.Identifier(table)))
    assert not isinstance(rows, psycopg.Error), describe(rows)
    leaked = {r[0] for r in rows} & set(club.bob.private(table))
    assert not leaked, f"the admin reads bob's {table}: {leaked}"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE users SET virtual_balance = 1000000000 WHERE id = %(bob)s",
        "UPDATE users SET reserved_balance = 0 WHERE id = %(bob)s",
        "UPDATE users SET phone = 'pwned' WHERE id = %(bob)s",
        "UPDATE users SET preferences = '{\"pwned\": 1}' WHERE id = %(bob)s",
        "UPDATE user_profiles SET profile = '{\"pwned\": 1}' WHERE user_id = %(bob)s",
        "UPDATE risk_settings SET daily_loss_limit = 0 WHERE user_id = %(bob)s",
        "DELETE FROM risk_settings WHERE user_id = %(bob)s",
        "DELETE FROM user_profiles WHERE user_id = %(bob)s",
        "DELETE FROM users WHERE id = %(bob)s",
        "INSERT INTO club_members (role_name, user_id) VALUES (session_user || '_twin', %(bob)s)",
        "UPDATE club_members SET user_id = %(bob)s WHERE role_name = session_user",
    ],
    ids=[
        "users.virtual_balance", "users.reserved_balance", "users.phone", "users.preferences",
        "user_profiles", "risk_settings", "delete-risk_settings", "delete-user_profiles", "delete-users",
        "club_members-insert", "club_members-update",
    ],
)  # fmt: skip
def test_the_admin_cannot_change_a_members_money_settings_or_identity(club: Club, su: psycopg.Connection,
                                                                      carol: psycopg.Connection,
                                                                      statement: str) -> None:  # fmt: skip
    """The contract gives the admin INSERT on users, profiles and risk settings, UPDATE of users(is_active,
    role, display_name) and the sf_admin_* functions: nothing else of another member's. The victim is a member
    made for this test (an attack that works wrecks nothing the other tests read); club_members attacks are
    rolled back (carol's own mapping is in them)."""
    victim = insert(su, "users", new_row("users", club.bob) | {"display_name": "Victim"}, returning="id")
    insert(su, "user_profiles", {"user_id": victim})
    insert(su, "risk_settings", risk_row(victim))
    keys = {"users": "id", "user_profiles": "user_id", "risk_settings": "user_id"}

    def rows() -> dict[str, list[object]]:
        return {
            t: [r[0] for r in su.execute(sql.SQL("SELECT to_jsonb(t) FROM {} t WHERE {} = %s").format(
                sql.Identifier(t), sql.Identifier(k)), (victim,)).fetchall()]
            for t, k in keys.items()
        }  # fmt: skip

    before = rows()
    members = su.execute("SELECT role_name, user_id FROM club_members ORDER BY role_name").fetchall()
    outcome = attempt(carol, statement, {"bob": victim}, rollback="club_members" in statement)
    if statement.startswith("INSERT"):
        assert_denied(outcome, f"{statement} as the admin")
    else:
        assert_no_effect(outcome, f"{statement} as the admin")
    assert rows() == before
    assert su.execute("SELECT role_name, user_id FROM club_members ORDER BY role_name").fetchall() == members


@pytest.mark.parametrize("table", AUDIT)
def test_the_admin_cannot_forge_or_rewrite_audit_rows(club: Club, su: psycopg.Connection, carol: psycopg.Connection,
                                                      table: str) -> None:  # fmt: skip
    """The admin reads every member's audit rows; as a trader she appends her own; bob's she neither writes in
    his name (nor in nobody's) nor changes: retention is sf_admin_purge_audit's alone."""
    bobs = club.bob.keys(table)
    before = snapshot(su, table, bobs)
    for values in (new_row(table, club.bob), new_row(table, club.bob) | {"user_id": None}):
        try:
            with carol.transaction(force_rollback=True), carol.transaction():
                insert(carol, table, values)
            outcome: object = "the row went in"
        except psycopg.Error as exc:
            outcome = exc
        assert_denied(outcome, f"INSERT INTO {table} (user_id={values['user_id']}) as the admin")
    for statement in (
        sql.SQL("UPDATE {} SET {} WHERE id = ANY(%s)").format(sql.Identifier(table), sql.SQL(MUTATIONS[table])),
        sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(sql.Identifier(table)),
    ):
        outcome = attempt(carol, statement, (bobs,), rollback=True)
        assert_no_effect(outcome, f"{statement.as_string(carol)} as the admin")
    assert snapshot(su, table, bobs) == before


# --- the applicant ------------------------------------------------------------------------------------------
def test_the_applicant_files_a_sign_up_request_and_reads_nothing(club: Club, su: psycopg.Connection) -> None:
    request_signup(club, "hugo")
    assert su.execute("SELECT status FROM waitlist WHERE username = 'hugo'").fetchone() == ("waiting",)
    with club.connect_applicant() as applicant:
        for statement in ("SELECT * FROM users", "SELECT * FROM waitlist", "SELECT * FROM club_members",
                          "SELECT * FROM strategies", "SELECT sf_uid()",
                          "UPDATE waitlist SET status = 'approved' WHERE username = 'hugo'"):  # fmt: skip
            assert_denied(fetch(applicant, statement), f"{statement} as the applicant")
    assert su.execute("SELECT status FROM waitlist WHERE username = 'hugo'").fetchone() == ("waiting",)


@pytest.mark.parametrize(
    ("username", "email", "verifier", "sqlstate"),
    [
        ("ALICE", "new-alice@example.com", "ok", "23505"),  # a member's name in other letters
        ("ivan", "alice@example.com", "ok", "23505"),  # a member's email
        ('ivan"; DROP ROLE x; --', "ivan@example.com", "ok", "22023"),  # becomes a role name: letters only
        ("ivan", "not an email", "ok", "22023"),
        ("ivan", "ivan@example.com", "plain password", "22023"),  # a verifier, never a password
    ],
    ids=["taken-username", "taken-email", "quoted-username", "bad-email", "no-verifier"],
)
def test_the_sign_up_refuses_what_it_must(club: Club, username: str, email: str, verifier: str,
                                          sqlstate: str) -> None:  # fmt: skip
    with club.connect_applicant() as applicant:
        if verifier == "ok":
            verifier = scram_verifier(applicant, PASSWORD, trader_role(club.database, username))
        outcome = attempt(applicant, "SELECT sf_request_signup('Ivan', %s, %s, %s)", (email, username, verifier))
        assert isinstance(outcome, psycopg.Error) and outcome.sqlstate == sqlstate, describe(outcome)
