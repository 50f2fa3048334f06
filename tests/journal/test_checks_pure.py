"""Behavioural checks as pure functions: each fires when it should, not otherwise, at its boundaries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.journal.campaigns import build_campaigns
from core.journal.check_settings import default_settings, resolve_check_settings
from core.journal.check_types import ProposedOrder
from core.journal.errors import InvalidJournalInput
from core.journal.exit_intent import ExitIntent
from core.journal.post_trade import evaluate_post_trade
from core.journal.pre_trade import TraderState, evaluate_pre_trade
from tests.journal.helpers import T0, at, fid, jf

D = Decimal
NOW = at(120)


def state(**kw) -> TraderState:
    values = dict(now=NOW, equity=D(100000), position_qty=D(0), open_positions=0, day_start=T0 - timedelta(hours=15),
                  trades_today=0, realized_today=D(0), recent_campaigns=())  # fmt: skip
    return TraderState(**(values | kw))


def buy(qty: str, price: str = "100", symbol: str = "AAPL", **kw) -> ProposedOrder:
    return ProposedOrder(symbol, "buy", D(qty), D(price), **kw)


def results(proposal, st=None, settings=None) -> dict:
    evaluation = evaluate_pre_trade(proposal, st or state(), settings or default_settings())
    return {r.check_type: r for r in evaluation.results}


def passed(proposal, check, st=None, settings=None) -> bool:
    return results(proposal, st, settings)[check].passed


def with_profile(**profile):
    return resolve_check_settings(profile, [])


# ----- position size ---------------------------------------------------------------------------------------


def test_position_size_passes_at_the_limit_and_fails_one_share_over():
    assert passed(buy("200"), "position_size")  # 20,000 of 100,000 = 20 %
    over = results(buy("201"))["position_size"]
    assert not over.passed and over.severity == "warn"
    assert over.details["position_pct"] == "20.1" and over.details["max_order_quantity"] == "200"
    assert "20.1% of your equity" in over.nudge_text and "200 shares or fewer" in over.nudge_text
    assert results(buy("200"))["position_size"].nudge_text is None


def test_position_size_counts_the_shares_already_held():
    assert passed(buy("100"), "position_size", state(position_qty=D(100)))
    assert not passed(buy("101"), "position_size", state(position_qty=D(100)))
    assert not passed(buy("1"), "position_size", state(equity=D(0)))


def test_position_size_limit_comes_from_the_risk_profile():
    assert not passed(buy("101"), "position_size", settings=with_profile(max_position_size_pct=10))
    assert passed(buy("100"), "position_size", settings=with_profile(max_position_size_pct=10))


# ----- stop loss ------------------------------------------------------------------------------------------


def test_a_missing_stop_is_nudged_only_when_the_profile_requires_one():
    assert "stop_loss_required" not in results(buy("10"))
    required = with_profile(stop_loss_required=True)
    assert not passed(buy("10"), "stop_loss_required", settings=required)
    assert passed(buy("10", stop=D(95)), "stop_loss_required", settings=required)


# ----- revenge trading ------------------------------------------------------------------------------------


def closed_campaign(symbol: str, pnl_sign: int, closed_minute: float):
    exit_price = "90" if pnl_sign < 0 else "110"
    (c,) = build_campaigns([jf(1, "buy", "10", "100", closed_minute - 5, symbol=symbol),
                            jf(2, "sell", "10", exit_price, closed_minute, symbol=symbol)])  # fmt: skip
    return c


def test_revenge_trading_fires_inside_the_window_after_a_losing_close():
    loss_just_inside = closed_campaign("MSFT", -1, 120 - 29.99)
    fired = results(buy("10"), state(recent_campaigns=(loss_just_inside,)))["revenge_trading"]
    assert not fired.passed and "losing MSFT trade (-$100.00) 29 minutes ago" in fired.nudge_text
    assert fired.details["last_loss"] == "-100"
    assert passed(buy("10"), "revenge_trading", state(recent_campaigns=(closed_campaign("MSFT", -1, 90),)))
    assert passed(buy("10"), "revenge_trading", state(recent_campaigns=(closed_campaign("MSFT", +1, 119),)))
    assert passed(buy("10"), "revenge_trading", state())


def test_revenge_trading_window_and_symbol_come_from_the_rule():
    loss = closed_campaign("MSFT", -1, 100)  # 20 minutes ago
    rule = [{"rule_code": "revenge_trading", "is_enabled": True,
             "parameters": {"window_minutes": 15, "severity": "critical"}}]  # fmt: skip
    assert passed(buy("10"), "revenge_trading", state(recent_campaigns=(loss,)), resolve_check_settings({}, rule))
    same = [{"rule_code": "revenge_trading", "parameters": {"same_symbol_only": True}}]
    assert passed(buy("10"), "revenge_trading", state(recent_campaigns=(loss,)), resolve_check_settings({}, same))
    result = results(buy("10", symbol="MSFT"), state(recent_campaigns=(loss,)), resolve_check_settings({}, same))
    assert not result["revenge_trading"].passed


# ----- trades today, open positions -----------------------------------------------------------------------


def test_the_tenth_trade_passes_a_limit_of_ten_and_the_eleventh_fails():
    assert passed(buy("1"), "overtrading", state(trades_today=9))
    failed = results(buy("1"), state(trades_today=10))["overtrading"]
    assert not failed.passed and failed.details["trades_today"] == 11


def test_open_positions_counts_only_new_symbols():
    assert passed(buy("1"), "open_positions", state(open_positions=9))
    assert not passed(buy("1"), "open_positions", state(open_positions=10))
    assert "open_positions" not in results(buy("1"), state(open_positions=10, position_qty=D(5)))


# ----- reward/risk and risk per trade ---------------------------------------------------------------------


def test_reward_to_risk_at_the_minimum_passes_and_below_fails():
    assert passed(buy("10", stop=D(98), target=D(103)), "risk_reward")  # 3 / 2 = 1.5
    below = results(buy("10", stop=D(98), target=D("102.99")))["risk_reward"]
    assert not below.passed and below.details["ratio"] == "1.49"
    assert "risk_reward" not in results(buy("10", stop=D(98)))  # needs both
    wrong = results(buy("10", stop=D(101), target=D(110)))["risk_reward"]
    assert not wrong.passed and wrong.details["invalid"] is True


def test_reward_to_risk_of_a_short():
    short = ProposedOrder("AAPL", "sell", D(10), D(100), stop=D(102), target=D(97))
    assert passed(short, "risk_reward")
    assert not passed(ProposedOrder("AAPL", "sell", D(10), D(100), stop=D(102), target=D("97.5")), "risk_reward")


def test_risk_per_trade_at_the_limit_passes_and_a_share_more_fails():
    assert passed(buy("1000", stop=D(98)), "risk_per_trade")  # 2 x 1000 = 2 % of 100,000
    over = results(buy("1001", stop=D(98)))["risk_per_trade"]
    assert not over.passed and over.details["risk"] == "2002"
    assert "$2,002.00" in over.nudge_text
    assert "risk_per_trade" not in results(buy("1000"))


# ----- daily loss -----------------------------------------------------------------------------------------


def test_daily_loss_fires_once_the_limit_is_reached():
    assert passed(buy("1"), "daily_loss", state(realized_today=D("-2999.99")))
    reached = results(buy("1"), state(realized_today=D(-3000)))["daily_loss"]
    assert not reached.passed and reached.severity == "critical"
    assert passed(buy("1"), "daily_loss", state(realized_today=D(5000)))


# ----- which orders are judged ----------------------------------------------------------------------------


def test_an_order_that_only_reduces_a_position_is_never_nudged():
    bad_day = state(position_qty=D(100), realized_today=D(-10000), trades_today=50)
    evaluation = evaluate_pre_trade(ProposedOrder("AAPL", "sell", D(100), D(100)), bad_day, default_settings())
    assert evaluation.results == () and evaluation.passed


def test_an_order_through_zero_is_judged_on_the_shares_that_open_the_new_side():
    st = state(position_qty=D(100))
    assert passed(ProposedOrder("AAPL", "sell", D(300), D(100)), "position_size", st)  # 200 short = 20 %
    assert not passed(ProposedOrder("AAPL", "sell", D(301), D(100)), "position_size", st)


def test_disabled_rules_do_not_run_and_rule_values_override_the_profile():
    rules = [
        {"rule_code": "position_size", "is_enabled": False, "parameters": {}},
        {"rule_code": "overtrading", "is_enabled": True, "parameters": {"max_trades_per_day": 2, "severity": "info"}},
        {"rule_code": "risk_per_trade", "is_enabled": True, "parameters": {"max_pct": "abc"}},  # ignored
    ]
    settings = resolve_check_settings({"max_risk_per_trade_pct": 1}, rules)
    got = results(buy("600", stop=D(98)), state(trades_today=2), settings)
    assert "position_size" not in got
    assert (got["overtrading"].passed, got["overtrading"].severity) == (False, "info")
    assert not got["risk_per_trade"].passed  # 1,200 > 1 % (the profile's value, the rule's was unreadable)


def test_the_evaluation_orders_its_nudges_by_severity():
    evaluation = evaluate_pre_trade(buy("300"), state(realized_today=D(-5000)), default_settings())
    assert [r.check_type for r in evaluation.failed] == ["position_size", "daily_loss"]
    assert evaluation.worst_severity == "critical"
    assert evaluation.nudges[0].startswith("You are down $5,000.00 today")


def test_a_proposal_from_the_ledgers_ticket_uses_the_price_the_ledger_judges_it_at():
    ticket = OrderTicket("aapl", OrderSide.BUY, D(5), OrderType.LIMIT, limit_price=D("99.5"),
                         take_profit_price=D(110), stop_loss_price=D(95))  # fmt: skip
    proposal = ProposedOrder.from_ticket(ticket, D(100))
    assert (proposal.symbol, proposal.side, proposal.price, proposal.stop, proposal.target) == (
        "AAPL", "buy", D("99.5"), D(95), D(110))  # fmt: skip
    assert ProposedOrder.from_ticket(OrderTicket("AAPL", OrderSide.SELL, D(1)), D(101)).price == D(101)
    with pytest.raises(InvalidJournalInput):
        ProposedOrder.from_ticket(OrderTicket("AAPL", OrderSide.SELL, D(1)), None)
    with pytest.raises(InvalidJournalInput):
        ProposedOrder("AAPL", "hold", D(1), D(1))


# ----- post-trade -----------------------------------------------------------------------------------------


def long_trip(exit_price: str, minutes: float = 10, *, start: float = 0, n: int = 1):
    (c,) = build_campaigns([jf(n, "buy", "10", "100", start), jf(n + 1, "sell", "10", exit_price, start + minutes)])
    return c


def post(campaign, plans=None, history=(), settings=None) -> dict:
    got = evaluate_post_trade(campaign, plans or {}, list(history), settings or default_settings())
    return {r.check_type: r for r in got}


def test_exit_without_a_plan():
    trip = long_trip("105")
    missing = post(trip)["exit_without_plan"]
    assert not missing.passed and missing.phase == "post_trade" and missing.severity == "info"
    assert post(trip, {fid(1): ExitIntent(target=D(110))})["exit_without_plan"].passed
    assert post(trip, {fid(2): ExitIntent(target=D(110))})["exit_without_plan"].passed is False  # exit's plan: late


def test_exceeded_planned_stop_with_its_tolerance():
    plan = {fid(1): ExitIntent(stop=D(95))}  # 0.5 % tolerance: 94.525
    assert post(long_trip("94.525"), plan)["exceeded_planned_stop"].passed
    beyond = post(long_trip("94.52"), plan)["exceeded_planned_stop"]
    assert not beyond.passed and beyond.details["worst_exit"] == "94.52"
    assert "exceeded_planned_stop" not in post(long_trip("94"))  # no stop planned
    (short,) = build_campaigns([jf(1, "sell", "10", "100", 0), jf(2, "buy", "10", "105.6", 5)])
    assert not post(short, {fid(1): ExitIntent(stop=D(105))})["exceeded_planned_stop"].passed  # > 105.525


def test_held_past_the_planned_exit_time():
    trip = long_trip("105", minutes=10)
    assert post(trip, {fid(1): ExitIntent(time=at(10))})["held_past_planned_time"].passed
    late = post(trip, {fid(1): ExitIntent(time=at(9.99))})["held_past_planned_time"]
    assert not late.passed
    graced = resolve_check_settings({}, [{"rule_code": "held_past_planned_time", "parameters": {"grace_minutes": 1}}])
    assert post(trip, {fid(1): ExitIntent(time=at(9.5))}, settings=graced)["held_past_planned_time"].passed


def test_a_loser_held_much_longer_than_the_typical_winner():
    winners = [long_trip("110", minutes=10, start=100 * k, n=10 * k) for k in range(1, 4)]
    at_factor = long_trip("90", minutes=20, start=1000, n=100)
    assert post(at_factor, history=winners)["held_loser_too_long"].passed
    too_long = post(long_trip("90", minutes=20.01, start=1000, n=100), history=winners)["held_loser_too_long"]
    assert not too_long.passed and too_long.details["winners_compared"] == 3
    assert "held_loser_too_long" not in post(at_factor, history=winners[:2])  # too few winners to compare
    assert "held_loser_too_long" not in post(long_trip("110", minutes=50, start=1000, n=100), history=winners)


def test_an_open_campaign_has_no_post_trade_checks():
    (c,) = build_campaigns([jf(1, "buy", "10", "100", 0)])
    assert evaluate_post_trade(c, {}, [], default_settings()) == ()
