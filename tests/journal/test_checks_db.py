"""Behavioural checks against the database: the order ticket's two queries, the trader's answer, the link
to the fill, and post-trade checks after a fill closes a campaign."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from core.db.models import CampaignCheck, DecisionContext
from core.journal import (
    NotFound,
    ProposedOrder,
    after_fill,
    attach_context,
    evaluate_order,
    get_context,
    link_checks_to_fill,
    list_checks,
    list_fills,
    record_pre_trade_response,
    save_check_rule,
)
from core.journal.campaigns import build_campaigns
from core.journal.check_records import acknowledge_check
from core.journal.check_settings import load_check_settings
from core.journal.errors import InvalidJournalInput
from core.journal.fills import load_fills
from core.journal.pre_trade_service import journal_day_start, recent_fills, trader_state
from tests.journal.helpers import T0, insert_fill

D = Decimal


@pytest.fixture
def statements(db):
    """Count the SQL statements sent while the block runs."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine, "before_cursor_execute", record)


def fill_of(sessions, user_id, order_id):
    return next(r.fill for r in list_fills(sessions, user_id) if r.fill.order_id == order_id)


def test_the_order_ticket_costs_two_queries_and_sees_a_recent_losing_close(
    sessions, make_user, ledger, trade, statements
):
    ann = make_user("ann")
    trade(ann, "buy", "10", "100", T0)
    trade(ann, "sell", "10", "95", T0 + timedelta(minutes=5))  # a $50 loss, closed at 10:05 New York
    portfolio = ledger.portfolio(ann)
    statements.clear()
    evaluation = evaluate_order(sessions, ann, ProposedOrder("MSFT", "buy", D(1), D(400)), portfolio,
                                now=T0 + timedelta(minutes=15))  # fmt: skip
    assert len(statements) == 2
    by_type = {r.check_type: r for r in evaluation.results}
    assert not by_type["revenge_trading"].passed and "losing AAPL trade (-$50.00) 10 minutes" in evaluation.nudges[0]
    assert by_type["position_size"].passed and by_type["daily_loss"].passed
    later = evaluate_order(sessions, ann, ProposedOrder("MSFT", "buy", D(1), D(400)), portfolio,
                           now=T0 + timedelta(minutes=35))  # fmt: skip
    assert {r.check_type: r.passed for r in later.results}["revenge_trading"]


def test_the_state_query_replays_exactly_what_the_full_history_says(sessions, make_user):
    """Campaigns closed before the look-back are left out; ones opened days ago and closed or still open
    today come complete, so today's realized P&L is exact."""
    ann = make_user("ann")
    day = timedelta(days=1)
    insert_fill(sessions, ann, "buy", "10", "50", T0 - 3 * day, symbol="OLD")
    insert_fill(sessions, ann, "sell", "10", "60", T0 - 2 * day, symbol="OLD")  # closed two days ago
    insert_fill(sessions, ann, "buy", "10", "100", T0 - 2 * day)  # AAPL opened two days ago...
    insert_fill(sessions, ann, "buy", "10", "110", T0 - day, fees="2")
    insert_fill(sessions, ann, "sell", "15", "90", T0)  # ... partly closed today: 10 x -10 + 5 x -20 = -200
    insert_fill(sessions, ann, "sell", "5", "95", T0 - 4 * day, symbol="TSLA")  # a short still open
    insert_fill(sessions, ann, "sell", "2", "10", T0 + timedelta(minutes=1), symbol="NEW", fees="1")
    insert_fill(sessions, ann, "buy", "2", "12", T0 + timedelta(minutes=2), symbol="NEW")  # -4 - 1 today
    now = T0 + timedelta(hours=1)
    since = journal_day_start(now)
    with sessions() as s:
        recent = recent_fills(s, ann, since)
        everything = load_fills(s, ann)
    assert {f.symbol for f in recent} == {"AAPL", "TSLA", "NEW"}
    state = trader_state(recent, now=now, equity=D(100000), position_qty=D(0), open_positions=0, since=since)
    assert state.realized_today == D(-200 - 5)
    assert state.trades_today == 3
    full = [c for c in build_campaigns(everything) if not c.is_closed or c.closed_at >= since]
    assert [c.group_id for c in state.recent_campaigns] == [c.group_id for c in full]
    assert since == T0.replace(hour=5)  # 00:00 New York (EST) on 2 March 2026


