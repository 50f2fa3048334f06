"""Settings > Broker accounts and the order ticket's real-money route, as a trader clicks through them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.async_runner import BlockingRunner
from app.views.broker_accounts_tab import BrokerAccountsTab
from app.views.order_ticket import OrderTicket
from app.views.real_order_dialog import PAPER_TEXT, RealOrderDialog
from core.db.models import BrokerConnection
from core.domain.tickets import OrderTicket as Request
from core.ledger.views import PlacedOrder
from core.services.broker_accounts import BrokerAccounts, LinkedAccount
from core.services.order_entry import TicketFacts
from core.services.real_money_orders import OrderConfirmation, RealMoneyOrders, RealOrderRefused, RealOrderTicket
from tests.broker_accounts.conftest import SESSION_DAY, kite_fields, link_and_log_in
from tests.broker_accounts.standin import API_KEY, API_SECRET, GOOD_TOKEN, SimMarket

WAIT_MS = 10_000


class RecordingDesk:
    """The paper desk (the ledger's place in the ticket): records what reached it."""

    def __init__(self) -> None:
        self.placed: list[Request] = []

    def place_order(self, user_id: uuid.UUID, ticket: Request, **_: object) -> PlacedOrder:
        self.placed.append(ticket)
        return PlacedOrder(uuid.uuid4(), "paper-1", "accepted", Decimal(0))

    def cancel_order(self, user_id: uuid.UUID, order_id: uuid.UUID) -> None:
        raise AssertionError("not used")


def make_tab(qtbot: QtBot, links: BrokerAccounts, user: uuid.UUID, runner: BlockingRunner, **kwargs: object):
    tab = BrokerAccountsTab(links, user, runner, **kwargs)  # type: ignore[arg-type]
    qtbot.addWidget(tab)
    tab.show()
    tab.load()
    qtbot.waitUntil(lambda: not tab.busy and tab.broker_combo.count() == 1, timeout=WAIT_MS)
    return tab


def test_each_account_is_a_line_saying_real_money_and_its_session_with_only_masked_hints(
    qtbot: QtBot, links: BrokerAccounts, make_user, runner: BlockingRunner
) -> None:
    ada = make_user("ada")
    link_and_log_in(links, ada)
    tab = make_tab(qtbot, links, ada, runner)
    item = tab.list.item(0)
    assert item.text() == (
        f"Kite main — Zerodha (Kite Connect) — Real money · logged in (session of {SESSION_DAY.isoformat()})"
    )
    assert "API key: ••••6789" in item.toolTip() and API_KEY not in item.toolTip()
    assert API_SECRET not in item.toolTip()


def test_adding_an_account_masks_its_secret_fields_and_clears_them_once_sealed(
    qtbot: QtBot, db, links: BrokerAccounts, make_user, runner: BlockingRunner
) -> None:
    ada = make_user("ada")
    tab = make_tab(qtbot, links, ada, runner)
    assert tab.list.item(0).text() == "No broker account linked: every order is paper (virtual)."
    qtbot.mouseClick(tab.add_button, Qt.MouseButton.LeftButton)
    edits = {name: tab.findChild(QLineEdit, f"brokerField_{name}") for name in kite_fields()}
    assert edits["api_key"].echoMode() is QLineEdit.EchoMode.Password
    assert edits["api_secret"].echoMode() is QLineEdit.EchoMode.Password
    assert edits["client_code"].echoMode() is QLineEdit.EchoMode.Normal
    qtbot.keyClicks(tab.label_edit, "Kite main")
    for name, value in kite_fields().items():
        qtbot.keyClicks(edits[name], value)
    qtbot.mouseClick(tab.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(tab.linked) == 1 and not tab.busy, timeout=WAIT_MS)
    assert tab.list.item(0).text() == "Kite main — Zerodha (Kite Connect) — Real money · not logged in"
    assert all(edit.text() == "" for edit in edits.values()) and tab.add_box.isHidden()
    with db.session_factory() as s:
        assert s.scalar(select(BrokerConnection.label)) == "Kite main"

    qtbot.mouseClick(tab.add_button, Qt.MouseButton.LeftButton)  # the same name again: refused in words
    qtbot.keyClicks(tab.label_edit, "Kite main")
    for name, value in kite_fields().items():
        qtbot.keyClicks(tab.findChild(QLineEdit, f"brokerField_{name}"), value)
    qtbot.mouseClick(tab.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.error_label.isVisible(), timeout=WAIT_MS)
    assert tab.error_label.text() == "You already have an account named 'Kite main'; choose another name."


def test_logging_in_opens_the_brokers_page_and_takes_the_pasted_address(
    qtbot: QtBot, links: BrokerAccounts, make_user, runner: BlockingRunner
) -> None:
    ada = make_user("ada")
    links.add(ada, "zerodha", "Kite main", kite_fields())
    opened: list[str] = []
    tab = make_tab(qtbot, links, ada, runner, open_url=opened.append)
    tab.list.setCurrentRow(0)
    qtbot.mouseClick(tab.login_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.login_box.isVisible(), timeout=WAIT_MS)
    assert opened == [f"https://kite.zerodha.com/connect/login?v=3&api_key={API_KEY}"]
    qtbot.keyClicks(tab.login_edit, f"https://127.0.0.1/?action=login&status=success&request_token={GOOD_TOKEN}")
    qtbot.mouseClick(tab.finish_login_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy and tab.login_box.isHidden(), timeout=WAIT_MS)
    assert tab.list.item(0).text().endswith(f"Real money · logged in (session of {SESSION_DAY.isoformat()})")


def test_removing_asks_first_and_then_unlinks(
    qtbot: QtBot, links: BrokerAccounts, make_user, runner: BlockingRunner
) -> None:
    ada = make_user("ada")
    links.add(ada, "zerodha", "Kite main", kite_fields())
    asked: list[str] = []
    answers = iter([False, True])

    def confirm(_parent: object, account: LinkedAccount) -> bool:
        asked.append(account.label)
        return next(answers)

    tab = make_tab(qtbot, links, ada, runner, confirm_remove=confirm)
    tab.list.setCurrentRow(0)
    qtbot.mouseClick(tab.remove_button, Qt.MouseButton.LeftButton)
    assert links.list(ada) != []  # "no": nothing removed
    qtbot.mouseClick(tab.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.busy and tab.linked == [], timeout=WAIT_MS)
    assert asked == ["Kite main", "Kite main"] and links.list(ada) == []


class PaperFacts:
    """The paper account's figures the ticket shows beside the order (the Portfolio service's ticket_facts)."""

    def ticket_facts(self, user_id: uuid.UUID, symbol: str) -> TicketFacts:
        return TicketFacts(symbol, None, Decimal("100000"))


def make_ticket(qtbot: QtBot, desk: RecordingDesk, user: uuid.UUID, runner: BlockingRunner, orders: RealMoneyOrders):
    ticket = OrderTicket(desk, user, runner, real_orders=orders, facts=PaperFacts())
    qtbot.addWidget(ticket)
    ticket.show()
    assert ticket.real_route is not None
    selector = ticket.real_route.selector
    qtbot.waitUntil(lambda: selector.count() == 2, timeout=WAIT_MS)
    return ticket, selector


def test_the_ticket_trades_paper_by_default_and_then_nothing_reaches_the_real_account(
    qtbot: QtBot, links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user, runner: BlockingRunner
) -> None:
    ada = make_user("ada")
    link_and_log_in(links, ada)
    desk = RecordingDesk()
    ticket, selector = make_ticket(qtbot, desk, ada, runner, orders)
    assert selector.currentText() == PAPER_TEXT and selector.selected_link() is None
    assert selector.itemText(1) == "Real money: Kite main (Zerodha (Kite Connect))"
    qtbot.keyClicks(ticket.symbol_edit, "AAPL")
    qtbot.keyClicks(ticket.qty_edit, "5")
    qtbot.mouseClick(ticket.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(desk.placed) == 1 and not ticket.sending, timeout=WAIT_MS)
    assert market.submitted == [] and ticket.real_route is not None and ticket.real_route.dialog is None


def test_a_real_order_is_sent_only_after_the_account_label_is_typed_in_the_red_confirmation(
    qtbot: QtBot, links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user, runner: BlockingRunner
) -> None:
    ada = make_user("ada")
    link_and_log_in(links, ada)
    desk = RecordingDesk()
    ticket, selector = make_ticket(qtbot, desk, ada, runner, orders)
    route = ticket.real_route
    assert route is not None
    assert ticket.buying_power_label.isVisibleTo(ticket)  # paper: the virtual account's figures
    selector.setCurrentIndex(1)
    assert ticket.windowTitle() == "New order — REAL MONEY: Kite main"
    assert not ticket.buying_power_label.isVisibleTo(ticket)  # never beside a real-money order
    qtbot.keyClicks(ticket.symbol_edit, "NSE:INFY")
    qtbot.keyClicks(ticket.qty_edit, "10")
    ticket.type_combo.setCurrentText("Limit")
    qtbot.keyClicks(ticket.limit_edit, "1500.05")
    qtbot.mouseClick(ticket.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: route.dialog is not None and route.dialog.isVisible(), timeout=WAIT_MS)
    dialog = route.dialog
    assert dialog is not None
    assert dialog.account_label.text() == "Zerodha (Kite Connect) · 'Kite main' · account ZX1234"
    assert dialog.order_label.text() == "BUY 10 NSE:INFY · LIMIT ₹1,500.05 · DAY · product CNC"
    assert not dialog.send_button.isEnabled()
    qtbot.keyClicks(dialog.label_edit, "kite main")
    assert not dialog.send_button.isEnabled()
    dialog.label_edit.clear()
    qtbot.keyClicks(dialog.label_edit, "Kite main")
    assert dialog.send_button.isEnabled() and market.submitted == []
    qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(market.submitted) == 1 and ticket.submit_button.isEnabled(), timeout=WAIT_MS)
    assert ticket.status_label.text().endswith("sent to Zerodha (Kite Connect) account 'Kite main': new.")
    assert desk.placed == []  # nothing went to the paper desk
    assert selector.currentText() == PAPER_TEXT and ticket.windowTitle() == "New order"  # the next one is paper
    assert ticket.buying_power_label.isVisibleTo(ticket)


