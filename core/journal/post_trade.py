"""Post-trade behavioural checks: pure functions of a closed campaign, its decision contexts and the
trader's other campaigns.

The plan of a campaign is the exit intent of its first opening fill (entry or add) whose decision context
names a stop, a target or a time. The checks:

* ``exit_without_plan``: the campaign closed and no opening fill's context planned an exit.
* ``exceeded_planned_stop``: an exit filled beyond the planned stop by more than ``tolerance_pct`` of it (a
  long exit below stop x (1 - tol), a short exit above stop x (1 + tol)): the trader held past the point
  where they had said they were wrong. Only with a planned stop.
* ``held_past_planned_time``: closed more than ``grace_minutes`` after the planned exit time.
* ``held_loser_too_long``: a losing campaign held more than ``factor`` times the median holding time of the
  trader's winning campaigns closed before it (the last 50), once there are ``min_winners`` of them.
  Letting losers run and cutting winners short is the disposition effect. Only for losers.

Boundaries are strict, as for the pre-trade checks: exactly at the tolerance, the time or the factor passes.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal

from core.journal._common import json_safe
from core.journal.campaigns import LONG, Campaign
from core.journal.check_settings import CheckRule, CheckSettings
from core.journal.check_types import (
    EXCEEDED_PLANNED_STOP,
    EXIT_WITHOUT_PLAN,
    HELD_LOSER_TOO_LONG,
    HELD_PAST_PLANNED_TIME,
    POST_TRADE,
    CheckResult,
)
from core.journal.exit_intent import ExitIntent

HUNDRED = Decimal(100)
WINNERS_COMPARED = 50


def _result(rule: CheckRule, passed: bool, details: dict, nudge: str) -> CheckResult:
    nudge_text = None if passed else nudge
    return CheckResult(rule.check_type, rule.severity, passed, json_safe(details), nudge_text, POST_TRADE)


def campaign_plan(campaign: Campaign, plans: Mapping[uuid.UUID, ExitIntent | None]) -> ExitIntent | None:
    """The exit intent of the campaign's first opening fill that has one (``plans``: fill id -> intent)."""
    for effect in campaign.effects:
        if effect.opened > 0:
            intent = plans.get(effect.fill_id)
            if intent is not None and intent.has_plan:
                return intent
    return None


def _hours(value: timedelta) -> Decimal:
    return Decimal(str(value.total_seconds() / 3600)).quantize(Decimal("0.01"))


def check_exit_without_plan(c: Campaign, plan: ExitIntent | None, rule: CheckRule) -> CheckResult:
    return _result(
        rule, plan is not None, {"group_id": c.group_id, "symbol": c.symbol},
        f"You closed {c.symbol} without an exit planned at entry. Next time, write the stop and target down "
        "before the order goes in.",
    )  # fmt: skip


def check_exceeded_stop(c: Campaign, plan: ExitIntent | None, rule: CheckRule) -> CheckResult | None:
    if plan is None or plan.stop is None:
        return None
    exits = [e.price for e in c.effects if e.closed > 0]
    if not exits:
        return None
    tolerance = rule["tolerance_pct"] / HUNDRED
    long = c.direction == LONG
    worst = min(exits) if long else max(exits)
    limit = plan.stop * (1 - tolerance) if long else plan.stop * (1 + tolerance)
    passed = worst >= limit if long else worst <= limit
    details = {"group_id": c.group_id, "symbol": c.symbol, "planned_stop": plan.stop, "worst_exit": worst,
               "tolerance_pct": rule["tolerance_pct"]}  # fmt: skip
    nudge = (
        f"Your planned stop on {c.symbol} was {plan.stop:,.2f} but you exited at {worst:,.2f}: "
        "you held past the point where you had said you were wrong."
    )
    return _result(rule, passed, details, nudge)


def check_planned_time(c: Campaign, plan: ExitIntent | None, rule: CheckRule) -> CheckResult | None:
    if plan is None or plan.time is None or c.closed_at is None:
        return None
    deadline = plan.time + timedelta(minutes=float(rule["grace_minutes"]))
    late = c.closed_at - plan.time
    details = {"group_id": c.group_id, "symbol": c.symbol, "planned_exit_time": plan.time, "closed_at": c.closed_at}
    nudge = f"You planned to be out of {c.symbol} by {plan.time:%Y-%m-%d %H:%M} UTC and left {_hours(late)} h later."
    return _result(rule, c.closed_at <= deadline, details, nudge)


def check_held_loser(c: Campaign, history: Sequence[Campaign], rule: CheckRule) -> CheckResult | None:
    if not c.is_loss or c.closed_at is None or c.holding_time is None:
        return None
    winners = sorted(
        (w for w in history if w.is_win and w.group_id != c.group_id and w.closed_at and w.closed_at <= c.closed_at),
        key=lambda w: w.closed_at,  # type: ignore[arg-type, return-value]
    )[-WINNERS_COMPARED:]
    if len(winners) < rule["min_winners"]:
        return None
    median = timedelta(seconds=statistics.median(w.holding_time.total_seconds() for w in winners))  # type: ignore[union-attr]
    factor = rule["factor"]
    held = c.holding_time
    details = {"group_id": c.group_id, "symbol": c.symbol, "held_hours": _hours(held),
               "median_winner_hours": _hours(median), "winners_compared": len(winners), "factor": factor}  # fmt: skip
    nudge = (
        f"You held this {c.symbol} loser {_hours(held)} h, more than {factor.normalize()} times as long as your "
        f"typical winner ({_hours(median)} h). Cut losers at the plan, let winners run."
    )
    return _result(rule, held.total_seconds() <= median.total_seconds() * float(factor), details, nudge)


def evaluate_post_trade(
    campaign: Campaign,
    plans: Mapping[uuid.UUID, ExitIntent | None],
    history: Sequence[Campaign],
    settings: CheckSettings,
) -> tuple[CheckResult, ...]:
    """The enabled post-trade checks that apply to a closed ``campaign`` (none for an open one).

    ``plans``: exit intent per fill id (from the decision contexts); ``history``: the trader's campaigns."""
    if not campaign.is_closed:
        return ()
    plan = campaign_plan(campaign, plans)
    out: list[CheckResult | None] = []
    if settings.enabled(EXIT_WITHOUT_PLAN):
        out.append(check_exit_without_plan(campaign, plan, settings.rule(EXIT_WITHOUT_PLAN)))
    if settings.enabled(EXCEEDED_PLANNED_STOP):
        out.append(check_exceeded_stop(campaign, plan, settings.rule(EXCEEDED_PLANNED_STOP)))
    if settings.enabled(HELD_PAST_PLANNED_TIME):
        out.append(check_planned_time(campaign, plan, settings.rule(HELD_PAST_PLANNED_TIME)))
    if settings.enabled(HELD_LOSER_TOO_LONG):
        out.append(check_held_loser(campaign, history, settings.rule(HELD_LOSER_TOO_LONG)))
    return tuple(r for r in out if r is not None)
