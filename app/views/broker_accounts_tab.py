"""Settings > Broker accounts: the trader's own Zerodha, Angel One and ICICI Direct accounts.

A line per account says what it is and where its session stands (``Kite main — Zerodha (Kite Connect) — Real money
· logged in (session of 2026-12-08)``); its saved values show only as masked hints in the tooltip. Below the list:

- Add: the broker, a name for the account, and the fields that broker's adapter asks for (secret ones masked
  while typed); saved sealed by ``core.services.broker_accounts``, never shown again.
- Log in: for a browser log-in (Kite, Breeze) the broker's page opens in the system browser and the trader pastes
  the address it ends on; for Angel One the trader types the 6-digit code (or nothing, when the TOTP secret was
  saved). The session is kept, sealed, until the broker ends it.
- Remove: after a yes/no question naming the account.

Every service call (the database, the keyring, the broker's log-in) runs on the runner's worker threads; the tab
disables its buttons meanwhile and shows refusals in one red line.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.async_runner import BlockingRunner
from core.db.trouble import trader_message
from core.services.broker_accounts import (
    BrokerAccountError,
    BrokerAccounts,
    BrokerChoice,
    LinkedAccount,
    is_required,
    parse_login_answer,
)

log = logging.getLogger(__name__)

ERROR_STYLE = "color: #d32f2f;"
FIXED_ROWS = 2  # Broker, Name: the add form's rows before the adapter's fields


def open_in_browser(url: str) -> None:
    QDesktopServices.openUrl(QUrl(url))


def ask_remove(parent: QWidget, account: LinkedAccount) -> bool:
    answer = QMessageBox.question(
        parent,
        "Remove broker account",
        f"Unlink {account.label!r} ({account.broker_name})? Its saved credentials and session are deleted; "
        "its fills stay in your journal.",
    )
    return answer == QMessageBox.StandardButton.Yes


def account_line(account: LinkedAccount) -> str:
    return f"{account.label} — {account.broker_name} — {account.state()}"


class BrokerAccountsTab(QWidget):
    """The Broker accounts tab; ``accounts`` holds the database, the vault and the link adapters."""

    def __init__(
        self,
        accounts: BrokerAccounts,
        user_id: uuid.UUID,
        runner: BlockingRunner,
        parent: QWidget | None = None,
        *,
        open_url: Callable[[str], None] = open_in_browser,
        confirm_remove: Callable[[QWidget, LinkedAccount], bool] = ask_remove,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("brokerAccountsTab")
        self._accounts = accounts
        self._user_id = user_id
        self._runner = runner
        self._open_url = open_url
        self._confirm_remove = confirm_remove
        self._choices: list[BrokerChoice] = []
        self._linked: list[LinkedAccount] = []
        self._field_edits: dict[str, QLineEdit] = {}
        self._login_link: uuid.UUID | None = None
        self._login_is_code = False  # Angel One: a typed code, not a pasted address
        self._busy = False

        note = QLabel(
            "Link your own brokerage account to trade it with real money. Paper (virtual) stays the default: "
            "an order goes to a real account only when you pick it in the order ticket and type its name."
        )
        note.setWordWrap(True)
        self.list = QListWidget(objectName="brokerAccountsList")
        self.list.currentRowChanged.connect(self._update_buttons)
        self.add_button = QPushButton("Add…", objectName="brokerAccountAdd")
        self.login_button = QPushButton("Log in…", objectName="brokerAccountLogin")
        self.remove_button = QPushButton("Remove", objectName="brokerAccountRemove")
        self.add_button.clicked.connect(self.show_add_form)
        self.login_button.clicked.connect(self.start_login)
        self.remove_button.clicked.connect(self.remove_selected)
        row = QHBoxLayout()
        for button in (self.add_button, self.login_button, self.remove_button):
            button.setAutoDefault(False)
            row.addWidget(button)
        row.addStretch(1)

        self.add_box = QGroupBox("Link an account", objectName="brokerAccountForm")
        self.broker_combo = QComboBox(objectName="brokerAccountBroker")
        self.broker_combo.currentIndexChanged.connect(self._show_fields)
        self.label_edit = QLineEdit(objectName="brokerAccountLabel")
        self.label_edit.setPlaceholderText("A name for this account, e.g. Kite main")
        self.save_button = QPushButton("Save", objectName="brokerAccountSave")
        self.save_button.setAutoDefault(False)
        self.save_button.clicked.connect(self.save_link)
        self.cancel_add_button = QPushButton("Cancel", objectName="brokerAccountCancel")
        self.cancel_add_button.setAutoDefault(False)
        self.cancel_add_button.clicked.connect(self._hide_add_form)
        self.fields_form = QFormLayout()  # the broker and the name, then the fields its adapter asks for
        self.fields_form.addRow("Broker", self.broker_combo)
        self.fields_form.addRow("Name", self.label_edit)
        add_layout = QVBoxLayout(self.add_box)
        add_layout.addLayout(self.fields_form)
        add_buttons = QHBoxLayout()
        add_buttons.addStretch(1)
        add_buttons.addWidget(self.cancel_add_button)
        add_buttons.addWidget(self.save_button)
        add_layout.addLayout(add_buttons)
        self.add_box.hide()

        self.login_box = QGroupBox("Log in", objectName="brokerAccountLoginForm")
        self.login_hint = QLabel(wordWrap=True)
        self.login_edit = QLineEdit(objectName="brokerAccountLoginAnswer")
        self.finish_login_button = QPushButton("Finish log-in", objectName="brokerAccountFinishLogin")
        self.finish_login_button.setAutoDefault(False)
        self.finish_login_button.clicked.connect(self.finish_login)
        login_layout = QVBoxLayout(self.login_box)
        login_layout.addWidget(self.login_hint)
        login_layout.addWidget(self.login_edit)
        login_layout.addWidget(self.finish_login_button, alignment=Qt.AlignmentFlag.AlignRight)
        self.login_box.hide()

        self.error_label = QLabel(objectName="brokerAccountsError", wordWrap=True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.hide()
        self.status_label = QLabel(objectName="brokerAccountsStatus", wordWrap=True)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)

        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.list)
        layout.addLayout(row)
        layout.addWidget(self.add_box)
        layout.addWidget(self.login_box)
        layout.addWidget(self.error_label)
        layout.addWidget(self.status_label)
        self._update_buttons()

    # ----- public ------------------------------------------------------------------------------------

    @property
    def linked(self) -> list[LinkedAccount]:
        return list(self._linked)

    @property
    def busy(self) -> bool:
        return self._busy

    def load(self) -> None:
        """Read the brokers on offer and the trader's accounts (a worker thread)."""
        self._run(self._load(), "Reading your broker accounts…")

    def show_add_form(self) -> None:
        self.login_box.hide()
        self.add_box.show()
        self.label_edit.setFocus()

    def save_link(self) -> None:
        broker = self.broker_combo.currentData()
        if not broker:
            self._error("No broker can be linked on this computer.")
            return
        values = {name: edit.text() for name, edit in self._field_edits.items()}
        label = self.label_edit.text()
        self._run(self._save(str(broker), label, values), "Saving the account…")

    def start_login(self) -> None:
        account = self._selected()
        if account is None:
            return
        self._run(self._start_login(account), f"Opening the {account.broker_name} log-in…")

    def finish_login(self) -> None:
        link = self._login_link
        if link is None:
            return
        typed = self.login_edit.text()
        answer = parse_login_answer(typed)
        if self._login_is_code:
            code = typed.strip()
            answer = {"totp": code} if code else {}
        self._run(self._finish_login(link, answer), "Logging in…")

    def remove_selected(self) -> None:
        account = self._selected()
        if account is None or not self._confirm_remove(self, account):
            return
        self._run(self._remove(account), f"Removing {account.label}…")

    # ----- the worker calls --------------------------------------------------------------------------

    async def _load(self) -> None:
        choices = await self._runner.call(self._accounts.choices)
        linked = await self._runner.call(self._accounts.list, self._user_id)
        if self._alive():
            self._choices = choices
            self.broker_combo.blockSignals(True)
            self.broker_combo.clear()
            for choice in choices:
                self.broker_combo.addItem(choice.display_name, choice.broker)
            self.broker_combo.blockSignals(False)
            self._show_fields()
            self._show_linked(linked)
            self.status_label.clear()

    async def _save(self, broker: str, label: str, values: dict[str, str]) -> None:
        account = await self._runner.call(self._accounts.add, self._user_id, broker, label, values)
        linked = await self._runner.call(self._accounts.list, self._user_id)
        if self._alive():
            for edit in self._field_edits.values():
                edit.clear()  # the secrets leave the form as soon as they are sealed
            self.label_edit.clear()
            self.add_box.hide()
            self._show_linked(linked, select=account.id)
            self.status_label.setText(f"{account.label} linked. Log in to trade it.")

    async def _start_login(self, account: LinkedAccount) -> None:
        url = await self._runner.call(self._accounts.login_url, self._user_id, account.id)
        if not self._alive():
            return
        self._login_link = account.id
        self._login_is_code = url is None
        self.login_edit.clear()
        self.add_box.hide()
        if url is None:
            self.login_box.setTitle(f"Log in to {account.broker_name} — {account.label}")
            self.login_hint.setText(
                "Type the 6-digit code your authenticator shows (leave it empty if you saved the TOTP secret)."
            )
            self.login_edit.setPlaceholderText("123456")
            self.login_edit.setEchoMode(QLineEdit.EchoMode.Password)
        else:
            self.login_box.setTitle(f"Log in to {account.broker_name} — {account.label}")
            self.login_hint.setText(
                f"Your browser opened {account.broker_name}'s log-in page. Log in there, then paste here the "
                "address the page ends on (it carries the log-in's token)."
            )
            self.login_edit.setPlaceholderText("https://…?request_token=…")
            self.login_edit.setEchoMode(QLineEdit.EchoMode.Normal)
            self._open_url(url)
        self.login_box.show()
        self.login_edit.setFocus()
        self.status_label.clear()

    async def _finish_login(self, link: uuid.UUID, answer: dict[str, str]) -> None:
        account = await self._runner.call(self._accounts.log_in, self._user_id, link, answer)
        linked = await self._runner.call(self._accounts.list, self._user_id)
        if self._alive():
            self.login_edit.clear()
            self.login_box.hide()
            self._login_link = None
            self._show_linked(linked, select=account.id)
            self.status_label.setText(f"Logged in to {account.broker_name} for {account.label}.")

    async def _remove(self, account: LinkedAccount) -> None:
        await self._runner.call(self._accounts.remove, self._user_id, account.id)
        linked = await self._runner.call(self._accounts.list, self._user_id)
        if self._alive():
            self._show_linked(linked)
            self.status_label.setText(f"{account.label} removed.")

    # ----- behaviour ---------------------------------------------------------------------------------

    def _run(self, work: Coroutine[Any, Any, None], status: str) -> None:
        if self._busy:
            return
        self._set_busy(True)
        self._error("")
        self.status_label.setText(status)

        async def guarded() -> None:
            try:
                await work
            except BrokerAccountError as exc:
                if self._alive():
                    self.status_label.clear()
                    self._error(str(exc))
            except Exception as exc:  # the database or the keyring went away: one line, details in the log
                log.warning("a broker accounts call failed", exc_info=True)
                if self._alive():
                    self.status_label.clear()
                    self._error(trader_message(exc))
            finally:
                if self._alive():
                    self._set_busy(False)

        self._runner.spawn(guarded(), name="broker-accounts")

    def _show_fields(self, *_: object) -> None:
        while self.fields_form.rowCount() > FIXED_ROWS:
            self.fields_form.removeRow(FIXED_ROWS)
        self._field_edits = {}
        broker = self.broker_combo.currentData()
        choice = next((c for c in self._choices if c.broker == broker), None)
        if choice is None:
            return
        for f in choice.fields:
            edit = QLineEdit(objectName=f"brokerField_{f.name}")
            if f.secret:
                edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setToolTip(f.help)
            edit.setPlaceholderText("" if is_required(f) else "optional")
            self.fields_form.addRow(f.label, edit)
            self._field_edits[f.name] = edit

    def _show_linked(self, linked: list[LinkedAccount], select: uuid.UUID | None = None) -> None:
        self._linked = list(linked)
        self.list.clear()
        for account in linked:
            item = QListWidgetItem(account_line(account))
            item.setData(Qt.ItemDataRole.UserRole, str(account.id))
            hints = "\n".join(f"{name}: {hint}" for name, hint in account.hints.items())
            if account.broker_account_id:
                hints += f"\nBroker account: {account.broker_account_id}"
            item.setToolTip(hints)
            self.list.addItem(item)
            if account.id == select:
                self.list.setCurrentItem(item)
        if not linked:
            self.list.addItem(QListWidgetItem("No broker account linked: every order is paper (virtual)."))
            self.list.item(0).setFlags(Qt.ItemFlag.NoItemFlags)
        self._update_buttons()

    def _selected(self) -> LinkedAccount | None:
        row = self.list.currentRow()
        if not self._linked or row < 0 or row >= len(self._linked):
            return None
        return self._linked[row]

    def _hide_add_form(self) -> None:
        for edit in self._field_edits.values():
            edit.clear()
        self.add_box.hide()

    def _error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._update_buttons()

    def _update_buttons(self, *_: object) -> None:
        chosen = self._selected() is not None
        self.add_button.setEnabled(not self._busy)
        self.save_button.setEnabled(not self._busy)
        self.finish_login_button.setEnabled(not self._busy)
        self.login_button.setEnabled(chosen and not self._busy)
        self.remove_button.setEnabled(chosen and not self._busy)

    def _alive(self) -> bool:
        return shiboken6.isValid(self)
