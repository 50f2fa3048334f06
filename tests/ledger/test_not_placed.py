"""A submit the broker certainly did not process (a 429 from Alpaca, the club budget's own refusal) is retried
while it may still succeed soon, and otherwise closed at once with its reservation released: never left pending.
The real ledger over the real alpaca-py client, against the stand-in's rate limit and injected errors."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.adapters.alpaca.broker import AlpacaBroker
from core.adapters.alpaca.budgeted_broker import BudgetedBroker
from core.adapters.alpaca.rate_budget import RateBudget
from core.broker.errors import BrokerUnavailable, NotPlaced, RateLimited
from core.db.models import Order
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.ledger.errors import OrderRejected
from core.ledger.service import NOT_SENT_BUDGET, Ledger
from tests.alpaca_standin import AlpacaStandIn
from tests.ledger.helpers_alpaca import make_broker
from tests.ledger.helpers_books import assert_books_balance, order_row, user_row

D = Decimal
POST = "POST /v2/orders"


def orders_of(db, user_id: uuid.UUID) -> list[Order]:
    with db.session_factory() as s:
        return list(s.scalars(select(Order).where(Order.user_id == user_id).order_by(Order.created_at)))


def buy(qty: str = "10") -> OrderTicket:
    return OrderTicket("AAPL", OrderSide.BUY, D(qty))


@pytest.fixture
def broker(db, alpaca: AlpacaStandIn) -> AlpacaBroker:
    return make_broker(alpaca)


@pytest.fixture
def book(db, broker, prices) -> Ledger:
    return Ledger(db.session_factory, broker, prices)


def test_a_rate_limit_is_a_definite_non_placement_not_an_unknown_outcome() -> None:
    assert issubclass(RateLimited, NotPlaced) and not issubclass(RateLimited, BrokerUnavailable)


def test_a_429_on_submit_is_retried_with_the_same_client_order_id_and_the_order_placed(
    db, book, alpaca: AlpacaStandIn, make_user
) -> None:
    alice = make_user("alice")
    alpaca.inject_error(429, "rate limit exceeded", code=42910000, route=POST)
    placed = book.place_order(alice, buy("10"))
    assert placed.status == "accepted" and placed.broker_order_id is not None
    assert alpaca.request_count(POST) == 2
    assert len(alpaca.account.orders) == 1  # the refused attempt left nothing at the broker
    book.flush_acceptances()
    row = order_row(db, placed.id)
    assert row.broker_order_id == placed.broker_order_id and row.reserved_amount == D("1030")
    assert_books_balance(db, alice)


def test_a_rate_limit_that_lasts_closes_the_order_at_once_and_releases_its_reservation(
    db, book, broker, alpaca: AlpacaStandIn, make_user
) -> None:
    alice = make_user("alice")
    book.place_order(alice, buy("1"))  # the asset is looked up (and cached) here, before the limit
    alpaca.set_rate_limit(1, window_s=60)  # X-RateLimit-Reset a minute away: longer than a submit may wait
    broker.get_clock()  # someone else in the club spends the window's one request
    with pytest.raises(OrderRejected, match="Not sent: the club's Alpaca request budget is exhausted") as refused:
        book.place_order(alice, buy("10"))
    assert str(refused.value) == NOT_SENT_BUDGET
    assert alpaca.request_count(POST) == 2  # the first order's, then one refused try: no retries against a minute
    rows = orders_of(db, alice)
    refused_row = rows[1]  # in order of placement
    assert (refused_row.status, refused_row.reserved_amount, refused_row.error_message) == (
        "rejected", D("0"), NOT_SENT_BUDGET,
    )  # fmt: skip
    assert user_row(db, alice).reserved_balance == D("103")  # only the first order's
    assert_books_balance(db, alice)


def test_the_club_budgets_own_refusal_sends_nothing_and_releases_the_reservation(
    db, broker, prices, alpaca: AlpacaStandIn, make_user
) -> None:
    budget = RateBudget(db.session_factory, service="alpaca-not-placed-test", limit=1, window_s=60, headroom=1.0)
    book = Ledger(db.session_factory, BudgetedBroker(broker, budget, acquire_timeout_s=0.2), prices)
    alice = make_user("alice")
    with pytest.raises(OrderRejected) as refused:  # the asset lookup takes the window's only slot
        book.place_order(alice, buy("10"))
    assert str(refused.value) == NOT_SENT_BUDGET
    assert alpaca.request_count(POST) == 0  # refused before anything was sent
    (row,) = orders_of(db, alice)
    assert (row.status, row.reserved_amount) == ("rejected", D("0"))
    assert user_row(db, alice).reserved_balance == D("0")
    assert_books_balance(db, alice)


def test_an_unanswered_submit_still_stays_pending_for_settlement(db, book, alpaca: AlpacaStandIn, make_user) -> None:
    alice = make_user("alice")
    alpaca.inject_error(503, "service unavailable", route=POST)
    placed = book.place_order(alice, buy("10"))
    assert placed.status == "pending" and "did not answer" in (placed.message or "")
    assert alpaca.request_count(POST) == 1  # an unknown outcome is never retried blindly
    assert order_row(db, placed.id).reserved_amount == D("1030")
