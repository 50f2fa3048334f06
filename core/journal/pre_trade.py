"""Pre-trade behavioural checks: pure functions of a proposed order, the trader's state and their settings.

They nudge, they never refuse: the ledger's risk chain refuses orders; these tell the trader what their
own rules say about this one, and the answer (proceeded, modified, cancelled) is recorded.

Conventions (the boundaries are part of the contract, and tested):

* Only an order that opens or adds exposure is judged on size, stop, reward/risk, risk, revenge, trade
  count, daily loss and open positions; an order that only reduces a position is never nudged (nudging a
  trader out of closing a position would be a bad nudge). An order that goes through zero is judged on the
  shares that open the new side.
* "Over the limit" is strictly over: a position of exactly 20 % of equity passes a 20 % limit; a reward/risk
  of exactly the minimum passes; the 10th trade of a day passes a limit of 10 trades, the 11th fails.
* Revenge trading: an order placed less than ``window_minutes`` after a losing campaign closed (any symbol,
  or the same one with ``same_symbol_only``); exactly ``window_minutes`` later passes.
* Daily loss: today's realized P&L after fees (the journal's campaigns, FIFO) is a loss that has reached
  ``max_pct`` of current equity (reached counts, as in the ledger's daily loss rule).
* "Today" starts at 00:00 New York time; trades today are the day's executions with the partial fills of
  one order counted once, plus the proposed order.
* Percentages are of the ledger's current equity (cash + reserved + positions at market).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_FLOOR, ROUND_UP, Decimal

from core.journal._common import json_safe
from core.journal.campaigns import Campaign
from core.journal.check_settings import CheckRule, CheckSettings
from core.journal.check_types import (
    DAILY_LOSS,
    OPEN_POSITIONS,
    OVERTRADING,
    POSITION_SIZE,
    PRE_TRADE,
    REVENGE_TRADING,
    RISK_PER_TRADE,
    RISK_REWARD,
    STOP_LOSS_REQUIRED,
    CheckResult,
    PreTradeEvaluation,
    ProposedOrder,
)

ZERO = Decimal(0)
HUNDRED = Decimal(100)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class TraderState:
    """What the checks know about the trader when the order is proposed."""

    now: datetime
    equity: Decimal  # the ledger's equity
    position_qty: Decimal  # the ledger's position in the proposal's symbol (signed)
    open_positions: int  # symbols the ledger account holds
    day_start: datetime
    trades_today: int  # before the proposed order
    realized_today: Decimal  # after fees; negative is a loss
    recent_campaigns: tuple[Campaign, ...] = ()  # closed since the look-back start, and the open ones


def _money(value: Decimal) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def _pct(value: Decimal) -> str:
    """A share over a limit, rounded up: 20.01 % shows as 20.1 %, never as the 20 % limit itself."""
    return f"{value.quantize(Decimal('0.1'), ROUND_UP)}%"


def _up(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_UP)


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _result(rule: CheckRule, passed: bool, details: dict, nudge: str | None) -> CheckResult:
    return CheckResult(rule.check_type, rule.severity, passed, json_safe(details), None if passed else nudge, PRE_TRADE)


def opened_shares(position: Decimal, signed: Decimal) -> Decimal:
    """Shares of the order that open or add exposure (0 for an order that only reduces)."""
    if position == 0 or (signed > 0) == (position > 0):
        return abs(signed)
    return max(abs(signed) - abs(position), ZERO)


def _position_after(position: Decimal, signed: Decimal) -> Decimal:
    return abs(position + signed)


def check_position_size(p: ProposedOrder, s: TraderState, rule: CheckRule) -> CheckResult:
    size = _position_after(s.position_qty, p.signed_quantity)
    value = size * p.price
    limit = rule["max_pct"]
    details = {"position_value": value, "equity": s.equity, "max_pct": limit, "shares_after": size}
    if s.equity <= 0:
        return _result(rule, False, details, "Your equity is not positive: any new position is over your size limit.")
    pct = value / s.equity * HUNDRED
    details["position_pct"] = _up(pct)
    cap = (s.equity * limit / HUNDRED / p.price).to_integral_value(ROUND_FLOOR)  # whole shares inside the limit
    held, same_way = abs(s.position_qty), s.position_qty == 0 or (s.position_qty > 0) == (p.signed_quantity > 0)
    allowed = max(cap - held, ZERO) if same_way else held + cap
    details["max_order_quantity"] = allowed
    nudge = (
        f"This would make {p.symbol} {_pct(pct)} of your equity ({_money(value)}); your limit is "
        f"{_num(limit)}%. An order of {_num(allowed)} shares or fewer would stay inside it."
    )
    return _result(rule, pct <= limit, details, nudge)


def check_stop_loss(p: ProposedOrder, s: TraderState, rule: CheckRule) -> CheckResult:
    return _result(
        rule, p.stop is not None, {"stop": p.stop, "required": True},
        "Your rules ask for a stop loss on every entry and this order has none: where would you be wrong?",
    )  # fmt: skip


def _losing_closes(p: ProposedOrder, s: TraderState, rule: CheckRule) -> list[Campaign]:
    return [
        c for c in s.recent_campaigns
        if c.is_loss and c.closed_at is not None and c.closed_at <= s.now
        and (not rule["same_symbol_only"] or c.symbol == p.symbol)
    ]  # fmt: skip


def check_revenge(p: ProposedOrder, s: TraderState, rule: CheckRule) -> CheckResult:
    window = timedelta(minutes=float(rule["window_minutes"]))
    losses = _losing_closes(p, s, rule)
    last = max(losses, key=lambda c: c.closed_at or s.now) if losses else None
    details: dict = {"window_minutes": rule["window_minutes"]}
    if last is None or last.closed_at is None:
        return _result(rule, True, details, None)
    elapsed = s.now - last.closed_at
    details |= {"last_loss_symbol": last.symbol, "last_loss": last.realized_pnl, "last_loss_closed_at": last.closed_at,
                "minutes_since": Decimal(str(elapsed.total_seconds() / 60)).quantize(Decimal("0.1"))}  # fmt: skip
    nudge = (
        f"You closed a losing {last.symbol} trade ({_money(last.realized_pnl)}) "
        f"{max(int(elapsed.total_seconds() // 60), 0)} minutes ago. Is this trade in your plan, "
        "or a way to win that loss back?"
    )
    return _result(rule, elapsed >= window, details, nudge)


def check_overtrading(p: ProposedOrder, s: TraderState, rule: CheckRule) -> CheckResult:
    count = s.trades_today + 1
    limit = rule["max_trades_per_day"]
    nudge = f"This would be trade {count} today; your limit is {limit}. Is it one of your best setups?"
    return _result(rule, count <= limit, {"trades_today": count, "max_trades_per_day": limit}, nudge)


def _stop_distance(p: ProposedOrder, long: bool) -> Decimal | None:
    """Loss per share at the stop; None when the stop is on the wrong side of the entry."""
    assert p.stop is not None
    distance = p.price - p.stop if long else p.stop - p.price
    return distance if distance > 0 else None


def check_risk_reward(p: ProposedOrder, s: TraderState, rule: CheckRule, long: bool) -> CheckResult | None:
    if p.stop is None or p.target is None:
        return None
    minimum = rule["min_ratio"]
    risk = _stop_distance(p, long)
    reward = p.target - p.price if long else p.price - p.target
    details = {"stop": p.stop, "target": p.target, "price": p.price, "min_ratio": minimum}
    if risk is None or reward <= 0:
        side = "below" if long else "above"
        return _result(rule, False, details | {"invalid": True},
                       f"For this {'long' if long else 'short'} the stop must be {side} and the target "
                       f"{'above' if long else 'below'} the entry price.")  # fmt: skip
    ratio = reward / risk
    shown = ratio.quantize(CENT, ROUND_DOWN)  # below a minimum, never shown as the minimum itself
    details["ratio"] = shown
    nudge = f"Reward to risk is {shown} : 1; your minimum is {_num(minimum)} : 1. Is the target realistic?"
    return _result(rule, ratio >= minimum, details, nudge)


def check_risk_per_trade(p: ProposedOrder, s: TraderState, rule: CheckRule, long: bool,
                         shares: Decimal) -> CheckResult | None:  # fmt: skip
    if p.stop is None:
        return None
    limit = rule["max_pct"]
    distance = _stop_distance(p, long)
    details = {"stop": p.stop, "price": p.price, "shares": shares, "equity": s.equity, "max_pct": limit}
    if distance is None:
        return _result(rule, False, details | {"invalid": True},
                       f"The stop is on the wrong side of the entry for a {'long' if long else 'short'}.")  # fmt: skip
    risk = distance * shares
    details["risk"] = risk
    if s.equity <= 0:
        return _result(rule, False, details, "Your equity is not positive: any risk is over your limit.")
    pct = risk / s.equity * HUNDRED
    details["risk_pct"] = _up(pct)
    nudge = f"You would risk {_money(risk)} to your stop, {_pct(pct)} of equity; your limit is {_num(limit)}%."
    return _result(rule, pct <= limit, details, nudge)


def check_daily_loss(p: ProposedOrder, s: TraderState, rule: CheckRule) -> CheckResult:
    limit = rule["max_pct"]
    loss = -s.realized_today
    details = {"realized_today": s.realized_today, "equity": s.equity, "max_pct": limit}
    if loss <= 0:
        return _result(rule, True, details, None)
    if s.equity <= 0:
        return _result(rule, False, details, "You are down today and your equity is not positive. Stop for the day?")
    pct = loss / s.equity * HUNDRED
    details["loss_pct"] = _up(pct)
    nudge = (
        f"You are down {_money(loss)} today, {_pct(pct)} of equity: your daily limit of {_num(limit)}% is reached. "
        "Stop for the day?"
    )
    return _result(rule, pct < limit, details, nudge)


def check_open_positions(p: ProposedOrder, s: TraderState, rule: CheckRule) -> CheckResult | None:
    if s.position_qty != 0:
        return None  # adding to a symbol already held opens no new position
    count = s.open_positions + 1
    limit = rule["max_open"]
    nudge = f"This would be open position {count}; your limit is {limit}. Which one matters least?"
    return _result(rule, count <= limit, {"open_positions": count, "max_open": limit}, nudge)


def evaluate_pre_trade(
    proposal: ProposedOrder,
    state: TraderState,
    settings: CheckSettings,
    *,
    evaluation_id: uuid.UUID | None = None,
) -> PreTradeEvaluation:
    """Every enabled check that applies to ``proposal`` (see the module docstring)."""
    shares = opened_shares(state.position_qty, proposal.signed_quantity)
    results: list[CheckResult | None] = []
    if shares > 0:
        long = proposal.side == "buy"
        on = settings.enabled
        rule = settings.rule
        if on(POSITION_SIZE):
            results.append(check_position_size(proposal, state, rule(POSITION_SIZE)))
        if on(STOP_LOSS_REQUIRED):
            results.append(check_stop_loss(proposal, state, rule(STOP_LOSS_REQUIRED)))
        if on(REVENGE_TRADING):
            results.append(check_revenge(proposal, state, rule(REVENGE_TRADING)))
        if on(OVERTRADING):
            results.append(check_overtrading(proposal, state, rule(OVERTRADING)))
        if on(RISK_REWARD):
            results.append(check_risk_reward(proposal, state, rule(RISK_REWARD), long))
        if on(RISK_PER_TRADE):
            results.append(check_risk_per_trade(proposal, state, rule(RISK_PER_TRADE), long, shares))
        if on(DAILY_LOSS):
            results.append(check_daily_loss(proposal, state, rule(DAILY_LOSS)))
        if on(OPEN_POSITIONS):
            results.append(check_open_positions(proposal, state, rule(OPEN_POSITIONS)))
    return PreTradeEvaluation(
        evaluation_id=evaluation_id or uuid.uuid4(),
        proposal=proposal,
        evaluated_at=state.now,
        results=tuple(r for r in results if r is not None),
    )
