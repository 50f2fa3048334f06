"""Real money from the order ticket: the account selector (paper by default) and the confirmation that names the
account.

``AccountSelector`` sits at the top of the order ticket: "Paper (virtual)" first and selected, then the trader's
linked real accounts. With paper selected the ticket is exactly what it was (the ledger's virtual account). With a
real account selected, Submit goes through ``RealOrderRoute``: the order as typed (an ``NSE:``/``BSE:`` symbol)
is previewed by ``core.services.real_money_orders`` on a worker thread (the instrument's and the risk chain's
checks against the real account), and ``RealOrderDialog`` shows what would be sent, in red: the broker, the
account's label and its broker-side id, the exact order and its product, the time left. Send stays disabled until
the trader has typed the account's label exactly; only then is the order placed (again on a worker thread, where
the service checks the confirmation once more), and the selector goes back to paper. Closing the dialog spends the
confirmation: nothing is sent.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.async_runner import BlockingRunner
from core.db.trouble import trader_message
from core.domain.clock import utc_now
from core.services.broker_accounts import BrokerAccountError, LinkedAccount
from core.services.real_money_orders import (
    OrderConfirmation,
    RealMoneyOrders,
    RealOrderPlaced,
    RealOrderTicket,
    rupees,
)

if TYPE_CHECKING:
    from app.views.order_ticket import OrderTicket

log = logging.getLogger(__name__)

PAPER_TEXT = "Paper (virtual)"
REAL_STYLE = "color: #b71c1c; font-weight: bold;"
DIALOG_STYLE = "QDialog#realOrderDialog { border: 3px solid #d32f2f; }"
BANNER_STYLE = "background: #d32f2f; color: white; font-weight: bold; padding: 6px;"


def account_item_text(account: LinkedAccount) -> str:
    """``Real money: Kite main (Zerodha (Kite Connect))``, and ``— log in first`` while it has no session."""
    text = f"Real money: {account.label} ({account.broker_name})"
    return text if account.logged_in else f"{text} — log in first"


class AccountSelector(QComboBox):
    """Paper first and selected; the trader's linked real accounts after it. ``selected_link()`` is None for paper."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ticketAccount")
        self.addItem(PAPER_TEXT, None)
        self._accounts: dict[str, LinkedAccount] = {}
        self.currentIndexChanged.connect(self._restyle)

    def set_accounts(self, accounts: list[LinkedAccount]) -> None:
        """Offer ``accounts``; the selection stays where it was when that account is still linked, else paper."""
        keep = self.selected_link()
        self.blockSignals(True)
        try:
            while self.count() > 1:
                self.removeItem(1)
            self._accounts = {str(a.id): a for a in accounts if not a.is_paper}
            for account in self._accounts.values():
                self.addItem(account_item_text(account), str(account.id))
            index = self.findData(str(keep)) if keep is not None else 0
            self.setCurrentIndex(max(index, 0))
        finally:
            self.blockSignals(False)
        self.currentIndexChanged.emit(self.currentIndex())  # restyled, and the ticket retitled, once

    def selected_link(self) -> uuid.UUID | None:
        data = self.currentData()
        return uuid.UUID(data) if data else None

    def selected_account(self) -> LinkedAccount | None:
        data = self.currentData()
        return self._accounts.get(data) if data else None

    def _restyle(self, *_: object) -> None:
        self.setStyleSheet(REAL_STYLE if self.selected_link() is not None else "")