def test_cancelling_at_the_nudge_is_recorded_without_any_order(sessions, make_user, ledger):
    ann = make_user("ann")
    save_check_rule(sessions, ann, "overtrading", parameters={"max_trades_per_day": 0, "severity": "critical"})
    evaluation = evaluate_order(sessions, ann, ProposedOrder("AAPL", "buy", D(1), D(100)), ledger.portfolio(ann),
                                now=T0)  # fmt: skip
    assert [r.check_type for r in evaluation.failed] == ["overtrading"]
    ids = record_pre_trade_response(sessions, ann, evaluation, "cancelled")
    again = record_pre_trade_response(sessions, ann, evaluation, "cancelled")  # a double click
    assert ids == again and len(ids) == len(evaluation.results)
    stored = list_checks(sessions, ann, failed_only=True)
    (nudge,) = stored
    assert (nudge.check_type, nudge.severity, nudge.trader_action, nudge.acknowledged) == (
        "overtrading", "critical", "cancelled", True)  # fmt: skip
    assert (nudge.order_id, nudge.decision_context_id, nudge.phase) == (None, None, "pre_trade")
    assert nudge.proposal == {"symbol": "AAPL", "side": "buy", "quantity": "1", "price": "100"}
    assert nudge.details["evaluation_id"] == str(evaluation.evaluation_id)
    with pytest.raises(InvalidJournalInput):
        record_pre_trade_response(sessions, ann, evaluation, "shrugged")


def test_checks_of_a_placed_order_are_linked_to_its_fills_context(sessions, make_user, ledger, broker, trade):
    ann = make_user("ann")
    proposal = ProposedOrder("AAPL", "buy", D(10), D(100), stop=D(95), target=D(110))
    evaluation = evaluate_order(sessions, ann, proposal, ledger.portfolio(ann), now=T0)
    placed = trade(ann, "buy", "10", "100", T0, take_profit_price=D(110), stop_loss_price=D(95))
    record_pre_trade_response(sessions, ann, evaluation, "proceeded", order_id=placed.id)
    # It filled before the answer was recorded (the trade fixture fills at once): linked straight away.
    fill = fill_of(sessions, ann, placed.id)
    context = get_context(sessions, ann, fill_id=fill.id)
    assert context is not None and context.context_type == "entry"
    assert (context.exit_intent.stop, context.exit_intent.target) == (D(95), D(110))
    linked = list_checks(sessions, ann, decision_context_id=context.id)
    assert {c.check_type for c in linked} == {r.check_type for r in evaluation.results}
    assert all(c.order_id == placed.id and c.trader_action == "proceeded" for c in linked)
    assert link_checks_to_fill(sessions, ann, fill.id) == 0  # nothing left to link


def test_link_after_the_fill_and_keep_the_traders_own_context(sessions, make_user, ledger, broker):
    ann = make_user("ann")
    from core.domain.orders import OrderSide
    from core.domain.tickets import OrderTicket

    placed = ledger.place_order(ann, OrderTicket("AAPL", OrderSide.BUY, D(5)))
    evaluation = evaluate_order(sessions, ann, ProposedOrder("AAPL", "buy", D(5), D(100)), ledger.portfolio(ann),
                                now=T0)  # fmt: skip
    record_pre_trade_response(sessions, ann, evaluation, "proceeded", order_id=placed.id)
    assert {c.decision_context_id for c in list_checks(sessions, ann)} == {None}
    broker.fill(placed.client_order_id, "5", "100")
    fill = fill_of(sessions, ann, placed.id)
    mine = attach_context(sessions, ann, fill.id, "entry", hypothesis="Breakout over 99")
    assert link_checks_to_fill(sessions, ann, fill.id) == len(evaluation.results)
    assert {c.decision_context_id for c in list_checks(sessions, ann)} == {mine.id}
    assert get_context(sessions, ann, fill_id=fill.id).hypothesis == "Breakout over 99"


