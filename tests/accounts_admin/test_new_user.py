"""insert_user_rows writes exactly the account sign-up writes, so an approved club member starts like a solo one."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.accounts import defaults
from core.accounts.new_user import insert_user_rows
from core.db.models import RiskSettings, User, UserProfile

PASSWORD = "Tr4ding-Pass-2026"
RISK_COLUMNS = tuple(defaults.default_risk_settings(Decimal("1")))


def account_rows(session, user_id):
    user = session.get(User, user_id)
    profile = session.scalar(select(UserProfile).where(UserProfile.user_id == user_id))
    risk = session.scalar(select(RiskSettings).where(RiskSettings.user_id == user_id))
    return user, profile, risk


def test_the_rows_are_those_sign_up_writes(accounts, db):
    accounts.sign_up("first@example.com", "first", PASSWORD)  # the admin; the next one is a trader
    signed_up = accounts.sign_up("second@example.com", "second", PASSWORD)
    with db.session_factory() as s:
        inserted = insert_user_rows(
            s,
            email="third@example.com",
            username="third",
            password_hash="!club-role",
            role="trader",
            balance=defaults.DEFAULT_STARTING_BALANCE,
        )
        s.commit()
        inserted_id = inserted.id
    with db.session_factory() as s:
        want_user, want_profile, want_risk = account_rows(s, signed_up.id)
        got_user, got_profile, got_risk = account_rows(s, inserted_id)
        for column in ("role", "is_active", "virtual_balance", "reserved_balance", "starting_balance",
                       "realized_pnl", "fees_paid", "realized_day", "realized_day_pnl", "auth_provider"):  # fmt: skip
            assert getattr(got_user, column) == getattr(want_user, column), column
        assert (got_profile.profile, got_profile.risk_profile, got_profile.site_prefs) == (
            want_profile.profile, want_profile.risk_profile, want_profile.site_prefs,
        )  # fmt: skip
        for column in (*RISK_COLUMNS, "is_active"):
            assert getattr(got_risk, column) == getattr(want_risk, column), column
        assert got_user.password_hash == "!club-role"


def test_a_balance_other_than_the_default_scales_the_limits(db):
    with db.session_factory() as s:
        user = insert_user_rows(
            s, email="small@example.com", username="small", password_hash="x", role="admin", balance=Decimal("5000")
        )
        s.commit()
        user, profile, risk = account_rows(s, user.id)
        assert (user.role, user.virtual_balance, user.starting_balance) == ("admin", Decimal("5000"), Decimal("5000"))
        assert profile.profile["account_balance"] == "5000"
        assert risk.daily_loss_limit == Decimal("150")
        assert risk.max_position_size == Decimal("1000")


def test_a_taken_username_fails_at_the_flush_and_leaves_nothing_once_rolled_back(accounts, db):
    accounts.sign_up("alice@example.com", "Alice", PASSWORD)
    with db.session_factory() as s:
        with pytest.raises(IntegrityError):
            insert_user_rows(
                s, email="other@example.com", username="alice", password_hash="x", role="trader", balance=Decimal("1")
            )
        s.rollback()
        assert s.scalar(select(User.id).where(User.email == "other@example.com")) is None