class RealOrderDialog(QDialog):
    """The confirmation: red, naming the account and the order; Send only once the account's label is typed.

    Emits ``confirmed(str)`` with what was typed when the trader clicks Send (the caller places the order)."""

    confirmed = Signal(str)

    def __init__(
        self, confirmation: OrderConfirmation, parent: QWidget | None = None, *, now: Callable[[], datetime] = utc_now
    ) -> None:
        super().__init__(parent)
        self.setObjectName("realOrderDialog")
        self.setWindowTitle("Confirm a REAL-MONEY order")
        self.setStyleSheet(DIALOG_STYLE)
        self.confirmation = confirmation
        self._now = now
        c = confirmation
        banner = QLabel(f"REAL MONEY — this order goes to your {c.broker_name} account", objectName="realBanner")
        banner.setStyleSheet(BANNER_STYLE)
        banner.setWordWrap(True)
        self.account_label = _text("realAccount", c.account_text())
        self.account_label.setStyleSheet(REAL_STYLE)
        self.order_label = _text("realOrder", c.order_text())
        self.order_label.setStyleSheet(REAL_STYLE)
        value = "not known (market order)" if c.estimated_value is None else rupees(c.estimated_value)
        self.value_label = _text("realValue", value)
        self.expiry_label = _text("realExpiry", "")
        self.label_edit = QLineEdit(objectName="realTypedLabel")
        self.label_edit.setPlaceholderText(c.account_label)
        self.label_edit.textChanged.connect(self._update_send)
        self.error_label = _text("realError", "")
        self.error_label.setStyleSheet("color: #d32f2f;")
        self.error_label.hide()

        form = QFormLayout()
        form.addRow("Account", self.account_label)
        form.addRow("Order", self.order_label)
        form.addRow("Estimated value", self.value_label)
        form.addRow("", self.expiry_label)
        form.addRow(f"Type “{c.account_label}” to send", self.label_edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.send_button = QPushButton("Send real order", objectName="realSend")
        self.send_button.setAutoDefault(False)  # Enter in the label field must not send
        self.send_button.setEnabled(False)
        self.buttons.addButton(self.send_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setObjectName("realCancel")
        self.send_button.clicked.connect(self._send)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(banner)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self._timer = QTimer(self, interval=1000)
        self._timer.timeout.connect(self.refresh_expiry)
        self._timer.start()
        self.refresh_expiry()
        self.label_edit.setFocus()

    @property
    def expired(self) -> bool:
        return self.confirmation.seconds_left(self._now()) <= 0

    def refresh_expiry(self) -> None:
        left = self.confirmation.seconds_left(self._now())
        if left <= 0:
            self._timer.stop()
            self.expiry_label.setText("This confirmation has expired: close it and submit the order again.")
        else:
            self.expiry_label.setText(f"Valid for {int(left)} s more.")
        self._update_send()

    def _update_send(self, *_: object) -> None:
        typed = self.label_edit.text().strip() == self.confirmation.account_label
        self.send_button.setEnabled(typed and not self.expired)

    def _send(self) -> None:
        if not self.send_button.isEnabled():
            return
        self._timer.stop()
        self.confirmed.emit(self.label_edit.text())
        self.accept()


def _text(name: str, text: str) -> QLabel:
    label = QLabel(text, objectName=name, wordWrap=True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class RealOrderRoute:
    """The order ticket's way to a real account: its selector, and Submit when a real account is selected.

    It reads the ticket's fields itself (an ``NSE:`` symbol is not a US ticker, so the ticket's own parsing does not
    apply) and reports through the ticket's error and status lines."""

    def __init__(self, orders: RealMoneyOrders, user_id: uuid.UUID, runner: BlockingRunner, ticket: OrderTicket):
        self._orders = orders
        self._user_id = user_id
        self._runner = runner
        self._ticket = ticket
        self.selector = AccountSelector(ticket)
        self.selector.currentIndexChanged.connect(self._retitle)
        self.dialog: RealOrderDialog | None = None
        self._busy = False
        self._paper_title = ticket.windowTitle()

    def _retitle(self, *_: object) -> None:
        """The ticket says which account it trades; the paper account's price, cost and buying power rows are
        hidden while a real one is selected (its own funds are checked at Submit and shown in the confirmation)."""
        account = self.selector.selected_account()
        title = self._paper_title if account is None else f"{self._paper_title} — REAL MONEY: {account.label}"
        self._ticket.setWindowTitle(title)
        ticket = self._ticket
        for form in ticket.findChildren(QFormLayout):
            for row in (ticket.price_label, ticket.amount_label, ticket.buying_power_label):
                if form.indexOf(row) >= 0:
                    form.setRowVisible(row, account is None)

    def selected(self) -> bool:
        return self.selector.selected_link() is not None

    def refresh(self) -> None:
        """Read the trader's linked accounts again (a worker thread); paper stays the default."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (the app is closing): nothing would show the answer
        self._runner.spawn(self._load(), name="order-ticket-accounts")

    def submit(self) -> None:
        """Preview the typed order for the selected real account, then ask for the confirmation."""
        account = self.selector.selected_account()
        if account is None or self._busy:
            return
        ticket = self._ticket
        try:
            if ticket.bracket_box.isChecked():
                raise BrokerAccountError("Bracket orders are not sent to Indian broker accounts; uncheck Bracket.")
            order = RealOrderTicket.parse(
                ticket.symbol_edit.text(),
                str(ticket.side_combo.currentData()),
                ticket.qty_edit.text().strip().replace(",", ""),
                str(ticket.type_combo.currentData()),
                time_in_force=str(ticket.tif_combo.currentData()),
                limit_price=ticket.limit_edit.text().strip().replace(",", "") or None,
                stop_price=ticket.stop_edit.text().strip().replace(",", "") or None,
            )
        except BrokerAccountError as exc:
            ticket.status_label.clear()
            ticket.show_error(str(exc))
            return
        ticket.show_error("")
        ticket.status_label.setText(f"Checking {order.describe()} with {account.broker_name}…")
        self._set_busy(True)
        self._runner.spawn(self._preview(account, order), name="real-order-preview")

    async def _load(self) -> None:
        try:
            accounts = await self._runner.call(self._orders.linked_accounts, self._user_id)
        except Exception:
            log.warning("reading the linked broker accounts failed", exc_info=True)
            return
        if shiboken6.isValid(self.selector):
            self.selector.set_accounts(accounts)

    async def _preview(self, account: LinkedAccount, order: RealOrderTicket) -> None:
        try:
            confirmation = await self._runner.call(self._orders.preview, self._user_id, account.id, order)
        except Exception as exc:
            self._failed(exc)
            return
        if not shiboken6.isValid(self._ticket):
            self._orders.cancel_confirmation(confirmation)
            return
        self._ticket.status_label.setText("Confirm the real-money order in the red window.")
        dialog = RealOrderDialog(confirmation, self._ticket, now=self._orders.now)
        dialog.confirmed.connect(lambda typed: self._runner.spawn(self._place(confirmation, typed), name="real-order"))
        dialog.rejected.connect(lambda: self._not_sent(confirmation))
        self.dialog = dialog
        dialog.open()

    async def _place(self, confirmation: OrderConfirmation, typed: str) -> None:
        try:
            placed: RealOrderPlaced = await self._runner.call(self._orders.place, confirmation, typed)
        except Exception as exc:
            self._failed(exc)
            return
        if shiboken6.isValid(self._ticket):
            self._set_busy(False)
            self._ticket.status_label.setText(placed.message)
            self._ticket.qty_edit.clear()  # as after a paper order: Enter cannot send the same order twice
            self.selector.setCurrentIndex(0)  # and back to paper: every real order is picked explicitly

    def _not_sent(self, confirmation: OrderConfirmation) -> None:
        self._orders.cancel_confirmation(confirmation)  # no I/O: the token is dropped from memory
        if shiboken6.isValid(self._ticket):
            self._set_busy(False)
            self._ticket.status_label.setText("Not sent.")

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, BrokerAccountError):
            message = str(exc)
        else:
            log.error("a real-money order failed", exc_info=exc)
            message = f"The order was not sent: {trader_message(exc)}"
        if shiboken6.isValid(self._ticket):
            self._set_busy(False)
            self._ticket.status_label.clear()
            self._ticket.show_error(message)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._ticket.submit_button.setEnabled(not busy)
