"""The application's two joints between ledger and journal: the order ticket's checks (TicketChecks) and the
journal following booked fills (journal_new_fills)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.journal import InvalidJournalInput, get_context, list_campaigns, list_checks, list_fills
from core.journal.follow import journal_new_fills, unjournaled_fills
from core.journal.ticket_checks import TicketChecks
from tests.journal.helpers import T0

D = Decimal


def test_the_ticket_prices_a_market_order_at_the_last_price_and_flags_an_oversized_one(sessions, make_user, ledger):
    ann = make_user("ann")
    checks = TicketChecks(sessions, ledger)
    big = checks.evaluate(ann, OrderTicket("AAPL", OrderSide.BUY, D(300)))  # $30,000 of $100,000 at $100
    by_type = {r.check_type: r for r in big.results}
    assert big.proposal.price == D(100)
    assert not by_type["position_size"].passed and by_type["position_size"].severity == "warn"
    small = checks.evaluate(ann, OrderTicket("AAPL", OrderSide.BUY, D(10)))
    assert {r.check_type: r for r in small.results}["position_size"].passed


def test_a_limit_order_is_judged_at_its_limit_and_an_unpriced_symbol_says_so(sessions, make_user, ledger):
    ann = make_user("ann")
    checks = TicketChecks(sessions, ledger)
    limit = checks.evaluate(ann, OrderTicket("AAPL", OrderSide.BUY, D(10), type=OrderType.LIMIT, limit_price=D(90)))
    assert limit.proposal.price == D(90)
    with pytest.raises(InvalidJournalInput, match="No price is known for TSLA"):
        checks.evaluate(ann, OrderTicket("TSLA", OrderSide.BUY, D(1)))


def test_the_traders_answer_is_recorded_against_the_placed_order(sessions, make_user, ledger):
    ann = make_user("ann")
    checks = TicketChecks(sessions, ledger)
    # risking $5 to make $2: below the default 1.5 reward/risk
    ticket = OrderTicket("AAPL", OrderSide.BUY, D(10), take_profit_price=D(102), stop_loss_price=D(95))
    evaluation = checks.evaluate(ann, ticket)
    assert [r.check_type for r in evaluation.failed] == ["risk_reward"]
    placed = ledger.place_order(ann, ticket)
    checks.record(ann, evaluation, "proceeded", placed.id)
    stored = list_checks(sessions, ann, order_id=placed.id)
    assert {c.check_type for c in stored} == {r.check_type for r in evaluation.results}
    assert {c.trader_action for c in stored} == {"proceeded"}


def test_following_the_ledger_journals_each_fill_once_in_order(sessions, make_user, ledger, trade):
    ann, bob = make_user("ann"), make_user("bob")
    trade(ann, "buy", "10", "100", T0)
    trade(ann, "sell", "10", "104", T0 + timedelta(minutes=5))
    trade(bob, "buy", "5", "100", T0)
    assert len(unjournaled_fills(sessions, ann)) == 2

    done = journal_new_fills(sessions, ann)
    assert len(done) == 2
    assert done[-1].campaigns[0].is_closed and done[-1].campaigns[0].realized_pnl == D(40)
    closing = next(r.fill for r in list_fills(sessions, ann) if r.fill.side == "sell")
    assert get_context(sessions, ann, fill_id=closing.id) is not None  # post-trade checks hang on it
    assert [c.status for c in list_campaigns(sessions, ann)] == ["closed"]
    assert journal_new_fills(sessions, ann) == []  # seen once: nothing to do the second time
    assert len(unjournaled_fills(sessions, bob)) == 1  # bob's fill is his own client's business


def test_catching_up_is_bounded_per_call(sessions, make_user, ledger, trade):
    ann = make_user("ann")
    for i in range(3):
        trade(ann, "buy", "1", "100", T0 + timedelta(minutes=i))
    assert len(journal_new_fills(sessions, ann, limit=2)) == 2
    assert len(journal_new_fills(sessions, ann, limit=2)) == 0  # the rebuild grouped the symbol's third fill too
