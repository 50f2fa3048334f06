"""The Journal service: one database's journal as the Journal panel and the follower use it, each trader
seeing only their own rows."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core.journal import AlreadyAttached, attach_context
from core.services.journal import ContextInput, Journal
from tests.journal.helpers import T0, insert_fill

D = Decimal


@pytest.fixture
def journal(sessions) -> Journal:
    return Journal(sessions)


def test_a_trader_sees_only_their_own_fills(journal, make_user, trade, sessions):
    ann, bob = make_user("ann"), make_user("bob")
    trade(ann, "buy", "3", "100", T0)
    insert_fill(sessions, bob, "buy", "7", "50", T0, symbol="BOBS")

    assert [(r.fill.symbol, r.fill.quantity) for r in journal.fills(ann)] == [("AAPL", D(3))]
    assert [r.fill.symbol for r in journal.fills(bob)] == ["BOBS"]
    assert journal.fills(ann, symbol="BOBS") == []


def test_new_fills_are_journaled_once_into_a_closed_campaign(journal, make_user, trade):
    cyd = make_user("cyd")
    trade(cyd, "buy", "5", "100", T0)
    trade(cyd, "sell", "5", "103", T0 + timedelta(minutes=5))

    assert len(journal.journal_new_fills(cyd)) == 2
    assert journal.journal_new_fills(cyd) == []  # nothing new since
    [campaign] = journal.campaigns(cyd)
    assert campaign.is_closed and campaign.realized_pnl == D(15)


def test_a_fill_detail_suggests_the_context_its_fill_calls_for(journal, make_user, trade):
    dee = make_user("dee")
    trade(dee, "buy", "2", "100", T0)
    trade(dee, "sell", "2", "101", T0 + timedelta(minutes=1))
    sell, buy = journal.fills(dee)  # newest first

    assert journal.fill_detail(dee, buy.fill).suggested_type == "entry"
    exit_detail = journal.fill_detail(dee, sell.fill)
    assert exit_detail.suggested_type == "exit" and exit_detail.context is None


def test_saving_a_context_that_appeared_meanwhile_updates_it_instead_of_failing(journal, make_user, trade, sessions):
    eve = make_user("eve")
    trade(eve, "buy", "1", "100", T0)
    [row] = journal.fills(eve)
    bare = attach_context(sessions, eve, row.fill.id, "entry")  # as the follower does, to hang checks on
    with pytest.raises(AlreadyAttached):
        attach_context(sessions, eve, row.fill.id, "entry")

    form = ContextInput("entry", "Bought the breakout", None, None, hypothesis="It holds above 99")
    saved = journal.save_context(eve, row.fill.id, None, form)  # the form still thought there was none
    assert saved.id == bare.id
    assert saved.notes == "Bought the breakout" and saved.hypothesis == "It holds above 99"
    assert journal.fill_detail(eve, row.fill).context == saved


def test_entries_are_written_found_and_deleted_for_their_author_only(journal, make_user):
    fay, gus = make_user("fay"), make_user("gus")
    entry = journal.create_entry(fay, T0.date(), "Chased the gap at the open", tags=["discipline"], mood="tense")

    assert [e.id for e in journal.search_entries(fay, text="chased")] == [entry.id]
    assert journal.search_entries(gus) == []
    journal.update_entry(fay, entry.id, content="Waited for the pullback")
    assert journal.search_entries(fay, text="chased") == []
    journal.delete_entry(fay, entry.id)
    assert journal.search_entries(fay) == []


def test_an_imported_csv_reaches_the_journal_and_not_the_account(journal, make_user, tmp_path, ledger):
    hal = make_user("hal")
    path = tmp_path / "fills.csv"
    path.write_text("symbol,side,quantity,price,fees,executed_at,trade_id\nAAPL,buy,10,100,1,2026-03-02 14:31:00,T-1\n")

    report = journal.import_fills_csv(hal, path)
    assert (report.imported, report.rejected) == (1, 0)
    assert [r.fill.source for r in journal.fills(hal)] == ["csv_import"]
    assert not ledger.portfolio(hal).positions  # the virtual account is the ledger's alone
