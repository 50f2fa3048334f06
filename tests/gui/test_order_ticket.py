"""The order ticket as a trader uses it, against a real ledger (ManualBroker) on the test database: typos are
caught before anything is sent, the ledger's risk rules answer in their own words, accepted orders say so."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from sqlalchemy import update

from app.async_runner import BlockingRunner
from app.views.order_ticket import OrderTicket
from core.broker.types import OrderSide, OrderType, TimeInForce
from core.db.models import RiskSettings
from core.ledger.history import open_orders, recent_orders
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.risk import OrderTicket as Request
from tests.ledger.conftest import PASSWORD
from tests.ledger.manual_broker import ManualBroker

D = Decimal
WAIT_MS = 10_000


@pytest.fixture
def make_user(db, accounts):
    """A user signed up through the real accounts service, with optional risk settings."""

    def make(name: str, **risk: object) -> uuid.UUID:
        user = accounts.sign_up(f"{name}@example.com", name, PASSWORD).id
        if risk:
            with db.session_factory() as s:
                s.execute(update(RiskSettings).where(RiskSettings.user_id == user).values(**risk))
                s.commit()
        return user

    return make


@pytest.fixture
def broker() -> ManualBroker:
    return ManualBroker()


@pytest.fixture
def ledger(db, broker) -> Ledger:
    return Ledger(db.session_factory, broker, LastPrices({"AAPL": D("100"), "MSFT": D("400")}))


@pytest.fixture
def make_ticket(qtbot: QtBot, ledger: Ledger, runner: BlockingRunner):
    def make(user: uuid.UUID, symbol: str = "") -> OrderTicket:
        ticket = OrderTicket(ledger, user, runner, symbol)
        qtbot.addWidget(ticket)
        ticket.show()
        return ticket

    return make


def type_order(qtbot: QtBot, ticket: OrderTicket, symbol: str, qty: str, kind: str = "Market", price: str = "") -> None:
    ticket.symbol_edit.clear()
    qtbot.keyClicks(ticket.symbol_edit, symbol)
    ticket.qty_edit.clear()
    qtbot.keyClicks(ticket.qty_edit, qty)
    ticket.type_combo.setCurrentText(kind)
    if kind == "Limit":
        ticket.limit_edit.clear()
        qtbot.keyClicks(ticket.limit_edit, price)
    elif kind == "Stop":
        ticket.stop_edit.clear()
        qtbot.keyClicks(ticket.stop_edit, price)


def submit(qtbot: QtBot, ticket: OrderTicket) -> None:
    qtbot.mouseClick(ticket.submit_button, Qt.MouseButton.LeftButton)


def error_text(ticket: OrderTicket) -> str | None:
    return ticket.error_label.text() if ticket.error_label.isVisible() else None


def test_a_market_buy_is_placed_and_its_status_shown(qtbot, db, broker, make_user, make_ticket):
    user = make_user("tina")
    ticket = make_ticket(user)
    assert ticket.objectName() == "orderTicket"
    type_order(qtbot, ticket, "aapl", "10")
    assert ticket.symbol_edit.text() == "AAPL"  # upper-cased as typed
    assert not ticket.limit_edit.isEnabled() and not ticket.stop_edit.isEnabled()
    with qtbot.waitSignal(ticket.orderPlaced, timeout=WAIT_MS) as placed:
        submit(qtbot, ticket)
    assert placed.args[0].status == "accepted"
    assert ticket.status_label.text() == "Buy 10 AAPL market: accepted."
    assert error_text(ticket) is None
    assert ticket.qty_edit.text() == "" and ticket.symbol_edit.text() == "AAPL"  # ready for the next order
    assert ticket.submit_button.isEnabled()
    [order] = open_orders(db.session_factory, user)
    assert (order.symbol, order.side, order.order_type, order.qty) == ("AAPL", "buy", "market", D(10))
    assert [r.symbol for r in broker.submitted] == ["AAPL"]


def test_a_limit_sell_gtc_carries_its_price_and_time_in_force(qtbot, db, broker, ledger, make_user, make_ticket):
    user = make_user("uma")
    bought = ledger.place_order(user, Request("AAPL", OrderSide.BUY, D(5)))
    broker.fill(bought.client_order_id, "5", "100")
    ticket = make_ticket(user, "AAPL")
    type_order(qtbot, ticket, "AAPL", "2.5", kind="Limit", price="120.5")
    assert ticket.limit_edit.isEnabled() and not ticket.stop_edit.isEnabled()
    ticket.side_combo.setCurrentText("Sell")
    ticket.tif_combo.setCurrentText("GTC")
    with qtbot.waitSignal(ticket.orderPlaced, timeout=WAIT_MS):
        submit(qtbot, ticket)
    sent = broker.submitted[-1]
    assert (sent.side, sent.type, sent.qty, sent.limit_price, sent.stop_price, sent.time_in_force) == (
        OrderSide.SELL, OrderType.LIMIT, D("2.5"), D("120.5"), None, TimeInForce.GTC,
    )  # fmt: skip
    assert ticket.status_label.text() == "Sell 2.5 AAPL limit 120.5: accepted."


def test_a_risk_rule_rejection_is_shown_verbatim_and_nothing_is_placed(qtbot, db, broker, make_user, make_ticket):
    user = make_user("vic", max_order_value=D("500"))
    ticket = make_ticket(user)
    type_order(qtbot, ticket, "AAPL", "10")
    with qtbot.assertNotEmitted(ticket.orderPlaced):
        submit(qtbot, ticket)
        qtbot.waitUntil(lambda: error_text(ticket) is not None and ticket.submit_button.isEnabled(), timeout=WAIT_MS)
    assert error_text(ticket) == "Order value $1,000.00 exceeds your limit of $500.00."
    assert "#d32f2f" in ticket.error_label.styleSheet()
    assert ticket.status_label.text() == ""
    assert ticket.qty_edit.text() == "10"  # kept, so the trader can lower it
    assert recent_orders(db.session_factory, user) == [] and broker.submitted == []


def test_fractional_shares_are_the_ledgers_call(qtbot, db, make_user, make_ticket):
    user = make_user("wes", allow_fractional=False)
    ticket = make_ticket(user)
    type_order(qtbot, ticket, "AAPL", "0.5")
    submit(qtbot, ticket)
    qtbot.waitUntil(lambda: error_text(ticket) is not None and ticket.submit_button.isEnabled(), timeout=WAIT_MS)
    assert error_text(ticket) == "Fractional quantities are turned off in your risk settings."
    assert recent_orders(db.session_factory, user) == []


@pytest.mark.parametrize(
    ("symbol", "qty", "kind", "price", "message"),
    [
        ("", "10", "Market", "", "Enter a symbol."),
        ("AAPL!", "10", "Market", "", "“AAPL!” is not a ticker symbol (letters, digits, '.' or '-')."),
        ("AAPL", "", "Market", "", "Enter the quantity."),
        ("AAPL", "0", "Market", "", "The quantity must be greater than zero."),
        ("AAPL", "ten", "Market", "", "The quantity must be a number, not “ten”."),
        ("AAPL", "-3", "Market", "", "The quantity must be greater than zero."),
        ("AAPL", "10", "Limit", "", "Enter the limit price."),
        ("AAPL", "10", "Limit", "abc", "The limit price must be a number, not “abc”."),
        ("AAPL", "10", "Stop", "", "Enter the stop price."),
    ],
)
def test_bad_input_is_caught_before_anything_is_sent(
    qtbot, broker, make_user, make_ticket, symbol, qty, kind, price, message
):
    ticket = make_ticket(make_user("xan"))
    type_order(qtbot, ticket, symbol, qty, kind, price)
    with qtbot.assertNotEmitted(ticket.orderPlaced):
        submit(qtbot, ticket)
    assert error_text(ticket) == message
    assert not ticket.sending and broker.submitted == []
    qtbot.keyClicks(ticket.qty_edit, "1")  # editing clears the message
    assert error_text(ticket) is None


def test_a_bracket_needs_both_prices_and_sends_them(qtbot, broker, make_user, make_ticket):
    ticket = make_ticket(make_user("yul"), "MSFT")
    type_order(qtbot, ticket, "MSFT", "2")
    ticket.bracket_box.setChecked(True)
    qtbot.keyClicks(ticket.take_profit_edit, "440")
    submit(qtbot, ticket)
    assert error_text(ticket) == "A bracket order needs both a take-profit and a stop-loss price."
    qtbot.keyClicks(ticket.stop_loss_edit, "390")
    with qtbot.waitSignal(ticket.orderPlaced, timeout=WAIT_MS):
        submit(qtbot, ticket)
    sent = broker.submitted[-1]
    assert (sent.take_profit_limit_price, sent.stop_loss_stop_price) == (D(440), D(390))
    assert ticket.status_label.text() == "Buy 2 MSFT market with take-profit 440 and stop-loss 390: accepted."
