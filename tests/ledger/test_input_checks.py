"""A number no order can have is refused with one line that names it, before the broker is asked or a row written.

Two gates, in order: the ticket (core.domain.tickets) refuses what is not a finite number (NaN, infinities, text,
None, a bool); the ledger (core.ledger.input_checks) refuses what no order can have (0, negative, absurd
magnitudes, a non-positive price on any field). Floats are accepted, read through their shortest repr (0.1 is
exactly Decimal("0.1")), so a strategy's ``10.0`` is ten shares, not a TypeError.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.db.models import Fill, Order, Position, User
from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import InvalidTicket, OrderTicket
from core.ledger.errors import LedgerError, OrderRejected
from core.ledger.input_checks import MAX_ORDER_PRICE, MAX_ORDER_QTY, MIN_ORDER_PRICE, MIN_ORDER_QTY, check_order_input

D = Decimal


def books(db, user_id: uuid.UUID) -> tuple[int, int, int, Decimal, Decimal]:
    """What an order could change: row counts of orders, fills, positions, and the user's balances."""
    with db.session_factory() as s:
        user = s.get(User, user_id)
        assert user is not None
        return (
            s.scalar(select(func.count()).select_from(Order)) or 0,
            s.scalar(select(func.count()).select_from(Fill)) or 0,
            s.scalar(select(func.count()).select_from(Position)) or 0,
            user.virtual_balance,
            user.reserved_balance,
        )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"qty": D(0)}, "The quantity must be a finite number greater than 0, got 0."),
        ({"qty": D("-3")}, "The quantity must be a finite number greater than 0, got -3."),
        ({"qty": D("2e9")}, "The quantity must be at most 1000000000, got 2000000000."),
        ({"qty": D("1e300")}, "The quantity must be at most 1000000000, got 1.000E+300."),
        ({"type": OrderType.LIMIT, "limit_price": D(0)}, "The limit price must be a finite number greater than 0"),
        ({"type": OrderType.STOP, "stop_price": D("-1")}, "The stop price must be a finite number greater than 0"),
        ({"limit_price": D("-5")}, "The limit price must be a finite number greater than 0, got -5."),  # market order
        ({"type": OrderType.LIMIT, "limit_price": D("1e308")}, "The limit price must be at most 10000000"),
        ({"take_profit_price": D("1e20"), "stop_loss_price": D("90")}, "The take profit price must be at most"),
        # below what the columns hold: stored as 0, it would meet the table's check as a raw driver error
        ({"type": OrderType.LIMIT, "limit_price": D("0.0000001")}, "The limit price must be at least 0.000001"),
        ({"qty": D("1e-10")}, "The quantity must be at least 0.000000001, got 1.000E-10."),
    ],
)
def test_a_number_no_order_can_have_is_refused_with_what_it_got(db, ledger, broker, make_user, fields, message):
    user = make_user("ivy")
    before = books(db, user)
    ticket = OrderTicket("AAPL", OrderSide.BUY, **({"qty": D(1)} | fields))
    with pytest.raises(OrderRejected) as exc:
        ledger.place_order(user, ticket)
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)
    assert books(db, user) == before
    assert broker.submitted == []


def test_the_bounds_themselves_are_admitted() -> None:
    check_order_input(OrderTicket("AAPL", OrderSide.BUY, MAX_ORDER_QTY, OrderType.LIMIT, limit_price=MAX_ORDER_PRICE))
    check_order_input(OrderTicket("AAPL", OrderSide.BUY, MIN_ORDER_QTY, OrderType.LIMIT, limit_price=MIN_ORDER_PRICE))


def test_something_that_is_not_a_ticket_is_refused_by_name() -> None:
    with pytest.raises(OrderRejected, match="An order must be an order ticket, got dict"):
        check_order_input({"symbol": "AAPL", "qty": 1})


def test_a_float_quantity_is_read_exactly_and_placed(db, ledger, make_user) -> None:
    user = make_user("fay")
    placed = ledger.place_order(user, OrderTicket("AAPL", OrderSide.BUY, 2.0))  # type: ignore[arg-type]
    assert placed.status == "accepted"
    with db.session_factory() as s:
        assert s.scalar(select(Order.quantity)) == D(2)


# Malformed values of every kind: not finite, not positive, too large, not a number at all.
_non_finite = st.sampled_from([float("nan"), float("inf"), float("-inf"), D("NaN"), D("sNaN"), D("Infinity"),
                               D("-Infinity"), "nan", "inf", "-Infinity"])  # fmt: skip
_not_positive = st.one_of(
    st.integers(max_value=0),
    st.decimals(max_value=0, allow_nan=False, allow_infinity=False),
    st.floats(max_value=0, allow_nan=False, allow_infinity=False),
)
_not_numbers = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=8),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)
_malformed = st.one_of(
    _non_finite,
    _not_positive,
    _not_numbers,
    st.decimals(min_value=MAX_ORDER_QTY * 10 + 1, max_value=D("1e400"), allow_nan=False, allow_infinity=False),
    st.floats(min_value=1e10, allow_nan=False, allow_infinity=False),
)
_malformed_price = st.one_of(
    _non_finite,
    _not_positive,
    _not_numbers.filter(lambda v: v is not None),  # None means "no such price", which is well-formed
    st.decimals(min_value=MAX_ORDER_PRICE + 1, max_value=D("1e400"), allow_nan=False, allow_infinity=False),
)


def _place(ledger, user: uuid.UUID, **fields: object) -> None:
    ledger.place_order(user, OrderTicket(**({"symbol": "AAPL", "side": OrderSide.BUY, "qty": 1} | fields)))


def _assert_clear_refusal(exc: BaseException) -> None:
    assert isinstance(exc, InvalidTicket | LedgerError), f"{type(exc).__name__}: {exc}"
    text = str(exc)
    assert text and "\n" not in text and len(text) < 200
    assert any(word in text for word in ("quantity", "price", "number")), text


_hypothesis = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_hypothesis
@given(qty=_malformed)
def test_any_malformed_quantity_is_refused_clearly_and_changes_nothing(db, ledger, broker, make_user, qty):
    user = _user(db, make_user)
    before = books(db, user)
    with pytest.raises(Exception) as exc:  # the assertion below says which
        _place(ledger, user, qty=qty)
    _assert_clear_refusal(exc.value)
    assert books(db, user) == before
    assert broker.submitted == []


@_hypothesis
@given(
    field=st.sampled_from(["limit_price", "stop_price", "take_profit_price", "stop_loss_price"]),
    order_type=st.sampled_from(list(OrderType)),
    price=_malformed_price,
)
def test_any_malformed_price_is_refused_clearly_and_changes_nothing(
    db, ledger, broker, make_user, field, order_type, price
):
    user = _user(db, make_user)
    before = books(db, user)
    with pytest.raises(Exception) as exc:  # the assertion below says which
        _place(ledger, user, type=order_type, **{field: price})
    _assert_clear_refusal(exc.value)
    assert books(db, user) == before
    assert broker.submitted == []


def _user(db, make_user) -> uuid.UUID:
    """One user for all of a test's examples (the db fixture is per test, not per example)."""
    with db.session_factory() as s:
        existing = s.scalar(select(User.id).where(User.email == "hal@example.com"))
    return existing if existing is not None else make_user("hal")
