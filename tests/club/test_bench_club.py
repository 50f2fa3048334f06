"""bench.club on a tiny session: the router keeps the account clean where the naive pass-through does not.

Few traders on two symbols and a short session: the router's figures (no account-rule refusal, books that balance,
virtual positions equal to the account's) and at least one refusal for the same script sent order by order. Then
the same with a trade-stream drop in the middle of a fill: nothing may be left unbooked after the reconnection,
and the router's idea of the account's positions must still be the account's. No timings.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench import club

TINY = replace(
    club.Config(),
    traders=6,
    symbols=2,
    watchlist=2,
    orders_per_trader=4,
    bars=14,
    bar_s=0.3,
    entry_chance=0.8,
    drops=0,
    drain_s=15.0,
)


@pytest.fixture(autouse=True)
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def test_the_router_keeps_the_account_clean_where_the_pass_through_is_refused(pg_admin_url: str) -> None:
    router, baseline = club.run(pg_admin_url, TINY)

    assert router.orders > 0
    assert router.router_errors == []
    assert not router.unsettled
    assert router.rule_rejections == {}
    assert router.invariant_violations == 0
    assert router.reconciliation_diffs == {}

    assert baseline.account_rule_rejections >= 1
    assert baseline.tally["refused_by_account"] >= 1


def test_after_a_stream_drop_mid_fill_every_fill_is_booked_and_the_router_knows_the_accounts_positions(
    pg_admin_url: str,
) -> None:
    router, _ = club.run(pg_admin_url, replace(TINY, drops=1))

    assert router.drops == 1 and router.filled_during_drops >= 1
    assert router.missed_fills == 0 and not router.unsettled
    assert router.reconciliation_diffs == {}
    assert router.router_position_diffs == {}
    assert router.rule_rejections == {}
