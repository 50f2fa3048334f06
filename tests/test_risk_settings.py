"""Risk limits on a real PostgreSQL: defaults for a new account, validated saves, one user's row only."""

from __future__ import annotations

import dataclasses
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from core.accounts import AccountService
from core.accounts.errors import UnknownUser
from core.accounts.risk_settings import InvalidRiskLimits, RiskLimits, load_risk_limits, save_risk_limits
from core.db.database import Database
from core.db.models import RiskSettings

PASSWORD = "Tr4ding-Pass-2026"

DEFAULTS = RiskLimits(
    daily_loss_limit=Decimal("3000"),
    max_position_size=Decimal("20000"),
    max_order_value=Decimal("25000"),
    max_open_orders=20,
    max_drawdown_percent=Decimal("20"),
    max_risk_per_trade=Decimal("2"),
    duplicate_window_seconds=5,
    allow_fractional=True,
)

CHANGED = RiskLimits(
    daily_loss_limit=Decimal("1500.50"),
    max_position_size=Decimal("10000"),
    max_order_value=Decimal("7500.25"),
    max_open_orders=5,
    max_drawdown_percent=Decimal("12.5"),
    max_risk_per_trade=Decimal("1.25"),
    duplicate_window_seconds=0,
    allow_fractional=False,
)


def row(db: Database, user_id: uuid.UUID) -> RiskLimits:
    with db.session_factory() as s:
        r = s.scalar(select(RiskSettings).where(RiskSettings.user_id == user_id))
        return RiskLimits(**{f.name: getattr(r, f.name) for f in dataclasses.fields(RiskLimits)})


def test_new_account_loads_the_defaults(accounts: AccountService, db: Database) -> None:
    user = accounts.sign_up("ada@example.com", "ada", PASSWORD)
    assert load_risk_limits(db.session_factory, user.id) == DEFAULTS


def test_save_valid_limits(accounts: AccountService, db: Database) -> None:
    user = accounts.sign_up("ada@example.com", "ada", PASSWORD)
    stored = save_risk_limits(db.session_factory, user.id, CHANGED)
    assert stored == CHANGED
    assert load_risk_limits(db.session_factory, user.id) == CHANGED
    assert row(db, user.id) == CHANGED


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_drawdown_percent", Decimal("0"), "Max drawdown must be between 0 and 100 %"),
        ("max_drawdown_percent", Decimal("100.01"), "Max drawdown must be between 0 and 100 %"),
        ("max_risk_per_trade", Decimal("150"), "Max risk per trade must be between 0 and 100 %"),
        ("max_risk_per_trade", Decimal("1.255"), "Max risk per trade can have at most 2 decimal places"),
        ("daily_loss_limit", Decimal("-1"), "Daily loss limit must be zero or more"),
        ("max_position_size", Decimal("0"), "Max position size must be more than \\$0"),
        ("max_order_value", Decimal("NaN"), "Max order value must be a number"),
        ("max_order_value", Decimal("1e15"), "Max order value is too large"),
        ("max_open_orders", 0, "Max open orders must be at least 1"),
        ("max_open_orders", 2.5, "Max open orders must be a whole number"),
        ("duplicate_window_seconds", -1, "Duplicate-order window must be at least 0 seconds"),
    ],
)
def test_invalid_limits_are_refused_and_the_row_is_unchanged(
    accounts: AccountService, db: Database, field: str, value: object, message: str
) -> None:
    user = accounts.sign_up("ada@example.com", "ada", PASSWORD)
    bad = dataclasses.replace(CHANGED, **{field: value})
    with pytest.raises(InvalidRiskLimits, match=message) as refused:
        save_risk_limits(db.session_factory, user.id, bad)
    assert list(refused.value.problems) == [field]
    assert row(db, user.id) == DEFAULTS


def test_every_problem_is_reported_at_once(accounts: AccountService, db: Database) -> None:
    user = accounts.sign_up("ada@example.com", "ada", PASSWORD)
    bad = dataclasses.replace(CHANGED, max_open_orders=0, max_drawdown_percent=Decimal("0"))
    with pytest.raises(InvalidRiskLimits) as refused:
        save_risk_limits(db.session_factory, user.id, bad)
    assert set(refused.value.problems) == {"max_open_orders", "max_drawdown_percent"}
    assert len(str(refused.value).splitlines()) == 2


def test_another_users_row_is_untouched(accounts: AccountService, db: Database) -> None:
    ada = accounts.sign_up("ada@example.com", "ada", PASSWORD)
    bob = accounts.sign_up("bob@example.com", "bob", PASSWORD)
    save_risk_limits(db.session_factory, ada.id, CHANGED)
    assert row(db, bob.id) == DEFAULTS
    assert load_risk_limits(db.session_factory, bob.id) == DEFAULTS


def test_switched_off_row_loads_the_enforced_defaults_and_saving_switches_it_on(
    accounts: AccountService, db: Database
) -> None:
    user = accounts.sign_up("ada@example.com", "ada", PASSWORD)
    save_risk_limits(db.session_factory, user.id, CHANGED)
    with db.session_factory.begin() as s:
        s.execute(update(RiskSettings).where(RiskSettings.user_id == user.id).values(is_active=False))
    assert load_risk_limits(db.session_factory, user.id) == DEFAULTS  # what the ledger applies
    save_risk_limits(db.session_factory, user.id, CHANGED)
    assert load_risk_limits(db.session_factory, user.id) == CHANGED


def test_missing_row_is_created_on_save(accounts: AccountService, db: Database) -> None:
    user = accounts.sign_up("ada@example.com", "ada", PASSWORD)
    with db.session_factory.begin() as s:
        s.query(RiskSettings).filter_by(user_id=user.id).delete()
    assert load_risk_limits(db.session_factory, user.id) == DEFAULTS
    save_risk_limits(db.session_factory, user.id, CHANGED)
    assert row(db, user.id) == CHANGED


def test_unknown_user(db: Database) -> None:
    with pytest.raises(UnknownUser):
        load_risk_limits(db.session_factory, uuid.uuid4())
    with pytest.raises(UnknownUser):
        save_risk_limits(db.session_factory, uuid.uuid4(), CHANGED)
