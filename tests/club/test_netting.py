"""The routing step's arithmetic (core.club.netting), without a database or a broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from core.club.netting import AllocationKind, Due, DueKind, Purpose, allocate, plan_step, street_quantity
from core.domain.orders import OrderSide

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
T0 = datetime(2026, 12, 7, 15, tzinfo=UTC)


def due(side: OrderSide, qty: str, seconds: int = 0, kind: DueKind = DueKind.MARKET) -> Due:
    return Due(uuid.uuid4(), side, D(qty), T0 + timedelta(seconds=seconds), kind)


def test_the_smaller_side_is_crossed_against_the_earliest_of_the_larger_and_only_the_net_goes_out():
    early, late = due(BUY, "10", 0), due(BUY, "6", 5)
    sell = due(SELL, "12", 1)
    plan = plan_step("AAPL", [late, sell, early], position=D(0))
    assert plan is not None and plan.side is BUY and plan.street_qty == 4 and plan.crossed_qty == 12
    kinds = {(a.order_id, a.kind): a.qty for a in plan.allocations}
    assert kinds == {
        (sell.order_id, AllocationKind.CROSS): D(12),
        (early.order_id, AllocationKind.CROSS): D(10),
        (late.order_id, AllocationKind.CROSS): D(2),
        (late.order_id, AllocationKind.STREET): D(4),
    }


def test_a_net_that_would_cross_zero_sends_only_the_closing_part():
    plan = plan_step("AAPL", [due(SELL, "15")], position=D(10))
    assert plan is not None and plan.purpose is Purpose.CLOSE and plan.side is SELL and plan.street_qty == 10
    (street,) = [a for a in plan.allocations if a.kind is AllocationKind.STREET]
    assert street.qty == 10  # the other 5 stay due: the next step opens the short


def test_a_short_opens_in_whole_shares_only():
    assert street_quantity(D("7.5"), SELL, D(0)) == 7
    assert street_quantity(D("7.5"), SELL, D("2.5")) == D("2.5")  # closing a fractional long is fine
    assert street_quantity(D("0.4"), SELL, D(0)) == 0
    assert plan_step("AAPL", [due(SELL, "0.4")], position=D(0)) is None


def test_quantities_the_account_owes_come_first_in_the_street_allocation():
    market = due(BUY, "5", 0)
    follow = due(BUY, "3", 10, DueKind.FOLLOW)
    plan = plan_step("AAPL", [market, follow], position=D(0))
    assert plan is not None and plan.street_qty == 8
    rows = [(a.order_id, a.kind, a.priority, a.qty, a.filled) for a in plan.allocations]
    shares = allocate(rows, D(4))
    assert [(s.order_id, s.qty) for s in shares] == [(follow.order_id, D(3)), (market.order_id, D(1))]


def test_partial_street_fills_fill_the_earliest_order_completely_first():
    first, second, third = due(BUY, "10", 0), due(BUY, "5", 1), due(BUY, "5", 2)
    plan = plan_step("AAPL", [third, first, second], position=D(0))
    assert plan is not None
    rows = [(a.order_id, a.kind, a.priority, a.qty, a.filled) for a in plan.allocations]
    assert [(s.order_id, s.qty) for s in allocate(rows, D(12))] == [(first.order_id, D(10)), (second.order_id, D(2))]


quantities = st.decimals(min_value=D("0.01"), max_value=D(500), places=2)
dues = st.lists(st.tuples(st.sampled_from([BUY, SELL]), quantities, st.booleans()), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(dues, st.decimals(min_value=D(-300), max_value=D(300), places=2), st.decimals(min_value=0, max_value=1))
def test_every_plan_conserves_quantity_and_never_crosses_zero(items, position, fill_fraction):
    orders = [due(side, str(qty), i, DueKind.FOLLOW if follow else DueKind.MARKET)
              for i, (side, qty, follow) in enumerate(items)]  # fmt: skip
    plan = plan_step("AAPL", orders, position)
    bought = sum((o.qty for o in orders if o.side is BUY), D(0))
    sold = sum((o.qty for o in orders if o.side is SELL), D(0))
    if plan is None:
        return
    assert plan.crossed_qty == min(bought, sold)
    assert plan.street_qty <= abs(bought - sold)
    if plan.side is not None:
        signed = plan.street_qty if plan.side is BUY else -plan.street_qty
        after = position + signed
        assert after == 0 or (after > 0) == (position > 0) or position == 0  # never through zero in one order
        if after < 0 and position >= 0:
            assert plan.street_qty == plan.street_qty.to_integral_value()  # a short opens in whole shares
    by_order: dict[uuid.UUID, Decimal] = {}
    for a in plan.allocations:
        by_order[a.order_id] = by_order.get(a.order_id, D(0)) + a.qty
    for o in orders:
        assert by_order.get(o.order_id, D(0)) <= o.qty
    street_side = sum((a.qty - a.filled for a in plan.allocations if a.kind is not AllocationKind.CROSS
                       and (a.kind is AllocationKind.STREET or a.filled < a.qty)), D(0))  # fmt: skip
    assert street_side == plan.street_qty
    executed = (plan.street_qty * fill_fraction).quantize(D("0.01"))
    rows = [(a.order_id, a.kind, a.priority, a.qty, a.filled) for a in plan.allocations]
    assert sum((s.qty for s in allocate(rows, executed)), D(0)) == min(executed, plan.street_qty)
