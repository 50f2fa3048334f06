"""The virtualization proxy against a real PostgreSQL, driven by a hand-controlled broker."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.broker.errors import BrokerRejected, BrokerUnavailable
from core.db.models import Fill, Order, Position, PositionHistory, User
from core.domain.orders import Asset, OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.ledger.errors import OrderRejected, UnknownOrder
from core.ledger.invariant import check_user
from core.ledger.service import Ledger

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def buy(qty: str, symbol: str = "AAPL", **kw) -> OrderTicket:
    return OrderTicket(symbol, BUY, D(qty), **kw)


def sell(qty: str, symbol: str = "AAPL", **kw) -> OrderTicket:
    return OrderTicket(symbol, SELL, D(qty), **kw)


def user_row(db, user_id) -> User:
    with db.session_factory() as s:
        return s.get(User, user_id)


def order_row(db, order_id) -> Order:
    with db.session_factory() as s:
        return s.get(Order, order_id)


def position(db, user_id, symbol="AAPL") -> Position | None:
    with db.session_factory() as s:
        return s.scalar(select(Position).where(Position.user_id == user_id, Position.symbol == symbol))


def assert_books_balance(db, *user_ids) -> None:
    with db.session_factory() as s:
        for uid in user_ids:
            report = check_user(s, uid)
            assert report.holds, report


def test_market_buy_reserves_then_fills_and_releases(db, ledger, broker, make_user):
    alice = make_user("alice")
    placed = ledger.place_order(alice, buy("10"))
    assert placed.status == "accepted"
    assert placed.reserved == D("1030.000000")  # 10 x $100 last price + 3% market collar
    u = user_row(db, alice)
    assert (u.virtual_balance, u.reserved_balance) == (D("98970"), D("1030"))
    assert broker.submitted[0].client_order_id == placed.client_order_id == f"sf-{placed.id.hex}"

    broker.fill(placed.client_order_id, "10", "100.25", fee="1.00")
    u = user_row(db, alice)
    assert u.virtual_balance == D("100000") - D("1002.50") - D("1.00")
    assert u.reserved_balance == 0 and u.fees_paid == D("1")
    pos = position(db, alice)
    assert (pos.quantity, pos.average_entry_price, pos.cost_basis, pos.status) == (
        D("10"),
        D("100.25"),
        D("1002.5"),
        "OPEN",
    )
    assert order_row(db, placed.id).status == "filled"
    assert_books_balance(db, alice)


def test_sell_realizes_pnl_on_the_cost_basis(db, ledger, broker, make_user):
    bob = make_user("bob")
    first = ledger.place_order(bob, buy("3"))
    broker.fill(first.client_order_id, "3", "100")
    second = ledger.place_order(bob, buy("1", limit_price=D("101"), type=OrderType.LIMIT))
    broker.fill(second.client_order_id, "1", "101")
    exit_ = ledger.place_order(bob, sell("2"))
    broker.fill(exit_.client_order_id, "2", "110")
    pos = position(db, bob)
    assert pos.quantity == 2
    assert pos.realized_pnl == D("2") * D("110") - D("401") / 2  # avg cost 100.25 on the 2 sold
    assert pos.cost_basis == D("200.5")
    with db.session_factory() as s:
        actions = s.scalars(
            select(PositionHistory.action).order_by(PositionHistory.timestamp, PositionHistory.quantity)
        ).all()
    assert sorted(actions) == ["DECREASE", "INCREASE", "OPEN"]
    assert_books_balance(db, bob)


def test_selling_beyond_the_free_shares_of_a_stock_that_cannot_be_shorted_is_rejected_with_the_reason(
    db, ledger, broker, make_user
):
    """Shares already promised to working sells are not free: the third of these sells would go 1 short."""
    broker.assets["AAPL"] = Asset("AAPL", fractionable=True, shortable=False)
    carol = make_user("carol")
    placed = ledger.place_order(carol, buy("5"))
    broker.fill(placed.client_order_id, "5", "100")
    ledger.place_order(carol, sell("3", type=OrderType.LIMIT, limit_price=D("120")))
    ledger.place_order(carol, sell("2"))
    with pytest.raises(OrderRejected, match="Cannot sell 1 AAPL short: AAPL is not shortable") as exc:
        ledger.place_order(carol, sell("1", type=OrderType.LIMIT, limit_price=D("121")))
    assert exc.value.rule == "short_sale"
    assert len(broker.submitted) == 3


def test_partial_fill_then_cancel_releases_the_rest(db, ledger, broker, make_user):
    dan = make_user("dan")
    placed = ledger.place_order(dan, buy("10", type=OrderType.LIMIT, limit_price=D("99")))
    assert placed.reserved == D("990")
    broker.fill(placed.client_order_id, "4", "98.50")
    assert order_row(db, placed.id).status == "partially_filled"
    assert user_row(db, dan).reserved_balance == D("990") - D("394")
    ledger.cancel_order(dan, placed.id)
    order = order_row(db, placed.id)
    assert (order.status, order.filled_quantity, order.reserved_amount) == ("canceled", D("4"), D("0"))
    u = user_row(db, dan)
    assert (u.virtual_balance, u.reserved_balance) == (D("100000") - D("394"), D("0"))
    assert_books_balance(db, dan)


def test_duplicated_replayed_and_out_of_order_events_apply_once(db, ledger, broker, make_user):
    erin = make_user("erin")
    placed = ledger.place_order(erin, buy("9", type=OrderType.LIMIT, limit_price=D("101")))
    e1 = broker.fill(placed.client_order_id, "3", "100.00", deliver=False)
    e2 = broker.fill(placed.client_order_id, "3", "100.50", deliver=False)
    e3 = broker.fill(placed.client_order_id, "3", "101.00", deliver=False)
    for event in (e3, e1, e3, e2, e1):  # newest first, then stale repeats
        ledger.apply_event(event)
    for event in (e1, e2, e3):  # a full replay changes nothing
        assert ledger.apply_event(event) is False
    pos = position(db, erin)
    assert pos.quantity == 9
    assert pos.cost_basis == D("300.00") + D("301.50") + D("303.00")
    assert user_row(db, erin).virtual_balance == D("100000") - pos.cost_basis
    assert order_row(db, placed.id).status == "filled"
    assert_books_balance(db, erin)


def test_rejection_after_acceptance_restores_the_cash_exactly(db, ledger, broker, make_user):
    fay = make_user("fay")
    placed = ledger.place_order(fay, buy("5"))
    assert placed.status == "accepted"
    broker.reject(placed.client_order_id, "insufficient buying power")
    order = order_row(db, placed.id)
    assert (order.status, order.error_message, order.reserved_amount) == ("rejected", "insufficient buying power", 0)
    u = user_row(db, fay)
    assert (u.virtual_balance, u.reserved_balance) == (D("100000"), D("0"))


def test_broker_refusal_at_submit_leaves_nothing_reserved(db, ledger, broker, make_user):
    gus = make_user("gus")
    broker.fail_submit = BrokerRejected("account is restricted")
    with pytest.raises(OrderRejected, match="account is restricted"):
        ledger.place_order(gus, buy("1"))
    u = user_row(db, gus)
    assert (u.virtual_balance, u.reserved_balance) == (D("100000"), D("0"))


def test_killed_between_submit_and_fill_then_settled_on_restart(db, broker, prices, make_user):
    hal = make_user("hal")
    before_crash = Ledger(db.session_factory, broker, prices)
    broker.lose_submit = True  # the order reaches the broker but the answer does not reach us
    placed = before_crash.place_order(hal, buy("4"))
    assert placed.status == "pending" and "settled" in placed.message
    broker.remove_event_handler(before_crash.apply_event)  # the process dies here
    broker.lose_submit = False
    broker.fill(placed.client_order_id, "4", "99")  # fills while nobody listens

    restarted = Ledger(db.session_factory, broker, prices)
    assert restarted.settle_user(hal) > 0
    order = order_row(db, placed.id)
    assert (order.status, order.filled_quantity, order.broker_order_id is not None) == ("filled", D("4"), True)
    assert position(db, hal).quantity == 4
    assert restarted.settle_user(hal) == 0  # settling twice changes nothing
    assert_books_balance(db, hal)


def test_an_order_that_never_reached_the_broker_is_released_on_settlement(db, ledger, broker, make_user):
    ida = make_user("ida")
    broker.fail_submit = BrokerUnavailable("connection refused")
    placed = ledger.place_order(ida, buy("2"))
    assert placed.status == "pending" and user_row(db, ida).reserved_balance > 0
    broker.fail_submit = None
    assert ledger.settle_user(ida) == 1
    order = order_row(db, placed.id)
    assert (order.status, order.error_message) == ("rejected", "The order never reached the broker.")
    assert user_row(db, ida).reserved_balance == 0
    assert_books_balance(db, ida)


def test_a_young_pending_order_may_still_be_in_flight_from_another_client(db, broker, prices, make_user):
    from datetime import timedelta

    from tests.ledger.manual_broker import T0

    now = [T0]
    ledger = Ledger(db.session_factory, broker, prices, clock=lambda: now[0])
    ivy = make_user("ivy")
    broker.fail_submit = BrokerUnavailable("slow network")
    placed = ledger.place_order(ivy, buy("2"))
    broker.fail_submit = None
    now[0] = T0 + timedelta(seconds=5)
    assert ledger.settle_user(ivy, pending_grace=timedelta(seconds=30)) == 0
    assert order_row(db, placed.id).status == "pending"
    now[0] = T0 + timedelta(seconds=31)
    assert ledger.settle_user(ivy, pending_grace=timedelta(seconds=30)) == 1
    assert order_row(db, placed.id).status == "rejected"


def test_users_never_see_or_move_each_others_money(db, ledger, broker, make_user):
    jim, kim = make_user("jim"), make_user("kim")
    placed = ledger.place_order(jim, buy("10"))
    broker.fill(placed.client_order_id, "10", "100")
    with pytest.raises(UnknownOrder):
        ledger.cancel_order(kim, placed.id)
    assert ledger.portfolio(kim).positions == ()
    assert ledger.portfolio(kim).cash == D("100000")
    kims_sell = ledger.place_order(kim, sell("1"))  # not out of jim's shares: a short sale in her own book
    broker.fill(kims_sell.client_order_id, "1", "100")
    assert [p.qty for p in ledger.portfolio(kim).positions] == [-1]
    assert ledger.portfolio(jim).positions[0].qty == 10
    assert_books_balance(db, jim, kim)


def test_portfolio_values_positions_at_the_last_price(db, ledger, broker, prices, make_user):
    lea = make_user("lea")
    placed = ledger.place_order(lea, buy("10"))
    broker.fill(placed.client_order_id, "10", "100")
    prices.update("AAPL", D("105"))
    p = ledger.portfolio(lea)
    (view,) = p.positions
    assert (view.market_value, view.unrealized_pnl, view.last_price) == (D("1050"), D("50"), D("105"))
    assert p.equity == D("100050") and p.total_pnl == D("50")
    assert p.cash == p.buying_power == D("99000")


def test_bracket_legs_are_adopted_and_one_leg_closes_the_position(db, ledger, broker, make_user):
    from dataclasses import replace

    from core.domain.orders import BrokerOrder, OrderEvent, OrderEventType, OrderStatus, TimeInForce
    from tests.ledger.manual_broker import T0

    max_ = make_user("max")
    placed = ledger.place_order(max_, buy("10", take_profit_price=D("110"), stop_loss_price=D("95")))
    broker.fill(placed.client_order_id, "10", "100")
    leg = BrokerOrder(
        id="leg-tp", client_order_id="leg-tp-client", symbol="AAPL", side=SELL, qty=D("10"), type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC, status=OrderStatus.FILLED, filled_qty=D("10"), filled_avg_price=D("110"),
        submitted_at=T0, updated_at=T0, limit_price=D("110"), parent_id=placed.broker_order_id,
    )  # fmt: skip
    ledger.apply_event(OrderEvent(OrderEventType.FILL, leg, T0, execution_id="leg-x1", price=D("110"), qty=D("10")))
    ledger.apply_event(OrderEvent(OrderEventType.FILL, leg, T0, execution_id="leg-x1", price=D("110"), qty=D("10")))
    stop_leg = replace(
        leg, id="leg-sl", client_order_id="leg-sl-client", type=OrderType.STOP, status=OrderStatus.CANCELED,
        filled_qty=D("0"), filled_avg_price=None, limit_price=None, stop_price=D("95"),
    )  # fmt: skip
    ledger.apply_event(OrderEvent(OrderEventType.CANCELED, stop_leg, T0))
    with db.session_factory() as s:
        legs = {o.leg_role: o.status for o in s.scalars(select(Order).where(Order.parent_order_id == placed.id))}
        fills = s.scalar(select(func.count()).select_from(Fill))
    assert legs == {"take_profit": "filled", "stop_loss": "canceled"}
    assert fills == 2
    pos = position(db, max_)
    assert (pos.quantity, pos.realized_pnl, pos.status) == (0, D("100"), "CLOSED")
    assert_books_balance(db, max_)
