"""Random malformed input in the order ticket's fields: always one clear line in the ticket, never an order, a fill
or a raw error. Through the widget itself (typed text, Submit clicked) against a real ledger on the test database,
which is counted before and after every example."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytestqt.qtbot import QtBot
from sqlalchemy import text

from app.async_runner import BlockingRunner
from app.views.order_ticket import MAX_AMOUNT, PRICE_PLACES, TicketInputError, parse_amount
from app.views.order_ticket import OrderTicket as TicketWidget
from core.domain.symbols import is_valid_symbol, normalize_symbol
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from tests.gui.conftest import STRONG_PASSWORD
from tests.ledger.manual_broker import ManualBroker

FUZZ = settings(max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck))
MAX_MESSAGE = 200

FULL_WIDTH_ZERO, FULL_WIDTH_12, ARABIC_12 = "\uff10", "\uff11\uff12", "\u0661\u0662"
FULL_WIDTH_AAPL = "\uff21\uff21\uff30\uff2c"
KNOWN_BAD_AMOUNTS = ["", " ", "-1", "0", "-0", "1e400", "1E5", "nan", "NaN", "inf", "-inf", "Infinity", "1,5",
                     "1,0000", FULL_WIDTH_ZERO, FULL_WIDTH_12, ARABIC_12, "9" * 41, "9" * 30, "1.2.3", ".", "0x10",
                     "1_000", "10 000", "\x00", "1\x002", "1\n2", "½", "0.0000000001", "0.0000001", "1e-3", "--1",
                     "+-1"]  # fmt: skip
KNOWN_BAD_SYMBOLS = ["", "A\x00PL", FULL_WIDTH_AAPL, "A" * 30, "AAPL!", "1ABC", "BRK/B", "AAPL\nMSFT", "ÄPPL",
                     " . "]  # fmt: skip


def refused(value: str, places: int = 9) -> bool:
    try:
        parse_amount(value, "the amount", required=True, max_places=places)
    except TicketInputError:
        return True
    return False


def bad(places: int) -> st.SearchStrategy[str]:
    """Known bad input and random text the ticket must refuse (a quantity has 9 places, a price 6)."""
    known = [a for a in KNOWN_BAD_AMOUNTS if refused(a, places)]
    return st.one_of(st.sampled_from(known), st.text(max_size=60).filter(lambda t: refused(t, places)))


bad_quantities, bad_prices = bad(9), bad(PRICE_PLACES)
bad_symbols = st.one_of(
    st.sampled_from(KNOWN_BAD_SYMBOLS),
    st.text(max_size=40).filter(lambda s: not is_valid_symbol(normalize_symbol(s))),
)


def one_clear_line(message: str) -> bool:
    return bool(message) and "\n" not in message and message.isprintable() and len(message) <= MAX_MESSAGE


@given(st.text(max_size=80))
@settings(max_examples=200, deadline=None, database=None)
def test_an_amount_is_a_positive_bounded_number_or_one_clear_line(typed: str) -> None:
    try:
        value = parse_amount(typed, "the quantity", required=True, max_places=9)
    except TicketInputError as exc:
        assert one_clear_line(str(exc)), repr(str(exc))
        assert str(exc).startswith(("Enter the quantity", "The quantity")), str(exc)
        return
    assert value is not None and value.is_finite() and 0 < value <= MAX_AMOUNT
    assert -value.normalize().as_tuple().exponent <= 9  # type: ignore[operator]


@pytest.fixture
def ticket(qtbot: QtBot, db, accounts, runner: BlockingRunner) -> TicketWidget:
    user = accounts.sign_up("fuzz@example.com", "fuzz", STRONG_PASSWORD).id
    ledger = Ledger(db.session_factory, ManualBroker(), LastPrices({"AAPL": Decimal("100")}))
    widget = TicketWidget(ledger, user, runner, "AAPL")
    qtbot.addWidget(widget)
    widget.show()
    return widget


@pytest.fixture
def rows(db) -> Callable[[], tuple[int, int, int]]:
    def count() -> tuple[int, int, int]:
        with db.engine.connect() as conn:
            orders = conn.execute(text("SELECT count(*) FROM orders")).scalar_one()
            fills = conn.execute(text("SELECT count(*) FROM fills")).scalar_one()
            reserved = conn.execute(text("SELECT count(*) FROM users WHERE reserved_balance <> 0")).scalar_one()
        return orders, fills, reserved

    return count


def submit(ticket: TicketWidget, symbol: str, qty: str, kind: str = "Market", limit: str = "") -> str:
    ticket.symbol_edit.setText(symbol)
    ticket.qty_edit.setText(qty)
    ticket.type_combo.setCurrentText(kind)
    ticket.limit_edit.setText(limit)
    ticket.submit()
    assert not ticket.sending  # refused before anything was sent
    assert ticket.error_label.isVisibleTo(ticket)
    return ticket.error_label.text()


@FUZZ
@given(qty=bad_quantities)
def test_a_malformed_quantity_is_one_line_and_writes_nothing(ticket: TicketWidget, rows, qty: str) -> None:
    before = rows()
    message = submit(ticket, "AAPL", qty)
    assert one_clear_line(message) and message.startswith(("Enter the quantity", "The quantity")), repr(message)
    assert rows() == before


@FUZZ
@given(symbol=bad_symbols)
def test_a_malformed_symbol_is_one_line_and_writes_nothing(ticket: TicketWidget, rows, symbol: str) -> None:
    before = rows()
    message = submit(ticket, symbol, "10")
    assert one_clear_line(message) and ("symbol" in message), repr(message)
    assert rows() == before


@FUZZ
@given(limit=bad_prices)
def test_a_malformed_limit_price_is_one_line_and_writes_nothing(ticket: TicketWidget, rows, limit: str) -> None:
    before = rows()
    message = submit(ticket, "AAPL", "10", "Limit", limit)
    assert one_clear_line(message) and message.startswith(("Enter the limit price", "The limit price")), repr(message)
    assert rows() == before
