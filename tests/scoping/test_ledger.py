"""The ledger files an order only under the trader's own session, signal and strategy, and cancels only the
trader's own orders (issue 26: Bob's order filed under Ann's session was listed, and cancelled, by her session)."""

from __future__ import annotations

import uuid
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from core.db.models import Order, OrderRequest, User
from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.ledger.errors import OrderRejected, UnknownOrder
from core.services.portfolio import Portfolio
from tests.scoping.rows import paper_rows

BUY = OrderTicket("AAPL", OrderSide.BUY, D(1))


def _refused_placement(refused, ledger, bob, **theirs) -> str:
    (key,) = theirs
    message = refused(
        OrderRejected,
        lambda: ledger.place_order(bob, BUY, **theirs),
        lambda: ledger.place_order(bob, BUY, **{key: uuid.uuid4()}),
    )
    return message


def test_place_order_refuses_another_traders_session(sessions, ledger, broker, ann, bob, refused) -> None:
    ann_rows = paper_rows(sessions, ann)
    message = _refused_placement(refused, ledger, bob, session_id=ann_rows.session_id)
    assert message == "No such trading session: the order can only be placed for one of your own sessions."
    assert broker.list_open_orders() == []


def test_place_order_refuses_another_traders_signal(sessions, ledger, broker, ann, bob, refused) -> None:
    ann_rows = paper_rows(sessions, ann)
    message = _refused_placement(refused, ledger, bob, signal_id=ann_rows.signal_id)
    assert message.startswith("No such signal")
    assert broker.list_open_orders() == []


def test_place_order_refuses_another_traders_strategy(sessions, ledger, broker, ann, bob, refused) -> None:
    ann_rows = paper_rows(sessions, ann)
    message = _refused_placement(refused, ledger, bob, strategy_id=ann_rows.strategy.id)
    assert message.startswith("No such strategy")
    assert broker.list_open_orders() == []


def test_place_order_refusal_reserves_nothing_even_with_own_session_and_someone_elses_strategy(
    sessions, ledger, ann, bob
) -> None:
    """One foreign reference among the trader's own is enough: the order is refused whole."""
    ann_rows, bob_rows = paper_rows(sessions, ann), paper_rows(sessions, bob)
    with pytest.raises(OrderRejected) as refusal:
        ledger.place_order(bob, BUY, session_id=bob_rows.session_id, signal_id=bob_rows.signal_id,
                           strategy_id=ann_rows.strategy.id)  # fmt: skip
    assert refusal.value.rule == "ownership"
    with sessions() as s:
        assert s.scalar(select(User.reserved_balance).where(User.id == bob)) == 0
        assert s.scalars(select(Order.id)).all() == []


def test_place_order_files_the_order_under_the_traders_own_rows_and_its_request(sessions, ledger, ann) -> None:
    rows = paper_rows(sessions, ann)
    with sessions() as s:
        request = OrderRequest(user_id=ann, kind="place", ticket={"symbol": "AAPL"})
        s.add(request)
        s.commit()
        request_id = request.id
    placed = ledger.place_order(ann, BUY, session_id=rows.session_id, signal_id=rows.signal_id,
                                strategy_id=rows.strategy.id, request_id=request_id)  # fmt: skip
    with sessions() as s:
        order = s.get(Order, placed.id)
        assert order is not None
        assert (order.session_id, order.signal_id, order.strategy_id) == (
            rows.session_id, rows.signal_id, rows.strategy.id,
        )  # fmt: skip
        assert order.request_id == request_id
        reserved = s.scalar(select(User.reserved_balance).where(User.id == ann))
    # A request is placed once: placing it again is refused by the database and reserves nothing more.
    with pytest.raises(Exception, match="request_id"):
        ledger.place_order(ann, BUY, request_id=request_id)
    with sessions() as s:
        assert s.scalar(select(User.reserved_balance).where(User.id == ann)) == reserved
        assert len(s.scalars(select(Order.id)).all()) == 1


def _resting_order(ledger, user_id: uuid.UUID) -> uuid.UUID:
    """An accepted limit order that stays open (its acceptance written now, not by the batch a moment later)."""
    placed = ledger.place_order(user_id, OrderTicket("AAPL", OrderSide.BUY, D(2), OrderType.LIMIT, limit_price=D(90)))
    ledger.flush_acceptances()
    return placed.id


def test_cancel_order_refuses_another_traders_order(ledger, broker, ann, bob, refused) -> None:
    order_id = _resting_order(ledger, ann)
    message = refused(
        UnknownOrder, lambda: ledger.cancel_order(bob, order_id), lambda: ledger.cancel_order(bob, uuid.uuid4())
    )
    assert message == "No such order."
    assert [o.client_order_id for o in broker.list_open_orders()] == [f"sf-{order_id.hex}"]


def test_portfolio_cancel_refuses_another_traders_order(sessions, ledger, ann, bob, refused) -> None:
    portfolio = Portfolio(ledger, sessions)
    order_id = _resting_order(ledger, ann)
    refused(UnknownOrder, lambda: portfolio.cancel(bob, order_id), lambda: portfolio.cancel(bob, uuid.uuid4()))
