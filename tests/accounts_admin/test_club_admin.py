"""The club admin's operations (core.accounts.admin.ClubAdmin) against a real PostgreSQL at migration 0012's head:
in a club, through the admin's own login role (row-level security and the sf_admin_* functions decide what it may
do), and on a solo database as its owner."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import select, text

from core.accounts import AccountService, DuplicateAccount, InvalidCredentials, InvalidInput, WeakPassword
from core.accounts.admin import (
    CLUB_ROLE_PASSWORD,
    AdminError,
    BalanceResetRefused,
    NotClubAdmin,
    RequestDecided,
    UnknownMember,
    UnknownRequest,
)
from core.db.club_roles import group_role, trader_role
from core.db.models import Order, Position, RiskSettings, SystemLog, User, UserProfile, WaitlistEntry
from core.domain.clock import utc_now
from tests.accounts_admin.club import PASSWORD, verifier_matches

OTHER_PASSWORD = "An0ther-Secret-Phrase"


def user_row(db, username: str) -> User:
    with db.session_factory() as s:
        return s.scalar(select(User).where(User.username == username))


# --- sign-up requests ---
def test_the_admin_approves_a_request_and_the_applicant_logs_in_as_their_own_role(club, db):
    admin = club.make_admin()
    request_id = club.request_signup("carol", OTHER_PASSWORD, name="Carol Jones")
    [waiting] = admin.list_requests()
    assert (waiting.id, waiting.name, waiting.username, waiting.status) == (
        request_id, "Carol Jones", "carol", "waiting")  # fmt: skip

    member = admin.approve(request_id)

    assert (member.username, member.role, member.active) == ("carol", "trader", True)
    assert member.virtual_balance == Decimal("100000")
    with db.session_factory() as s:
        assert s.get(User, member.id).password_hash == CLUB_ROLE_PASSWORD  # the password is PostgreSQL's
        assert s.scalar(select(UserProfile.id).where(UserProfile.user_id == member.id)) is not None
        assert s.scalar(select(RiskSettings.max_position_size).where(RiskSettings.user_id == member.id)) == 20000
        entry = s.get(WaitlistEntry, request_id)
        assert (entry.status, entry.user_id) == ("approved", member.id) and entry.decided_at is not None
    verifier = club.stored_verifier("carol")
    assert verifier is not None and verifier_matches(verifier, OTHER_PASSWORD)
    assert club.role_flags("carol") == (True, [group_role(club.name, "trader")])
    with club.connect_as_member("carol") as conn:
        assert conn.execute("SELECT sf_uid()").fetchone() == (member.id,)
    assert admin.list_requests() == []
    assert [r.status for r in admin.list_requests(include_decided=True)] == ["approved"]


def test_an_approved_club_member_cannot_log_in_through_the_solo_path(club, db):
    admin = club.make_admin()
    admin.approve(club.request_signup("carol", OTHER_PASSWORD))
    with pytest.raises(InvalidCredentials):
        AccountService(db.session_factory).log_in("carol", OTHER_PASSWORD)


def test_a_request_is_decided_once(club):
    admin = club.make_admin()
    approved, rejected = club.request_signup("carol"), club.request_signup("dave")
    admin.approve(approved)
    assert admin.reject(rejected).status == "rejected"
    with pytest.raises(RequestDecided, match=r"carol@example\.com was already approved"):
        admin.approve(approved)
    with pytest.raises(RequestDecided, match="already rejected"):
        admin.approve(rejected)
    with pytest.raises(UnknownRequest):
        admin.reject(uuid.uuid4())
    assert [u.username for u in admin.list_users()] == ["boss", "carol"]


def test_a_rejected_request_creates_no_account_and_no_role(club, db):
    admin = club.make_admin()
    admin.reject(club.request_signup("dave"))
    assert user_row(db, "dave") is None
    assert club.stored_verifier("dave") is None


def test_approving_a_request_whose_username_was_taken_meanwhile_leaves_it_waiting(club, db):
    admin = club.make_admin()
    request_id = club.request_signup("carol")
    club.owner.add("other@example.com", "Carol", PASSWORD)  # the name went to someone else in the meantime
    with pytest.raises(DuplicateAccount, match="username 'carol' is already taken"):
        admin.approve(request_id)
    assert [r.id for r in admin.list_requests()] == [request_id]


def test_a_request_without_username_or_verifier_cannot_be_approved(club, db):
    admin = club.make_admin()
    with db.session_factory() as s:  # a seed-003 waitlist row: a name and an email only
        s.add(WaitlistEntry(name="Old Timer", email="old@example.com"))
        s.commit()
        request_id = s.scalar(select(WaitlistEntry.id))
    with pytest.raises(AdminError, match="not sent from the app"):
        admin.approve(request_id)


# --- members ---
def test_disable_ends_the_members_connections_and_refuses_their_login_until_enabled(club, db):
    admin = club.make_admin()
    carol = admin.approve(club.request_signup("carol"))
    conn = club.connect_as_member("carol")
    try:
        assert admin.disable("Carol").active is False
        assert club.role_flags("carol")[0] is False
        assert user_row(db, "carol").is_active is False
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    finally:
        conn.close()
    with pytest.raises(psycopg.OperationalError):
        club.connect_as_member("carol")
    assert admin.enable(carol.id).active is True
    assert club.role_flags("carol")[0] is True
    with club.connect_as_member("carol") as again:
        assert again.execute("SELECT sf_uid()").fetchone() == (carol.id,)


def test_the_only_active_admin_cannot_be_disabled(club):
    admin = club.make_admin()
    with pytest.raises(AdminError, match="only active admin"):
        admin.disable("boss")
    club.owner.add("second@example.com", "second", PASSWORD, "admin")
    assert admin.disable("second").active is False


def test_reset_balance_starts_a_flat_account_over(club, db):
    admin = club.make_admin()
    carol = admin.approve(club.request_signup("carol"))
    with db.session_factory() as s:
        s.execute(
            text("UPDATE users SET virtual_balance = 91000, realized_pnl = -8000, fees_paid = 1000 WHERE id = :id"),
            {"id": carol.id},
        )
        s.commit()
    assert admin.reset_balance("carol", Decimal("25000.50")).virtual_balance == Decimal("25000.50")
    user = user_row(db, "carol")
    assert (user.starting_balance, user.realized_pnl, user.fees_paid, user.reserved_balance) == (
        Decimal("25000.50"), 0, 0, 0)  # fmt: skip


def test_reset_balance_is_refused_while_orders_or_positions_are_open(club, db):
    admin = club.make_admin()
    carol = admin.approve(club.request_signup("carol"))
    with db.session_factory() as s:
        s.add(Position(user_id=carol.id, symbol="AAPL", quantity=Decimal("5"), cost_basis=Decimal("500"),
                       status="OPEN"))  # fmt: skip
        s.commit()
    with pytest.raises(BalanceResetRefused, match="holds positions"):
        admin.reset_balance("carol", Decimal("50000"))
    with db.session_factory() as s:
        s.execute(text("DELETE FROM positions"))
        s.add(Order(user_id=carol.id, client_order_id="c-1", symbol="AAPL", side="buy", order_type="market",
                    quantity=Decimal("1"), status="accepted"))  # fmt: skip
        s.commit()
    with pytest.raises(BalanceResetRefused, match="open orders"):
        admin.reset_balance("carol", Decimal("50000"))
    assert user_row(db, "carol").virtual_balance == Decimal("100000")


@pytest.mark.parametrize("amount", ["0", "-5", "1000000000001", "1.0000001", "NaN"])
def test_reset_balance_refuses_an_amount_out_of_range(club, amount):
    admin = club.make_admin()
    with pytest.raises(InvalidInput):
        admin.reset_balance("boss", Decimal(amount))


def test_members_are_found_by_username_in_any_case_or_by_id_and_unknown_ones_are_named(club):
    admin = club.make_admin()
    boss = admin.list_users()[0]
    assert admin.enable(boss.id).username == admin.enable("BOSS").username == "boss"
    for ref in ("nobody", uuid.uuid4(), "bo\x00ss", " "):
        with pytest.raises(UnknownMember, match="No user"):
            admin.disable(ref)


# --- who may ---
def test_a_traders_role_is_not_the_admin(club):
    admin = club.make_admin()
    carol = admin.approve(club.request_signup("carol"))
    as_carol = club.admin_as("carol")
    assert [m.username for m in as_carol.list_users()] == ["carol"]  # row-level security: her own row only
    with pytest.raises(UnknownMember):
        as_carol.disable("boss")  # she cannot even see the admin
    with pytest.raises(NotClubAdmin):
        as_carol.reset_balance(carol.id, Decimal("1000000"))
    with pytest.raises(NotClubAdmin):
        as_carol.add("eve@example.com", "eve", PASSWORD)


# --- add ---
def test_add_on_a_solo_database_makes_an_account_that_logs_in_through_the_app(club, db, accounts):
    accounts.sign_up("solo@example.com", "solo", PASSWORD)  # the first user: the solo database's admin
    member = club.owner.add(" Eve@Example.com ", "eve", OTHER_PASSWORD, "investor")
    assert (member.email, member.role) == ("eve@example.com", "investor")
    assert accounts.log_in("eve", OTHER_PASSWORD).user.id == member.id
    verifier = club.stored_verifier("eve")  # and a club login, harmless here
    assert verifier is not None and verifier_matches(verifier, OTHER_PASSWORD)


def test_an_admin_added_by_the_admin_joins_the_admin_group(club):
    admin = club.make_admin()
    admin.add("second@example.com", "second", OTHER_PASSWORD, "admin")
    assert club.role_flags("second") == (True, sorted([group_role(club.name, "admin"),
                                                       group_role(club.name, "trader")]))  # fmt: skip
    assert [u.role for u in club.admin_as("second").list_users()] == ["admin", "admin"]


@pytest.mark.parametrize(
    ("email", "username", "password", "role", "error"),
    [
        ("not-an-email", "eve", PASSWORD, "trader", InvalidInput),
        ("eve@example.com\n", "e\x00e", PASSWORD, "trader", InvalidInput),
        ("eve@example.com", "ev", PASSWORD, "trader", InvalidInput),
        ("eve@example.com", "eve", "short1", "trader", WeakPassword),
        ("eve@example.com", "eve", "Tr4ding\x00Pass-2026", "trader", InvalidInput),
        ("eve@example.com", "eve", PASSWORD, "owner", InvalidInput),
        ("boss@example.com", "eve", PASSWORD, "trader", DuplicateAccount),
        ("eve@example.com", "Boss", PASSWORD, "trader", DuplicateAccount),
    ],
)
def test_add_refuses_bad_input_and_taken_names(club, db, email, username, password, role, error):
    club.make_admin()
    with pytest.raises(error):
        club.owner.add(email, username, password, role)
    assert [u.username for u in club.owner.list_users()] == ["boss"]


# --- the audit trail ---
def test_purge_audit_deletes_old_rows_only_and_refuses_the_last_hour(club, db):
    admin = club.make_admin()
    now = utc_now()
    with db.session_factory() as s:
        for age in (timedelta(days=40), timedelta(days=31), timedelta(days=1)):
            s.add(SystemLog(component="test", log_level="INFO", message=f"{age}", created_at=now - age))
        s.commit()
    assert admin.purge_audit(now - timedelta(days=30)) == 2
    with db.session_factory() as s:
        kept = s.scalars(select(SystemLog.message).where(SystemLog.component == "test")).all()
    assert kept == [str(timedelta(days=1))]
    with db.session_factory() as s:  # the purge itself is on the record, as the admin's role's act
        record = s.scalar(select(SystemLog.data).where(SystemLog.message == "audit trail purged"))
    assert record is not None and (record["rows"], record["by"]) == (2, trader_role(club.name, "boss"))
    with pytest.raises(InvalidInput, match="last hour"):
        admin.purge_audit(now - timedelta(minutes=30))
