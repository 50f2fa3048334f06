"""The trade journal: another trader's fill, decision context, check, order, campaign, entry or private strategy
is "not found" to every journal function and to the Journal service, exactly like a made-up id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from core.db.models import Fill
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.journal import (
    JournalFill,
    NotFound,
    ProposedOrder,
    acknowledge_check,
    after_fill,
    attach_context,
    campaigns_of_fill,
    create_entry,
    delete_entry,
    evaluate_order,
    get_context,
    get_entry,
    link_checks_to_fill,
    list_checks,
    list_contexts,
    list_fills,
    record_pre_trade_response,
    run_post_trade_checks,
    search_entries,
    update_context,
    update_entry,
)
from core.journal.ticket_checks import TicketChecks
from core.services.journal import ContextInput, Journal
from tests.scoping.rows import T0, saved_strategy

DAY = date(2026, 3, 2)
MISSING = uuid.uuid4()


@dataclass(frozen=True)
class Journaled:
    """One trader's journal: a round trip through the ledger (bought on a recorded pre-trade evaluation, sold
    at a loss), journaled; a context on the entry fill, an entry about the exit fill, a private strategy."""

    order_id: uuid.UUID
    entry_fill: JournalFill
    exit_fill: JournalFill
    context_id: uuid.UUID
    check_id: uuid.UUID
    group_id: uuid.UUID
    entry_id: uuid.UUID
    strategy_id: uuid.UUID


def journaled(sessions, ledger, broker, user_id: uuid.UUID) -> Journaled:
    proposal = ProposedOrder("AAPL", "buy", D(10), D(100))
    evaluation = evaluate_order(sessions, user_id, proposal, ledger.portfolio(user_id), now=T0)
    assert evaluation.results, "the evaluation must hold checks for record_pre_trade_response to store"
    bought = ledger.place_order(user_id, OrderTicket("AAPL", OrderSide.BUY, D(10)))
    (check_id, *_) = record_pre_trade_response(sessions, user_id, evaluation, "proceeded", order_id=bought.id)
    broker.fill(bought.client_order_id, "10", "100", at=T0)
    sold = ledger.place_order(user_id, OrderTicket("AAPL", OrderSide.SELL, D(10)))
    broker.fill(sold.client_order_id, "10", "90", at=T0 + timedelta(minutes=10))
    entry_fill, exit_fill = sorted((r.fill for r in list_fills(sessions, user_id)), key=lambda f: f.executed_at)
    after_fill(sessions, user_id, entry_fill.id, now=T0 + timedelta(hours=1))
    (campaign,) = after_fill(sessions, user_id, exit_fill.id, now=T0 + timedelta(hours=1)).campaigns
    context = get_context(sessions, user_id, fill_id=entry_fill.id)
    assert context is not None  # created to hang the pre-trade checks on
    entry = create_entry(sessions, user_id, DAY, "Lost on AAPL", fill_id=exit_fill.id)
    strategy = saved_strategy(sessions, user_id, "Private")
    return Journaled(bought.id, entry_fill, exit_fill, context.id, check_id, campaign.group_id, entry.id, strategy.id)


@pytest.fixture
def anns(sessions, ledger, broker, ann) -> Journaled:
    return journaled(sessions, ledger, broker, ann)


@pytest.fixture
def bobs_fill(sessions, ledger, broker, bob) -> uuid.UUID:
    """A fill of Bob's own, to hang Ann's ids on."""
    placed = ledger.place_order(bob, OrderTicket("MSFT", OrderSide.BUY, D(1)))
    broker.fill(placed.client_order_id, "1", "400", at=T0)
    with sessions() as s:
        return s.scalars(select(Fill.id).where(Fill.user_id == bob)).one()


def _not_found(refused, theirs, missing) -> str:
    return refused(NotFound, theirs, missing)


# --- decision contexts (core.journal.contexts) ---


def test_attach_context_refuses_another_traders_fill(sessions, bob, anns, refused) -> None:
    assert _not_found(refused, lambda: attach_context(sessions, bob, anns.exit_fill.id, "exit"),
                      lambda: attach_context(sessions, bob, MISSING, "exit")) == "No such fill."  # fmt: skip


def test_attach_context_refuses_another_traders_private_strategy(sessions, bob, anns, bobs_fill, refused) -> None:
    assert _not_found(refused, lambda: attach_context(sessions, bob, bobs_fill, "entry", strategy_id=anns.strategy_id),
                      lambda: attach_context(sessions, bob, bobs_fill, "entry", strategy_id=MISSING),
                      ) == "No such strategy."  # fmt: skip


def test_update_context_refuses_another_traders_context(sessions, bob, anns, refused) -> None:
    _not_found(refused, lambda: update_context(sessions, bob, anns.context_id, notes="mine now"),
               lambda: update_context(sessions, bob, MISSING, notes="mine now"))  # fmt: skip


def test_update_context_refuses_another_traders_private_strategy(sessions, bob, anns, bobs_fill, refused) -> None:
    own = attach_context(sessions, bob, bobs_fill, "entry")
    _not_found(refused, lambda: update_context(sessions, bob, own.id, strategy_id=anns.strategy_id),
               lambda: update_context(sessions, bob, own.id, strategy_id=MISSING))  # fmt: skip


def test_get_context_of_another_traders_context_or_fill_is_none(sessions, bob, anns, answered_as_missing) -> None:
    assert answered_as_missing(lambda: get_context(sessions, bob, context_id=anns.context_id),
                               lambda: get_context(sessions, bob, context_id=MISSING)) is None  # fmt: skip
    assert answered_as_missing(lambda: get_context(sessions, bob, fill_id=anns.entry_fill.id),
                               lambda: get_context(sessions, bob, fill_id=MISSING)) is None  # fmt: skip


def test_list_contexts_of_another_traders_fills_is_empty(sessions, bob, anns, answered_as_missing) -> None:
    assert answered_as_missing(lambda: list_contexts(sessions, bob, [anns.entry_fill.id]),
                               lambda: list_contexts(sessions, bob, [MISSING])) == {}  # fmt: skip


# --- campaigns (core.journal.campaign_store, core.journal.post_trade_service) ---


def test_campaigns_of_fill_refuses_another_traders_fill(sessions, bob, anns, refused) -> None:
    _not_found(refused, lambda: campaigns_of_fill(sessions, bob, anns.exit_fill.id),
               lambda: campaigns_of_fill(sessions, bob, MISSING))  # fmt: skip


def test_run_post_trade_checks_refuses_another_traders_campaign(sessions, bob, anns, refused) -> None:
    _not_found(refused, lambda: run_post_trade_checks(sessions, bob, anns.group_id, now=T0),
               lambda: run_post_trade_checks(sessions, bob, MISSING, now=T0))  # fmt: skip


def test_after_fill_refuses_another_traders_fill(sessions, bob, anns, refused) -> None:
    _not_found(refused, lambda: after_fill(sessions, bob, anns.exit_fill.id, now=T0),
               lambda: after_fill(sessions, bob, MISSING, now=T0))  # fmt: skip


# --- checks (core.journal.check_records, core.journal.ticket_checks) ---


def _bobs_evaluation(sessions, ledger, bob):
    evaluation = evaluate_order(sessions, bob, ProposedOrder("AAPL", "buy", D(10), D(100)), ledger.portfolio(bob),
                                now=T0)  # fmt: skip
    assert evaluation.results
    return evaluation


def test_record_pre_trade_response_refuses_another_traders_order(sessions, ledger, bob, anns, refused) -> None:
    evaluation = _bobs_evaluation(sessions, ledger, bob)
    assert _not_found(
        refused,
        lambda: record_pre_trade_response(sessions, bob, evaluation, "proceeded", order_id=anns.order_id),
        lambda: record_pre_trade_response(sessions, bob, evaluation, "proceeded", order_id=MISSING),
    ) == "No such order."  # fmt: skip


def test_ticket_checks_record_refuses_another_traders_order(sessions, ledger, bob, anns, refused) -> None:
    checks, evaluation = TicketChecks(sessions, ledger), _bobs_evaluation(sessions, ledger, bob)
    _not_found(refused, lambda: checks.record(bob, evaluation, "proceeded", anns.order_id),
               lambda: checks.record(bob, evaluation, "proceeded", MISSING))  # fmt: skip


def test_link_checks_to_fill_refuses_another_traders_fill(sessions, bob, anns, refused) -> None:
    _not_found(refused, lambda: link_checks_to_fill(sessions, bob, anns.entry_fill.id),
               lambda: link_checks_to_fill(sessions, bob, MISSING))  # fmt: skip


def test_list_checks_of_another_traders_context_or_order_is_empty(sessions, bob, anns, answered_as_missing) -> None:
    assert answered_as_missing(lambda: list_checks(sessions, bob, decision_context_id=anns.context_id),
                               lambda: list_checks(sessions, bob, decision_context_id=MISSING)) == []  # fmt: skip
    assert answered_as_missing(lambda: list_checks(sessions, bob, order_id=anns.order_id),
                               lambda: list_checks(sessions, bob, order_id=MISSING)) == []  # fmt: skip


def test_acknowledge_check_refuses_another_traders_check(sessions, bob, anns, refused) -> None:
    _not_found(refused, lambda: acknowledge_check(sessions, bob, anns.check_id),
               lambda: acknowledge_check(sessions, bob, MISSING))  # fmt: skip


# --- entries (core.journal.entries) ---


def test_create_entry_refuses_another_traders_fill(sessions, bob, anns, refused) -> None:
    _not_found(refused, lambda: create_entry(sessions, bob, DAY, "about her fill", fill_id=anns.exit_fill.id),
               lambda: create_entry(sessions, bob, DAY, "about her fill", fill_id=MISSING))  # fmt: skip


def test_update_entry_refuses_another_traders_entry_or_fill(sessions, bob, anns, refused) -> None:
    _not_found(refused, lambda: update_entry(sessions, bob, anns.entry_id, content="mine now"),
               lambda: update_entry(sessions, bob, MISSING, content="mine now"))  # fmt: skip
    own = create_entry(sessions, bob, DAY, "my day")
    _not_found(refused, lambda: update_entry(sessions, bob, own.id, fill_id=anns.exit_fill.id),
               lambda: update_entry(sessions, bob, own.id, fill_id=MISSING))  # fmt: skip


def test_delete_entry_refuses_another_traders_entry(sessions, bob, anns, refused) -> None:
    _not_found(refused, lambda: delete_entry(sessions, bob, anns.entry_id),
               lambda: delete_entry(sessions, bob, MISSING))  # fmt: skip


def test_get_entry_refuses_another_traders_entry(sessions, bob, anns, refused) -> None:
    _not_found(refused, lambda: get_entry(sessions, bob, anns.entry_id), lambda: get_entry(sessions, bob, MISSING))


def test_search_entries_about_another_traders_fill_is_empty(sessions, bob, anns, answered_as_missing) -> None:
    assert answered_as_missing(lambda: search_entries(sessions, bob, fill_id=anns.exit_fill.id),
                               lambda: search_entries(sessions, bob, fill_id=MISSING)) == []  # fmt: skip


# --- core.services.journal.Journal (the Journal panel's service) ---

FORM = ContextInput("exit", notes="mine now", feelings_now=None, strategy_id=None)


def test_journal_fill_detail_refuses_another_traders_fill(sessions, bob, anns, refused) -> None:
    journal = Journal(sessions)
    made_up = JournalFill(MISSING, "AAPL", "sell", D(10), D(90), D(0), T0)
    _not_found(refused, lambda: journal.fill_detail(bob, anns.exit_fill), lambda: journal.fill_detail(bob, made_up))


def test_journal_save_context_refuses_another_traders_fill_or_context(sessions, bob, anns, refused) -> None:
    journal = Journal(sessions)
    _not_found(refused, lambda: journal.save_context(bob, anns.exit_fill.id, None, FORM),
               lambda: journal.save_context(bob, MISSING, None, FORM))  # fmt: skip
    _not_found(refused, lambda: journal.save_context(bob, anns.entry_fill.id, anns.context_id, FORM),
               lambda: journal.save_context(bob, MISSING, MISSING, FORM))  # fmt: skip


def test_journal_acknowledge_check_refuses_another_traders_check(sessions, bob, anns, refused) -> None:
    journal = Journal(sessions)
    _not_found(refused, lambda: journal.acknowledge_check(bob, anns.check_id),
               lambda: journal.acknowledge_check(bob, MISSING))  # fmt: skip


def test_journal_create_entry_refuses_another_traders_fill(sessions, bob, anns, refused) -> None:
    journal = Journal(sessions)
    _not_found(refused, lambda: journal.create_entry(bob, DAY, "hers", fill_id=anns.exit_fill.id),
               lambda: journal.create_entry(bob, DAY, "hers", fill_id=MISSING))  # fmt: skip


def test_journal_update_entry_refuses_another_traders_entry(sessions, bob, anns, refused) -> None:
    journal = Journal(sessions)
    _not_found(refused, lambda: journal.update_entry(bob, anns.entry_id, content="mine now"),
               lambda: journal.update_entry(bob, MISSING, content="mine now"))  # fmt: skip


def test_journal_delete_entry_refuses_another_traders_entry(sessions, bob, anns, refused) -> None:
    journal = Journal(sessions)
    _not_found(refused, lambda: journal.delete_entry(bob, anns.entry_id), lambda: journal.delete_entry(bob, MISSING))
