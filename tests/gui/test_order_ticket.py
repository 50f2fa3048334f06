"""The order ticket as a trader uses it, against a real ledger (ManualBroker) on the test database: typos are
caught before anything is sent, the ledger's risk rules answer in their own words, accepted orders say so.
With the behavioural checks composed in, nudges come before anything is sent and the answer is recorded."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from sqlalchemy import update

from app.async_runner import BlockingRunner
from app.views.order_ticket import OrderTicket
from core.db.models import RiskSettings
from core.domain.orders import OrderSide, OrderType, TimeInForce
from core.domain.tickets import OrderTicket as Request
from core.journal import list_checks
from core.journal.ticket_checks import TicketChecks
from core.ledger.history import open_orders, recent_orders
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
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


# --- with the behavioural checks composed in: nudges before sending, the answer recorded ---


@pytest.fixture
def make_checked_ticket(qtbot: QtBot, db, ledger, runner: BlockingRunner):
    def make(user) -> OrderTicket:
        ticket = OrderTicket(ledger, user, runner, checks=TicketChecks(db.session_factory, ledger))
        qtbot.addWidget(ticket)
        ticket.show()
        return ticket

    return make


def type_bracket(qtbot: QtBot, ticket: OrderTicket, take_profit: str, stop_loss: str) -> None:
    ticket.bracket_box.setChecked(True)
    ticket.take_profit_edit.clear()
    qtbot.keyClicks(ticket.take_profit_edit, take_profit)
    ticket.stop_loss_edit.clear()
    qtbot.keyClicks(ticket.stop_loss_edit, stop_loss)


def nudged(ticket: OrderTicket) -> bool:
    return ticket.checks_box.isVisible() and ticket.pending_evaluation is not None


def recorded(db, user) -> list:
    return list_checks(db.session_factory, user)


def test_a_poor_reward_to_risk_is_shown_and_not_sent_until_the_trader_says_so(qtbot, db, broker, make_user,
                                                                              make_checked_ticket):  # fmt: skip
    user = make_user("nina")
    ticket = make_checked_ticket(user)
    type_order(qtbot, ticket, "AAPL", "10")
    type_bracket(qtbot, ticket, "102", "95")  # risking $5 a share to make $2
    submit(qtbot, ticket)
    qtbot.waitUntil(lambda: nudged(ticket), timeout=WAIT_MS)
    assert "reward" in ticket.nudge_label.text().lower()
    assert broker.submitted == [] and recent_orders(db.session_factory, user) == []
    submit(qtbot, ticket)  # Submit again does not slip past the question
    assert broker.submitted == [] and nudged(ticket)

    with qtbot.waitSignal(ticket.orderPlaced, timeout=WAIT_MS) as placed:
        qtbot.mouseClick(ticket.send_anyway_button, Qt.MouseButton.LeftButton)
    assert not ticket.checks_box.isVisible()
    order_id = placed.args[0].id
    qtbot.waitUntil(lambda: any(c.order_id == order_id for c in recorded(db, user)), timeout=WAIT_MS)
    stored = {c.check_type: c for c in recorded(db, user)}
    assert stored["risk_reward"].trader_action == "proceeded" and not stored["risk_reward"].passed
    assert len(broker.submitted) == 1


def test_dont_send_records_a_cancelled_nudge_and_sends_nothing(qtbot, db, broker, make_user, make_checked_ticket):
    user = make_user("omar")
    ticket = make_checked_ticket(user)
    type_order(qtbot, ticket, "AAPL", "10")
    type_bracket(qtbot, ticket, "102", "95")
    submit(qtbot, ticket)
    qtbot.waitUntil(lambda: nudged(ticket), timeout=WAIT_MS)
    qtbot.mouseClick(ticket.dont_send_button, Qt.MouseButton.LeftButton)
    assert ticket.status_label.text() == "Not sent."
    qtbot.waitUntil(lambda: bool(recorded(db, user)), timeout=WAIT_MS)
    assert {c.trader_action for c in recorded(db, user)} == {"cancelled"}
    assert all(c.order_id is None for c in recorded(db, user))
    assert broker.submitted == []


def test_changing_the_order_after_a_nudge_counts_as_modified_and_is_checked_again(qtbot, db, broker, make_user,
                                                                                 make_checked_ticket):  # fmt: skip
    user = make_user("pia")
    ticket = make_checked_ticket(user)
    type_order(qtbot, ticket, "AAPL", "10")
    type_bracket(qtbot, ticket, "102", "95")
    submit(qtbot, ticket)
    qtbot.waitUntil(lambda: nudged(ticket), timeout=WAIT_MS)
    ticket.take_profit_edit.clear()
    qtbot.keyClicks(ticket.take_profit_edit, "115")  # now $15 for $5 at risk
    assert not ticket.checks_box.isVisible()
    qtbot.waitUntil(lambda: {c.trader_action for c in recorded(db, user)} == {"modified"}, timeout=WAIT_MS)

    with qtbot.waitSignal(ticket.orderPlaced, timeout=WAIT_MS):  # every check passes: sent straight away
        submit(qtbot, ticket)
    qtbot.waitUntil(lambda: any(c.trader_action == "proceeded" for c in recorded(db, user)), timeout=WAIT_MS)
    assert broker.submitted[-1].take_profit_limit_price == 115


def test_a_symbol_with_no_price_yet_skips_the_checks_and_lets_the_ledger_decide(qtbot, broker, make_user,
                                                                               make_checked_ticket):  # fmt: skip
    ticket = make_checked_ticket(make_user("quin"))
    type_order(qtbot, ticket, "AAPL", "5", kind="Limit", price="99")
    with qtbot.waitSignal(ticket.orderPlaced, timeout=WAIT_MS):
        submit(qtbot, ticket)  # a limit order is judged at its limit: checked, passes, sent
    type_order(qtbot, ticket, "ZZZZ", "1")
    submit(qtbot, ticket)
    qtbot.waitUntil(lambda: not ticket.sending, timeout=WAIT_MS)
    assert not ticket.checks_box.isVisible()
    assert ticket.error_label.isVisible()  # the ledger's own refusal (no price for a market order), in its words
