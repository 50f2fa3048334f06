"""One trader's journal is invisible to, and unchangeable by, another (the database is shared by a club)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from core.journal import (
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
    import_fills_text,
    list_campaigns,
    list_checks,
    list_contexts,
    list_fills,
    overall_stats,
    rebuild_campaigns,
    run_post_trade_checks,
    search_entries,
    stored_groups,
    strategy_stats,
    update_context,
    update_entry,
)
from tests.journal.helpers import T0

D = Decimal
ANNS_FILE = (
    "symbol,side,quantity,price,executed_at,trade_id\n"
    "AAPL,buy,10,100,2026-03-02T15:00:00Z,1\n"
    "AAPL,sell,10,90,2026-03-02T15:10:00Z,2\n"
)


def test_another_trader_sees_and_changes_nothing_of_mine(sessions, make_user, ledger):
    ann, bob = make_user("ann"), make_user("bob")
    import_fills_text(sessions, ann, ANNS_FILE, now=T0 + timedelta(hours=1))
    entry_fill, exit_fill = sorted((r.fill for r in list_fills(sessions, ann)), key=lambda f: f.executed_at)
    ctx = attach_context(sessions, ann, entry_fill.id, "entry", hypothesis="mine")
    done = after_fill(sessions, ann, exit_fill.id, now=T0 + timedelta(hours=1))
    (campaign,) = done.campaigns
    entry = create_entry(sessions, ann, date(2026, 3, 2), "Lost on AAPL", tags=["loss"], fill_id=exit_fill.id)
    (nudge,) = [c for c in list_checks(sessions, ann) if not c.passed]

    # Bob reads nothing of Ann's.
    assert list_fills(sessions, bob) == [] and list_campaigns(sessions, bob) == []
    assert list_contexts(sessions, bob) == {} and list_checks(sessions, bob) == []
    assert search_entries(sessions, bob) == [] and search_entries(sessions, bob, text="AAPL") == []
    assert strategy_stats(sessions, bob) == [] and overall_stats(sessions, bob).campaigns == 0
    assert stored_groups(sessions, bob) == {}
    assert get_context(sessions, bob, context_id=ctx.id) is None
    assert get_context(sessions, bob, fill_id=entry_fill.id) is None
    # Ann's losing close is no reason to nudge Bob.
    evaluation = evaluate_order(sessions, bob, ProposedOrder("AAPL", "buy", D(1), D(100)), ledger.portfolio(bob),
                                now=T0 + timedelta(minutes=11))  # fmt: skip
    assert evaluation.passed

    # Bob changes nothing of Ann's.
    for attempt in (
        lambda: attach_context(sessions, bob, exit_fill.id, "exit"),
        lambda: update_context(sessions, bob, ctx.id, notes="hijacked"),
        lambda: campaigns_of_fill(sessions, bob, entry_fill.id),
        lambda: run_post_trade_checks(sessions, bob, campaign.group_id),
        lambda: after_fill(sessions, bob, exit_fill.id),
        lambda: get_entry(sessions, bob, entry.id),
        lambda: update_entry(sessions, bob, entry.id, content="hijacked"),
        lambda: delete_entry(sessions, bob, entry.id),
        lambda: create_entry(sessions, bob, date(2026, 3, 2), "about her fill", fill_id=exit_fill.id),
        lambda: acknowledge_check(sessions, bob, nudge.id),
    ):
        with pytest.raises(NotFound):
            attempt()
    rebuild_campaigns(sessions, bob)  # Bob's rebuild rewrites only Bob's rows

    assert get_context(sessions, ann, context_id=ctx.id).notes is None
    assert get_entry(sessions, ann, entry.id).content == "Lost on AAPL"
    assert not next(c for c in list_checks(sessions, ann) if c.id == nudge.id).acknowledged
    assert stored_groups(sessions, ann) == {campaign.group_id: [entry_fill.id, exit_fill.id]}
    assert [c.group_id for c in list_campaigns(sessions, ann)] == [campaign.group_id]
