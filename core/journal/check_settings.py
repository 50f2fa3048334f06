"""Which behavioural checks run, with which thresholds and severities: user rules over risk profile over defaults.

A check is configured by, in order of precedence:

1. the user's ``user_rules`` row whose ``rule_code`` is the check's name: ``is_enabled`` false switches it off;
   ``parameters`` may set any of the check's thresholds and ``severity`` ("info", "warn", "critical");
2. the user's risk profile (``user_profiles.risk_profile``, seed 003 keys, shown in the PROFILE_KEYS column);
3. the defaults below.

| check                  | parameter (default)                          | profile key              | severity |
|------------------------|----------------------------------------------|--------------------------|----------|
| position_size          | max_pct (20: % of equity in one symbol)      | max_position_size_pct    | warn     |
| stop_loss_required     | required (false)                             | stop_loss_required       | warn     |
| revenge_trading        | window_minutes (30), same_symbol_only (false)| -                        | warn     |
| overtrading            | max_trades_per_day (10)                      | -                        | warn     |
| risk_reward            | min_ratio (1.5)                              | min_risk_reward_ratio    | warn     |
| risk_per_trade         | max_pct (2: % of equity lost at the stop)    | max_risk_per_trade_pct   | warn     |
| daily_loss             | max_pct (3: % of equity lost today)          | max_daily_loss_pct       | critical |
| open_positions         | max_open (10 symbols held)                   | max_open_positions       | info     |
| exit_without_plan      | -                                            | -                        | info     |
| held_loser_too_long    | factor (2), min_winners (3)                  | -                        | warn     |
| exceeded_planned_stop  | tolerance_pct (0.5)                          | -                        | warn     |
| held_past_planned_time | grace_minutes (0)                            | -                        | info     |

Reading is lenient (a bad stored value falls back to the next source, logged, so the order ticket never
fails over a typo in a rule); saving with ``save_check_rule`` is strict.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import User, UserRule
from core.journal._common import bounded_text, json_safe
from core.journal.check_types import (
    ALL_CHECKS,
    CRITICAL,
    DAILY_LOSS,
    EXCEEDED_PLANNED_STOP,
    EXIT_WITHOUT_PLAN,
    HELD_LOSER_TOO_LONG,
    HELD_PAST_PLANNED_TIME,
    INFO,
    OPEN_POSITIONS,
    OVERTRADING,
    POSITION_SIZE,
    REVENGE_TRADING,
    RISK_PER_TRADE,
    RISK_REWARD,
    SEVERITIES,
    STOP_LOSS_REQUIRED,
    WARN,
)
from core.journal.errors import InvalidJournalInput, NotFound

log = logging.getLogger(__name__)

EVALUATOR = "core.journal"  # user_rules.evaluator of the rules these checks read

# check -> (severity, {parameter: default})
DEFAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    POSITION_SIZE: (WARN, {"max_pct": Decimal(20)}),
    STOP_LOSS_REQUIRED: (WARN, {"required": False}),
    REVENGE_TRADING: (WARN, {"window_minutes": Decimal(30), "same_symbol_only": False}),
    OVERTRADING: (WARN, {"max_trades_per_day": 10}),
    RISK_REWARD: (WARN, {"min_ratio": Decimal("1.5")}),
    RISK_PER_TRADE: (WARN, {"max_pct": Decimal(2)}),
    DAILY_LOSS: (CRITICAL, {"max_pct": Decimal(3)}),
    OPEN_POSITIONS: (INFO, {"max_open": 10}),
    EXIT_WITHOUT_PLAN: (INFO, {}),
    HELD_LOSER_TOO_LONG: (WARN, {"factor": Decimal(2), "min_winners": 3}),
    EXCEEDED_PLANNED_STOP: (WARN, {"tolerance_pct": Decimal("0.5")}),
    HELD_PAST_PLANNED_TIME: (INFO, {"grace_minutes": Decimal(0)}),
}
PROFILE_KEYS: dict[tuple[str, str], str] = {
    (POSITION_SIZE, "max_pct"): "max_position_size_pct",
    (STOP_LOSS_REQUIRED, "required"): "stop_loss_required",
    (RISK_REWARD, "min_ratio"): "min_risk_reward_ratio",
    (RISK_PER_TRADE, "max_pct"): "max_risk_per_trade_pct",
    (DAILY_LOSS, "max_pct"): "max_daily_loss_pct",
    (OPEN_POSITIONS, "max_open"): "max_open_positions",
}


@dataclass(frozen=True)
class CheckRule:
    check_type: str
    enabled: bool
    severity: str
    params: Mapping[str, Any]  # typed: Decimal, int or bool, as in DEFAULTS

    def __getitem__(self, name: str) -> Any:
        return self.params[name]


@dataclass(frozen=True)
class CheckSettings:
    rules: Mapping[str, CheckRule]

    def rule(self, check_type: str) -> CheckRule:
        return self.rules[check_type]

    def enabled(self, check_type: str) -> bool:
        return self.rules[check_type].enabled


def _typed(default: Any, value: Any) -> Any:
    """``value`` as the type of ``default``; ValueError when it is not one."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError("must be true or false")
    if isinstance(value, bool):
        raise ValueError("must be a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("must be a number") from None
    if not number.is_finite() or number < 0:
        raise ValueError("must be a number of at least 0")
    if isinstance(default, int):
        if number != number.to_integral_value():
            raise ValueError("must be a whole number")
        return int(number)
    return number


def default_settings() -> CheckSettings:
    return resolve_check_settings(None, ())


def resolve_check_settings(risk_profile: Mapping[str, Any] | None, rules: Iterable[Mapping[str, Any]]) -> CheckSettings:
    """Settings from a risk profile and rule rows (mappings with ``rule_code``, ``is_enabled``, ``parameters``)."""
    profile = risk_profile or {}
    by_code = {r.get("rule_code"): r for r in rules if r.get("rule_code") in DEFAULTS}
    resolved: dict[str, CheckRule] = {}
    for check, (severity, defaults) in DEFAULTS.items():
        row = by_code.get(check) or {}
        given = row.get("parameters") or {}
        params: dict[str, Any] = {}
        for name, default in defaults.items():
            params[name] = default
            for source, mapping, key in (
                ("risk profile", profile, PROFILE_KEYS.get((check, name))),
                ("rule", given, name),
            ):
                if key is None or key not in mapping or mapping[key] is None:
                    continue
                try:
                    params[name] = _typed(default, mapping[key])
                except ValueError as exc:
                    log.warning("ignoring %s %s.%s=%r: %s", source, check, name, mapping[key], exc)
        chosen = given.get("severity", severity)
        if chosen not in SEVERITIES:
            log.warning("ignoring rule %s severity %r", check, chosen)
            chosen = severity
        enabled = bool(row.get("is_enabled", True))
        if check == STOP_LOSS_REQUIRED and not params["required"]:
            enabled = False  # nothing to check
        resolved[check] = CheckRule(check, enabled, chosen, params)
    return CheckSettings(resolved)


_SETTINGS_QUERY = text(
    """
SELECT (SELECT risk_profile FROM user_profiles WHERE user_id = :user_id) AS risk_profile,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('rule_code', rule_code, 'is_enabled', is_enabled,
                                                     'parameters', parameters)), '[]'::jsonb)
          FROM user_rules WHERE user_id = :user_id) AS rules
"""
)


def load_settings_in_session(session: Session, user_id: uuid.UUID) -> CheckSettings:
    """One query: the user's risk profile and rules."""
    profile, rules = session.execute(_SETTINGS_QUERY, {"user_id": user_id}).one()
    return resolve_check_settings(profile, rules or [])


def load_check_settings(session_factory: sessionmaker[Session], user_id: uuid.UUID) -> CheckSettings:
    """The user's check settings (one query). An order ticket may load them once and keep them."""
    with session_factory() as s:
        return load_settings_in_session(s, user_id)


def save_check_rule(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    check_type: str,
    *,
    enabled: bool = True,
    parameters: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> CheckRule:
    """Create or replace the user's rule for ``check_type``; returns the check as it now resolves.

    Raises InvalidJournalInput for an unknown check, parameter, severity or value; NotFound for an unknown user."""
    if check_type not in ALL_CHECKS:
        raise InvalidJournalInput(f"Unknown check {check_type!r}; the checks are: {', '.join(ALL_CHECKS)}.")
    defaults = DEFAULTS[check_type][1]
    clean: dict[str, Any] = {}
    for name, value in (parameters or {}).items():
        if name == "severity":
            if value not in SEVERITIES:
                raise InvalidJournalInput(f"The severity must be one of: {', '.join(SEVERITIES)}.")
            clean[name] = value
            continue
        if name not in defaults:
            known = ", ".join([*defaults, "severity"])
            raise InvalidJournalInput(f"{check_type} has no parameter {name!r} (it has: {known}).")
        try:
            clean[name] = _typed(defaults[name], value)
        except ValueError as exc:
            raise InvalidJournalInput(f"{check_type}.{name} {exc}.") from None
    values = {
        "user_id": user_id,
        "rule_code": check_type,
        "evaluator": EVALUATOR,
        "parameters": json_safe(clean),
        "is_enabled": bool(enabled),
        "description": bounded_text(description, "The description"),
    }
    with session_factory() as s:
        if s.get(User, user_id) is None:
            raise NotFound("That account no longer exists.")
        stmt = insert(UserRule).values(id=uuid.uuid4(), **values)
        s.execute(
            stmt.on_conflict_do_update(
                index_elements=[UserRule.user_id, UserRule.rule_code],
                set_={k: stmt.excluded[k] for k in ("evaluator", "parameters", "is_enabled", "description")},
            )
        )
        s.commit()
        return load_settings_in_session(s, user_id).rule(check_type)
