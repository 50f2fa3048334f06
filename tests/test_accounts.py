"""Accounts against a real PostgreSQL: sign-up, log-in, remembered sessions, password storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from core.accounts import (
    AccountService,
    DuplicateAccount,
    InvalidCredentials,
    InvalidInput,
    InvalidLoginSession,
    LoginSessionExpired,
    WeakPassword,
    WrongPassword,
)
from core.accounts.service import token_hash
from core.db.models import LoginSession, RiskSettings, User, UserProfile

PASSWORD = "Tr4ding-Pass-2026"


def count(db, model) -> int:
    with db.session_factory() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_sign_up_creates_user_with_virtual_balance_profile_and_risk_settings(accounts, db):
    info = accounts.sign_up("Alice@Example.com ", "alice", PASSWORD)
    assert info.email == "alice@example.com"
    assert info.virtual_balance == Decimal("100000")
    with db.session_factory() as s:
        user = s.get(User, info.id)
        assert user.starting_balance == Decimal("100000")
        assert user.reserved_balance == 0
        profile = s.scalar(select(UserProfile).where(UserProfile.user_id == info.id))
        assert profile.risk_profile["max_risk_per_trade_pct"] == 2
        risk = s.scalar(select(RiskSettings).where(RiskSettings.user_id == info.id))
        assert risk.max_position_size == Decimal("20000")
        assert risk.daily_loss_limit == Decimal("3000")


def test_first_user_is_admin_and_later_users_are_traders(accounts):
    assert accounts.sign_up("a@example.com", "first", PASSWORD).role == "admin"
    assert accounts.sign_up("b@example.com", "second", PASSWORD).role == "trader"


def test_password_is_never_stored_in_clear(accounts, db):
    info = accounts.sign_up("carol@example.com", "carol", PASSWORD)
    accounts.log_in("carol", PASSWORD, remember=True)
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT u::text FROM users u WHERE id = :id"), {"id": info.id}).scalar_one()
        sessions = conn.execute(text("SELECT s::text FROM login_sessions s")).scalars().all()
        stored_hash = conn.execute(text("SELECT password_hash FROM users WHERE id = :id"), {"id": info.id}).scalar()
    assert PASSWORD not in row
    assert all(PASSWORD not in s for s in sessions)
    assert stored_hash.startswith("$argon2id$")


def test_log_in_by_email_or_username_case_insensitively(accounts):
    accounts.sign_up("dave@example.com", "Dave", PASSWORD)
    assert accounts.log_in("DAVE@example.com", PASSWORD).user.username == "Dave"
    assert accounts.log_in("dave", PASSWORD).user.email == "dave@example.com"


def test_wrong_password_is_refused_and_writes_no_session(accounts, db):
    accounts.sign_up("erin@example.com", "erin", PASSWORD)
    with pytest.raises(InvalidCredentials, match=r"^Wrong password or unknown user\.$"):
        accounts.log_in("erin", PASSWORD + "x")
    assert count(db, LoginSession) == 0
    with db.session_factory() as s:
        assert s.scalar(select(User.last_login_at)) is None


def test_unknown_user_is_refused(accounts):
    with pytest.raises(InvalidCredentials, match=r"^Wrong password or unknown user\.$"):
        accounts.log_in("nobody@example.com", PASSWORD)


def test_duplicate_email_is_refused_and_nothing_is_written(accounts, db):
    accounts.sign_up("frank@example.com", "frank", PASSWORD)
    before = (count(db, User), count(db, UserProfile), count(db, RiskSettings))
    with pytest.raises(DuplicateAccount, match="email"):
        accounts.sign_up("FRANK@example.com", "frank2", PASSWORD)
    with pytest.raises(DuplicateAccount, match="username"):
        accounts.sign_up("other@example.com", "FRANK", PASSWORD)
    assert (count(db, User), count(db, UserProfile), count(db, RiskSettings)) == before


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Sh0rt", "at least 10"),
        ("onlyletterspassword", "letters and digits"),
        ("1234567890123", "letters and digits"),
        ("gina-secret-99", "username or email"),
    ],
)
def test_weak_passwords_are_refused_with_the_rule_broken(accounts, db, password, reason):
    with pytest.raises(WeakPassword, match=reason):
        accounts.sign_up("gina@example.com", "gina", password)
    assert count(db, User) == 0


@pytest.mark.parametrize(("email", "username"), [("not-an-email", "henry"), ("h@example.com", "h!")])
def test_malformed_email_or_username_is_refused(accounts, email, username):
    with pytest.raises(InvalidInput):
        accounts.sign_up(email, username, PASSWORD)


def test_remembered_session_resumes_and_stores_only_the_token_hash(accounts, db):
    accounts.sign_up("ivan@example.com", "ivan", PASSWORD)
    result = accounts.log_in("ivan", PASSWORD, remember=True)
    assert result.expires_at - datetime.now(UTC) > timedelta(days=29)
    assert accounts.resume(result.token).username == "ivan"
    with db.session_factory() as s:
        stored = s.scalars(select(LoginSession.token_hash)).all()
    assert stored == [token_hash(result.token)]
    assert result.token not in stored[0]


def test_expired_session_is_refused(db):
    now = [datetime(2026, 1, 5, 12, 0, tzinfo=UTC)]
    accounts = AccountService(db.session_factory, clock=lambda: now[0])
    accounts.sign_up("judy@example.com", "judy", PASSWORD)
    short = accounts.log_in("judy", PASSWORD, remember=False)
    remembered = accounts.log_in("judy", PASSWORD, remember=True)
    now[0] += timedelta(hours=13)
    with pytest.raises(LoginSessionExpired):
        accounts.resume(short.token)
    assert accounts.resume(remembered.token).username == "judy"
    now[0] += timedelta(days=30)
    with pytest.raises(LoginSessionExpired):
        accounts.resume(remembered.token)


def test_log_out_revokes_the_session(accounts):
    accounts.sign_up("kate@example.com", "kate", PASSWORD)
    result = accounts.log_in("kate", PASSWORD, remember=True)
    accounts.log_out(result.token)
    with pytest.raises(InvalidLoginSession):
        accounts.resume(result.token)
    with pytest.raises(InvalidLoginSession):
        accounts.resume("a-token-that-was-never-issued")


def test_change_password_requires_the_old_one_and_revokes_sessions(accounts):
    info = accounts.sign_up("leo@example.com", "leo", PASSWORD)
    session = accounts.log_in("leo", PASSWORD, remember=True)
    with pytest.raises(WrongPassword):
        accounts.change_password(info.id, "not-the-password-1", "New-Pass-2027x")
    accounts.change_password(info.id, PASSWORD, "New-Pass-2027x")
    with pytest.raises(InvalidLoginSession):
        accounts.resume(session.token)
    with pytest.raises(InvalidCredentials):
        accounts.log_in("leo", PASSWORD)
    assert accounts.log_in("leo", "New-Pass-2027x").user.id == info.id


def test_concurrent_sign_ups_with_one_email_create_one_account(accounts, db):
    from concurrent.futures import ThreadPoolExecutor

    def attempt(i: int):
        try:
            return accounts.sign_up("race@example.com", f"racer{i}", PASSWORD)
        except DuplicateAccount as exc:
            return exc

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(attempt, range(4)))
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(winners) == 1
    assert all(isinstance(o, DuplicateAccount) for o in outcomes if o is not winners[0])
    assert count(db, User) == 1 and count(db, UserProfile) == 1
    assert winners[0].role == "admin"
