"""Campaigns stored as campaign_fills: rebuilt deterministically from ledger and imported fills alike."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

from core.journal import campaigns_of_fill, list_campaigns, list_fills, rebuild_campaigns, stored_groups
from tests.journal.helpers import T0, insert_fill

D = Decimal


def test_ledger_and_imported_fills_form_one_history_and_rebuilding_is_idempotent(sessions, make_user, trade):
    ann = make_user("ann")
    trade(ann, "buy", "10", "100", T0, fee="1")
    trade(ann, "buy", "10", "110", T0 + timedelta(minutes=1), fee="1")
    trade(ann, "sell", "15", "120", T0 + timedelta(minutes=2), fee="1.5")
    flip = insert_fill(sessions, ann, "sell", "10", "90", T0 + timedelta(minutes=3), fees="1", source="broker_synced")
    insert_fill(sessions, ann, "buy", "5", "80", T0 + timedelta(minutes=4), fees="0.5", source="broker_synced")
    trade(ann, "buy", "3", "400", T0, symbol="MSFT")

    built = rebuild_campaigns(sessions, ann)
    assert [(c.symbol, c.direction, c.status, c.realized_pnl) for c in built] == [
        ("AAPL", "long", "closed", D(146)),
        ("MSFT", "long", "open", D(0)),
        ("AAPL", "short", "closed", D(49)),
    ]
    groups = stored_groups(sessions, ann)
    assert sum(len(f) for f in groups.values()) == 7  # 6 fills, the flip in two campaigns
    assert groups[flip] == [flip, built[2].fill_ids[1]]
    assert [c.group_id for c in campaigns_of_fill(sessions, ann, flip)] == [built[0].group_id, flip]

    assert rebuild_campaigns(sessions, ann) == built
    assert stored_groups(sessions, ann) == groups
    assert rebuild_campaigns(sessions, ann, "msft")[0].symbol == "MSFT"
    assert stored_groups(sessions, ann) == groups  # one symbol's rebuild keeps the others' rows
    assert list_campaigns(sessions, ann, status="open")[0].symbol == "MSFT"
    assert len(list_campaigns(sessions, ann, symbol="aapl")) == 2
    assert {r.fill.source for r in list_fills(sessions, ann)} == {"ledger", "broker_synced"}
    assert {r.fill.source for r in list_fills(sessions, ann, sources=("ledger",))} == {"ledger"}


def test_concurrent_rebuilds_of_one_trader_do_not_collide(sessions, make_user):
    ann = make_user("ann")
    for k in range(20):
        insert_fill(sessions, ann, "buy" if k % 2 == 0 else "sell", "1", str(100 + k), T0 + timedelta(minutes=k))
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: rebuild_campaigns(sessions, ann), range(8)))
    assert all(r == results[0] for r in results) and len(results[0]) == 10
    assert sum(len(f) for f in stored_groups(sessions, ann).values()) == 20