def test_only_the_owner_links_or_records(sessions, make_user, ledger, trade):
    ann, bob = make_user("ann"), make_user("bob")
    placed = trade(ann, "buy", "1", "100", T0)
    fill = fill_of(sessions, ann, placed.id)
    evaluation = evaluate_order(sessions, bob, ProposedOrder("AAPL", "buy", D(1), D(100)), ledger.portfolio(bob),
                                now=T0)  # fmt: skip
    with pytest.raises(NotFound):
        record_pre_trade_response(sessions, bob, evaluation, "proceeded", order_id=placed.id)
    with pytest.raises(NotFound):
        link_checks_to_fill(sessions, bob, fill.id)
    with pytest.raises(NotFound):
        after_fill(sessions, bob, fill.id)


def test_after_a_closing_fill_the_post_trade_checks_are_stored_once(sessions, make_user, ledger, trade):
    ann = make_user("ann")
    entry = trade(ann, "buy", "10", "100", T0)
    first = after_fill(sessions, ann, fill_of(sessions, ann, entry.id).id, now=T0)
    assert (first.linked_checks, first.post_trade) == (0, ())
    assert [c.status for c in first.campaigns] == ["open"]
    attach_context(sessions, ann, fill_of(sessions, ann, entry.id).id, "entry", exit_intent={"stop": "97"})

    exit_ = trade(ann, "sell", "10", "96", T0 + timedelta(minutes=30))
    exit_fill = fill_of(sessions, ann, exit_.id)
    done = after_fill(sessions, ann, exit_fill.id, now=T0 + timedelta(minutes=31))
    (campaign,) = done.campaigns
    assert (campaign.status, campaign.realized_pnl) == ("closed", D(-40))
    by_type = {r.check_type: r for r in done.post_trade}
    assert by_type["exit_without_plan"].passed
    assert not by_type["exceeded_planned_stop"].passed  # 96 < 97 x 0.995

    exit_context = get_context(sessions, ann, fill_id=exit_fill.id)
    assert exit_context is not None and exit_context.context_type == "exit"  # created for the checks
    stored = list_checks(sessions, ann, phase="post_trade")
    assert {c.check_type for c in stored} == set(by_type) and {c.decision_context_id for c in stored} == {
        exit_context.id}  # fmt: skip
    nudge = next(c for c in stored if c.check_type == "exceeded_planned_stop")
    acknowledge_check(sessions, ann, nudge.id)

    again = after_fill(sessions, ann, exit_fill.id, now=T0 + timedelta(hours=2))
    assert {r.check_type for r in again.post_trade} == set(by_type)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(CampaignCheck)) == len(by_type)
        assert s.scalar(select(func.count()).select_from(DecisionContext)) == 2
    assert next(c for c in list_checks(sessions, ann) if c.id == nudge.id).acknowledged  # kept


def test_rules_saved_by_the_trader_drive_the_checks(sessions, make_user):
    ann = make_user("ann")
    rule = save_check_rule(sessions, ann, "position_size", parameters={"max_pct": "5", "severity": "critical"})
    assert (rule.enabled, rule.severity, rule["max_pct"]) == (True, "critical", D(5))
    off = save_check_rule(sessions, ann, "position_size", enabled=False)
    assert not off.enabled and not load_check_settings(sessions, ann).enabled("position_size")
    for bad in ({"max_pct": "lots"}, {"max_pct": -1}, {"nope": 1}, {"severity": "block"}):
        with pytest.raises(InvalidJournalInput):
            save_check_rule(sessions, ann, "position_size", parameters=bad)
    with pytest.raises(InvalidJournalInput):
        save_check_rule(sessions, ann, "mood_check")
    with pytest.raises(NotFound):
        save_check_rule(sessions, uuid.uuid4(), "position_size")
