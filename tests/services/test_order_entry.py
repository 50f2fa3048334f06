"""The order ticket's workflow without the ticket: the trader's rules advise, the ledger decides, and what the
trader did about a warning is recorded with the checks."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import update

from core.db.models import RiskSettings
from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.journal import list_checks
from core.ledger.history import recent_orders
from core.services.order_entry import OrderEntry, describe, pre_trade_checks

D = Decimal


@pytest.fixture
def entry(sessions, ledger) -> OrderEntry:
    return OrderEntry(ledger, pre_trade_checks(sessions, ledger))


def poor_bracket() -> OrderTicket:
    """Risking $5 a share to make $2: the reward-to-risk check warns."""
    return OrderTicket("AAPL", OrderSide.BUY, D(10), take_profit_price=D(102), stop_loss_price=D(95))


def test_a_ticket_the_checks_warn_about_is_not_placed_and_declining_is_recorded(entry, sessions, make_user, broker):
    user = make_user("nina")
    outcome = entry.check(user, poor_bracket())
    assert outcome.ask and outcome.evaluation is not None
    assert any("reward" in n.text.lower() for n in outcome.nudges)
    assert broker.submitted == [] and recent_orders(sessions, user) == []

    assert entry.answer(user, outcome.evaluation, "cancelled")
    stored = list_checks(sessions, user)
    assert stored and {c.trader_action for c in stored} == {"cancelled"}
    assert all(c.order_id is None for c in stored)
    assert broker.submitted == []


def test_send_anyway_places_the_order_and_records_proceeded_with_its_id(entry, sessions, make_user, broker):
    user = make_user("omar")
    checked = entry.check(user, poor_bracket())
    sent = entry.send(user, checked.ticket, checked.evaluation)
    assert sent.placed is not None and sent.error is None and sent.recorded
    assert len(broker.submitted) == 1
    by_type = {c.check_type: c for c in list_checks(sessions, user)}
    assert by_type["risk_reward"].trader_action == "proceeded" and not by_type["risk_reward"].passed
    assert by_type["risk_reward"].order_id == sent.placed.id


def test_an_order_every_check_passes_is_sent_without_a_question(entry, make_user, broker):
    user = make_user("pia")
    ticket = OrderTicket("AAPL", OrderSide.BUY, D(10), take_profit_price=D(115), stop_loss_price=D(95))
    checked = entry.check(user, ticket)
    assert not checked.ask and checked.skipped is None
    assert entry.send(user, ticket, checked.evaluation).placed is not None
    assert len(broker.submitted) == 1


def test_a_symbol_with_no_price_skips_the_checks_and_the_ledger_answers_in_words(entry, make_user, broker):
    user = make_user("quin")
    ticket = OrderTicket("ZZZZ", OrderSide.BUY, D(1))
    checked = entry.check(user, ticket)
    assert not checked.ask and checked.evaluation is None
    assert checked.skipped is not None and checked.skipped.startswith("Trading-rule checks skipped:")
    sent = entry.send(user, ticket, checked.evaluation)
    assert sent.placed is None and sent.error and not sent.recorded
    assert broker.submitted == []


def test_a_risk_rule_refusal_comes_back_as_its_reason_and_the_answer_is_still_recorded(entry, db, sessions,
                                                                                        make_user, broker):  # fmt: skip
    user = make_user("vic")
    with db.session_factory() as s:
        s.execute(update(RiskSettings).where(RiskSettings.user_id == user).values(max_order_value=D("500")))
        s.commit()
    ticket = OrderTicket("AAPL", OrderSide.BUY, D(10))  # $1,000 at $100
    checked = entry.check(user, ticket)
    sent = entry.send(user, ticket, checked.evaluation)
    assert sent.placed is None and sent.rejected and sent.error
    assert broker.submitted == []
    assert sent.recorded and {c.trader_action for c in list_checks(sessions, user)} == {"proceeded"}


def test_submit_in_one_call_sends_a_warned_order_only_when_told_to(entry, sessions, make_user, broker):
    user = make_user("rita")
    held = entry.submit(user, poor_bracket())
    assert held.placed is None and "reward" in (held.error or "").lower()
    assert {c.trader_action for c in list_checks(sessions, user)} == {"cancelled"}
    sent = entry.submit(user, poor_bracket(), send_anyway=True)
    assert sent.placed is not None and len(broker.submitted) == 1


def test_without_checks_the_ledger_alone_decides(ledger, make_user, broker):
    entry = OrderEntry(ledger)
    user = make_user("sam")
    checked = entry.check(user, poor_bracket())
    assert not checked.ask and checked.evaluation is None
    assert entry.send(user, checked.ticket).placed is not None and len(broker.submitted) == 1


def test_the_order_is_described_as_the_trader_would_say_it():
    ticket = OrderTicket("AAPL", OrderSide.BUY, D("10"), type=OrderType.LIMIT, limit_price=D("95.50"))
    assert describe(ticket) == "buy 10 AAPL limit 95.5"
