"""A trader's pre-trade risk limits (the ``risk_settings`` row): read them, change them with validation.

`RiskLimits` is the same value the risk chain receives (core.risk.context), so what the settings
screen shows and what the ledger enforces cannot drift apart. Loading mirrors the ledger: a user
with no row, or with the row switched off (``is_active`` false), is held to the defaults for the
starting balance, and those defaults are what `load_risk_limits` returns. Saving switches the row
(back) on, because a trader who saves limits expects them to apply.

Every bound of the table's CHECK constraints (and of its column types) is checked here first, so
the trader reads "Max drawdown must be between 0 and 100 %" instead of a constraint name, and a
refused save never touches the database.
"""

from __future__ import annotations

import uuid
from dataclasses import fields
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from core.accounts.defaults import default_risk_settings
from core.accounts.errors import InvalidInput, UnknownUser
from core.db.models import RiskSettings, User
from core.domain.risk_limits import RiskLimits

__all__ = ["InvalidRiskLimits", "RiskLimits", "load_risk_limits", "save_risk_limits", "validate_risk_limits"]

# Column types: Money is NUMERIC(20, 6) and percentages NUMERIC(5, 2); INTEGER is 32-bit.
MAX_MONEY = Decimal("1e14") - Decimal("0.000001")
MONEY_PLACES = 6
PERCENT_PLACES = 2
MAX_INT = 2**31 - 1

LABELS = {
    "daily_loss_limit": "Daily loss limit",
    "max_position_size": "Max position size",
    "max_order_value": "Max order value",
    "max_open_orders": "Max open orders",
    "max_drawdown_percent": "Max drawdown",
    "max_risk_per_trade": "Max risk per trade",
    "duplicate_window_seconds": "Duplicate-order window",
    "allow_fractional": "Allow fractional shares",
}


class InvalidRiskLimits(InvalidInput):
    """One or more limits are out of bounds. ``problems`` maps each RiskLimits field to its message, so a
    form can mark the fields; str() is all messages, one per line, ready for the trader."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("\n".join(self.problems.values()))


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _places(d: Decimal) -> int:
    exponent = d.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _money_problem(label: str, value: object, *, allow_zero: bool) -> str | None:
    d = _decimal(value)
    if d is None:
        return f"{label} must be a number."
    if d < 0 or (d == 0 and not allow_zero):
        return f"{label} must be {'zero or more' if allow_zero else 'more than $0'}."
    if d > MAX_MONEY:
        return f"{label} is too large."
    if _places(d) > MONEY_PLACES:
        return f"{label} can have at most {MONEY_PLACES} decimal places."
    return None


def _percent_problem(label: str, value: object) -> str | None:
    d = _decimal(value)
    if d is None or not (0 < d <= 100):
        return f"{label} must be between 0 and 100 % (more than 0)."
    if _places(d) > PERCENT_PLACES:
        return f"{label} can have at most {PERCENT_PLACES} decimal places."
    return None


def _int_problem(label: str, value: object, *, minimum: int, unit: str) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{label} must be a whole number."
    if value < minimum:
        return f"{label} must be at least {minimum}{unit}."
    if value > MAX_INT:
        return f"{label} is too large."
    return None


def validate_risk_limits(limits: RiskLimits) -> RiskLimits:
    """The limits with every number as a Decimal/int, or InvalidRiskLimits naming each bad field."""
    checks = {
        "daily_loss_limit": _money_problem(LABELS["daily_loss_limit"], limits.daily_loss_limit, allow_zero=True),
        "max_position_size": _money_problem(LABELS["max_position_size"], limits.max_position_size, allow_zero=False),
        "max_order_value": _money_problem(LABELS["max_order_value"], limits.max_order_value, allow_zero=False),
        "max_open_orders": _int_problem(LABELS["max_open_orders"], limits.max_open_orders, minimum=1, unit=""),
        "max_drawdown_percent": _percent_problem(LABELS["max_drawdown_percent"], limits.max_drawdown_percent),
        "max_risk_per_trade": _percent_problem(LABELS["max_risk_per_trade"], limits.max_risk_per_trade),
        "duplicate_window_seconds": _int_problem(
            LABELS["duplicate_window_seconds"], limits.duplicate_window_seconds, minimum=0, unit=" seconds"
        ),
        "allow_fractional": None
        if isinstance(limits.allow_fractional, bool)
        else f"{LABELS['allow_fractional']} must be yes or no.",
    }
    problems = {name: message for name, message in checks.items() if message is not None}
    if problems:
        raise InvalidRiskLimits(problems)
    money = ("daily_loss_limit", "max_position_size", "max_order_value", "max_drawdown_percent", "max_risk_per_trade")
    values = {f.name: getattr(limits, f.name) for f in fields(RiskLimits)}
    values.update({name: _decimal(values[name]) for name in money})
    return RiskLimits(**values)


def _from_row(row: RiskSettings) -> RiskLimits:
    return RiskLimits(**{f.name: getattr(row, f.name) for f in fields(RiskLimits)})


def _starting_balance(session: Session, user_id: uuid.UUID) -> Decimal:
    balance = session.scalar(select(User.starting_balance).where(User.id == user_id))
    if balance is None:
        raise UnknownUser("No account with that id exists.")
    return balance


def load_risk_limits(sessions: sessionmaker[Session], user_id: uuid.UUID) -> RiskLimits:
    """The limits the ledger enforces for this user (their active row, else the defaults for their balance)."""
    with sessions() as session:
        row = session.scalar(select(RiskSettings).where(RiskSettings.user_id == user_id))
        if row is not None and row.is_active:
            return _from_row(row)
        return RiskLimits(**default_risk_settings(_starting_balance(session, user_id)))


def save_risk_limits(sessions: sessionmaker[Session], user_id: uuid.UUID, limits: RiskLimits) -> RiskLimits:
    """Validate, then write this user's row only (created if missing, switched on) and return it as stored."""
    values = {f.name: getattr(validate_risk_limits(limits), f.name) for f in fields(RiskLimits)}
    with sessions.begin() as session:
        _starting_balance(session, user_id)  # UnknownUser rather than a foreign-key error
        stmt = insert(RiskSettings).values(user_id=user_id, is_active=True, **values)
        upsert = stmt.on_conflict_do_update(
            index_elements=[RiskSettings.user_id],
            set_={**values, "is_active": True, "updated_at": func.now()},
        ).returning(*(getattr(RiskSettings, name) for name in values))
        stored = session.execute(upsert).one()
    return RiskLimits(*stored)
