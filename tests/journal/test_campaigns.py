"""FIFO zero-crossing campaigns on hand-worked sequences (pure: no database)."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from core.journal.campaigns import (
    CLOSED,
    LONG,
    OPEN,
    SHORT,
    build_campaigns,
    infer_context_type,
    memberships,
    positions_before,
)
from tests.journal.helpers import at, fid, jf

D = Decimal


def test_a_round_trip_is_one_closed_campaign_with_pnl_after_fees():
    (c,) = build_campaigns([jf(1, "buy", "10", "100", 0, fees="1"), jf(2, "sell", "10", "110", 10, fees="1")])
    assert (c.group_id, c.symbol, c.direction, c.status) == (fid(1), "AAPL", LONG, CLOSED)
    assert (c.gross_pnl, c.fees, c.realized_pnl) == (D("100"), D("2"), D("98"))
    assert (c.max_position, c.max_cost, c.return_on_max_cost) == (D(10), D(1000), D("0.098"))
    assert (c.opened_at, c.closed_at, c.holding_time, c.num_fills) == (at(0), at(10), timedelta(minutes=10), 2)
    assert (c.avg_entry_price, c.avg_exit_price) == (D(100), D(110))
    assert c.is_win and not c.is_loss


def test_scale_in_partial_close_and_a_flip_through_zero():
    """Buy 10@100 and 10@110, sell 15@120 (FIFO: 10 of the first lot, 5 of the second), then sell 10@90:
    5 close the long, 5 open a short, the fee split 50/50; the short is covered at 80."""
    fills = [
        jf(1, "buy", "10", "100", 0, fees="1"),
        jf(2, "buy", "10", "110", 1, fees="1"),
        jf(3, "sell", "15", "120", 2, fees="1.5"),
        jf(4, "sell", "10", "90", 3, fees="1"),
        jf(5, "buy", "5", "80", 4, fees="0.5"),
    ]
    long, short = build_campaigns(fills)

    # 10 x (120 - 100) + 5 x (120 - 110) + 5 x (90 - 110) = 150; fees 1 + 1 + 1.5 + 0.5 = 4.
    assert (long.group_id, long.direction, long.status) == (fid(1), LONG, CLOSED)
    assert (long.gross_pnl, long.fees, long.realized_pnl) == (D(150), D(4), D(146))
    assert (long.max_position, long.max_cost) == (D(20), D(2100))
    assert long.return_on_max_cost == D("0.069524")  # 146 / 2100
    assert long.fill_ids == (fid(1), fid(2), fid(3), fid(4))
    assert [e.position_after for e in long.effects] == [D(10), D(20), D(5), D(0)]
    assert [e.gross_pnl for e in long.effects] == [0, 0, D(250), D(-100)]
    assert (long.closed_at, long.exit_quantity) == (at(3), D(20))

    # The flip fill opens the short: (90 - 80) x 5 = 50, fees 0.5 + 0.5.
    assert (short.group_id, short.direction, short.status) == (fid(4), SHORT, CLOSED)
    assert short.fill_ids == (fid(4), fid(5))
    assert (short.gross_pnl, short.fees, short.realized_pnl, short.max_cost) == (D(50), D(1), D(49), D(450))
    assert [e.position_after for e in short.effects] == [D(-5), D(0)]
    assert (short.opened_at, short.closed_at) == (at(3), at(4))

    assert memberships([long, short]).count((fid(4), fid(4))) == 1
    assert (fid(1), fid(4)) in memberships([long, short])


def test_a_flip_splits_its_fee_so_the_two_shares_add_up():
    long, short = build_campaigns([jf(1, "buy", "1", "10", 0), jf(2, "sell", "3", "11", 1, fees="1")])
    assert long.fees == D("0.333333") and short.fees == D("0.666667")
    assert long.fees + short.fees == D(1)
    assert long.realized_pnl == D("0.666667")  # 1 x (11 - 10) - 0.333333
    assert (short.open_quantity, short.open_cost, short.status) == (D(2), D(22), OPEN)


def test_an_open_campaign_reports_what_the_closes_so_far_made():
    (c,) = build_campaigns([jf(1, "buy", "10", "100", 0, fees="1"), jf(2, "sell", "4", "105", 5, fees="0.4")])
    assert (c.status, c.closed_at, c.holding_time) == (OPEN, None, None)
    assert (c.gross_pnl, c.realized_pnl) == (D(20), D("18.6"))  # 4 x 5 - 1.4
    assert (c.open_quantity, c.open_cost, c.max_cost) == (D(6), D(600), D(1000))
    assert not c.is_win and not c.is_loss


def test_short_campaigns_from_broker_imports():
    (c,) = build_campaigns([jf(1, "sell", "10", "50", 0), jf(2, "buy", "4", "45", 1), jf(3, "buy", "6", "52", 2)])
    # (50 - 45) x 4 + (50 - 52) x 6 = 20 - 12
    assert (c.direction, c.realized_pnl, c.max_cost, c.status) == (SHORT, D(8), D(500), CLOSED)


def test_fractional_shares_are_exact_to_the_micro_dollar():
    (c,) = build_campaigns([jf(1, "buy", "0.5", "100.123456", 0), jf(2, "sell", "0.5", "101", 1, fees="0.01")])
    assert c.gross_pnl == D("0.438272")  # 0.5 x 0.876544
    assert c.realized_pnl == D("0.428272")
    assert round(c.realized_pnl, 2) == D("0.43")


def test_back_to_flat_then_a_new_campaign():
    first, second = build_campaigns([jf(1, "buy", "10", "10", 0), jf(2, "sell", "10", "12", 1),
                                     jf(3, "buy", "5", "11", 2)])  # fmt: skip
    assert (first.group_id, first.status, first.realized_pnl) == (fid(1), CLOSED, D(20))
    assert (second.group_id, second.fill_ids, second.status) == (fid(3), (fid(3),), OPEN)


def test_symbols_are_grouped_apart_and_campaigns_come_in_opening_order():
    fills = [
        jf(1, "buy", "10", "100", 0, symbol="MSFT"),
        jf(2, "buy", "5", "50", 1, symbol="AAPL"),
        jf(3, "sell", "10", "90", 2, symbol="MSFT"),
        jf(4, "buy", "5", "60", 3, symbol="AAPL"),
        jf(5, "sell", "10", "70", 4, symbol="AAPL"),
    ]
    msft, aapl = build_campaigns(fills)
    assert (msft.symbol, msft.fill_ids, msft.realized_pnl) == ("MSFT", (fid(1), fid(3)), D(-100))
    assert (aapl.symbol, aapl.fill_ids, aapl.realized_pnl) == ("AAPL", (fid(2), fid(4), fid(5)), D(150))
    assert msft.is_loss and aapl.is_win


def test_the_grouping_does_not_depend_on_the_input_order():
    sides = {"b": "buy", "s": "sell"}
    fills = [jf(n, sides[c], "3", str(100 + n), n) for n, c in enumerate("bbsssbbssb", start=1)]
    expected = build_campaigns(fills)
    shuffled = fills[:]
    random.Random(7).shuffle(shuffled)
    assert build_campaigns(shuffled) == expected


def test_same_timestamp_ties_follow_created_at_then_execution_id():
    """Long 10, then at one instant a sell of 10 and a buy of 10: the order they were written decides."""
    opening = jf(1, "buy", "10", "100", 0)
    sell_first = [opening, jf(2, "sell", "10", "101", 5, created=5), jf(3, "buy", "10", "102", 5, created=5.001)]
    closed, reopened = build_campaigns(sell_first)
    assert (closed.fill_ids, closed.realized_pnl) == ((fid(1), fid(2)), D(10))
    assert (reopened.group_id, reopened.status) == (fid(3), OPEN)

    buy_first = [opening, jf(2, "sell", "10", "101", 5, created=5.001), jf(3, "buy", "10", "102", 5, created=5)]
    (one,) = build_campaigns(buy_first)
    assert (one.fill_ids, one.status, one.max_position) == ((fid(1), fid(3), fid(2)), OPEN, D(20))
    assert one.realized_pnl == D(10)  # FIFO: the sell closes the 100 lot

    by_id = [opening, jf(2, "sell", "10", "101", 5, created=5, execution_id="b"),
             jf(3, "buy", "10", "102", 5, created=5, execution_id="a")]  # fmt: skip
    assert len(build_campaigns(by_id)) == 1  # "a" (the buy) before "b"


def test_what_each_fill_did_to_the_position():
    assert infer_context_type(D(0), D(5)) == "entry"
    assert infer_context_type(D(5), D(5)) == "add"
    assert infer_context_type(D(-5), D(-1)) == "add"
    assert infer_context_type(D(5), D(-2)) == "reduce"
    assert infer_context_type(D(5), D(-5)) == "exit"
    assert infer_context_type(D(5), D(-8)) == "exit"  # a flip ends the campaign first
    before = positions_before(
        [jf(2, "sell", "3", "10", 1), jf(1, "buy", "5", "10", 0), jf(3, "buy", "1", "9", 2, symbol="MSFT")]
    )
    assert before == {fid(1): D(0), fid(2): D(5), fid(3): D(0)}