def test_closing_the_confirmation_sends_nothing(
    qtbot: QtBot, links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user, runner: BlockingRunner
) -> None:
    ada = make_user("ada")
    link_and_log_in(links, ada)
    ticket, selector = make_ticket(qtbot, RecordingDesk(), ada, runner, orders)
    route = ticket.real_route
    assert route is not None
    selector.setCurrentIndex(1)
    qtbot.keyClicks(ticket.symbol_edit, "NSE:INFY")
    qtbot.keyClicks(ticket.qty_edit, "1")
    ticket.type_combo.setCurrentText("Limit")
    qtbot.keyClicks(ticket.limit_edit, "1500")
    qtbot.mouseClick(ticket.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: route.dialog is not None and route.dialog.isVisible(), timeout=WAIT_MS)
    assert route.dialog is not None
    confirmation = route.dialog.confirmation
    qtbot.mouseClick(route.dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: ticket.status_label.text() == "Not sent.", timeout=WAIT_MS)
    assert market.submitted == [] and ticket.submit_button.isEnabled()
    with pytest.raises(RealOrderRefused, match="already used"):
        orders.place(confirmation, "Kite main")  # the closed confirmation's token is spent
    assert market.submitted == []


def test_a_refusal_of_the_preview_is_shown_in_the_tickets_red_line(
    qtbot: QtBot, links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user, runner: BlockingRunner
) -> None:
    ada = make_user("ada")
    link_and_log_in(links, ada)
    ticket, selector = make_ticket(qtbot, RecordingDesk(), ada, runner, orders)
    selector.setCurrentIndex(1)
    qtbot.keyClicks(ticket.symbol_edit, "NSE:INFY")
    qtbot.keyClicks(ticket.qty_edit, "1")
    ticket.type_combo.setCurrentText("Limit")
    qtbot.keyClicks(ticket.limit_edit, "1500.03")
    qtbot.mouseClick(ticket.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: ticket.error_label.isVisible(), timeout=WAIT_MS)
    assert "not a multiple of its tick size 0.05" in ticket.error_label.text()
    assert market.submitted == [] and ticket.submit_button.isEnabled()


def test_the_confirmation_cannot_be_sent_once_it_has_expired(qtbot: QtBot) -> None:
    issued = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
    now = [issued + timedelta(seconds=59)]
    confirmation = OrderConfirmation(
        user_id=uuid.uuid4(), link_id=uuid.uuid4(), broker="zerodha", broker_name="Zerodha (Kite Connect)",
        account_label="Kite main", broker_account_id="ZX1234",
        order=RealOrderTicket.parse("NSE:INFY", "sell", "3", "market"), product="MIS", reference_price=None,
        estimated_value=None, created_at=issued, expires_at=issued + timedelta(seconds=60), token="t",
    )  # fmt: skip
    dialog = RealOrderDialog(confirmation, now=lambda: now[0])
    qtbot.addWidget(dialog)
    assert dialog.expiry_label.text() == "Valid for 1 s more."
    assert dialog.value_label.text() == "not known (market order)"
    qtbot.keyClicks(dialog.label_edit, "Kite main")
    assert dialog.send_button.isEnabled()
    now[0] += timedelta(seconds=1)
    dialog.refresh_expiry()  # the countdown's next tick
    assert not dialog.send_button.isEnabled()
    assert dialog.expiry_label.text().startswith("This confirmation has expired")
