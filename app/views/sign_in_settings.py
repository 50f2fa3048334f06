"""Settings → Sign-in: the Google and Discord identities linked to the logged-in trader, with Link and Unlink.

Link runs the same browser sign-in as the login dialog (on a worker; "Cancel sign-in" stops the wait) and links the
identity it proves; Unlink asks the service, which refuses to unlink the last way to log in and says why. An account
created from an identity has no password: "Set password" gives it one here (a password change needs the current
one). Every change applies at once, not on OK: it is a link with the outside world, not a preference.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from app.async_runner import BlockingRunner
from app.views.panel_widgets import went_wrong
from core.accounts.errors import AccountError
from core.services.identities import IdentityService, LinkedIdentities

log = logging.getLogger(__name__)


class SignInSettings(QWidget):
    """``busy_changed`` tells the dialog to hold OK and Cancel while a call (above all a browser sign-in) runs."""

    busy_changed = Signal(bool)

    def __init__(
        self, identities: IdentityService, user_id: uuid.UUID, runner: BlockingRunner, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("signInSettings")
        self._identities = identities
        self._user_id = user_id
        self._runner = runner
        self._busy = False
        self._cancel_event: threading.Event | None = None  # set by "Cancel sign-in" while the browser is out
        self.linked: LinkedIdentities | None = None

        form = QFormLayout(self)
        intro = _label("signInNote")
        intro.setText(
            "Log in with Google or Discord instead of a password. One Google or Discord account can be linked to "
            "one StratForge account."
        )
        form.addRow(intro)
        self.status: dict[str, QLabel] = {}
        self.link_buttons: dict[str, QPushButton] = {}
        self.unlink_buttons: dict[str, QPushButton] = {}
        for provider in identities.providers():
            label = identities.label(provider)
            status = _label(f"{provider}LinkStatus")
            link = QPushButton("Link…")
            link.setObjectName(f"{provider}LinkButton")
            unlink = QPushButton("Unlink")
            unlink.setObjectName(f"{provider}UnlinkButton")
            # Bound methods, not lambdas holding the section: a lambda's cycle leaves the widgets to the garbage
            # collector, which may free them after the QApplication (an abort at exit).
            for button, slot in ((link, self._link_button_clicked), (unlink, self._unlink_button_clicked)):
                button.setProperty("provider", provider)
                button.clicked.connect(slot)
            row = QHBoxLayout()
            row.addWidget(status, 1)
            row.addWidget(link)
            row.addWidget(unlink)
            form.addRow(label, row)
            self.status[provider], self.link_buttons[provider], self.unlink_buttons[provider] = status, link, unlink
        self.password = QLineEdit()
        self.password.setObjectName("identityPassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("at least 10 characters, letters and digits")
        self.set_password_button = QPushButton("Set password")
        self.set_password_button.setObjectName("setPasswordButton")
        self.set_password_button.clicked.connect(self._set_password_clicked)
        self.password_row = QWidget()
        password_row = QHBoxLayout(self.password_row)
        password_row.setContentsMargins(0, 0, 0, 0)
        password_row.addWidget(self.password, 1)
        password_row.addWidget(self.set_password_button)
        self.password_note = _label("identityPasswordNote")
        self.password_note.setText("Your account has no password yet: set one to log in without Google or Discord.")
        form.addRow(self.password_note)
        form.addRow("Password", self.password_row)
        self.cancel_button = QPushButton("Cancel sign-in")
        self.cancel_button.setObjectName("settingsCancelSignIn")
        self.cancel_button.clicked.connect(self.cancel_sign_in)
        self.cancel_button.hide()
        form.addRow("", self.cancel_button)
        self.message = _label("signInMessage")
        self.error = _label("signInError")
        self.error.setStyleSheet("color: #d32f2f;")
        form.addRow(self.message)
        form.addRow(self.error)
        self._show(None)
        self._start(self._load(), "Loading your sign-in links…")

    @property
    def busy(self) -> bool:
        return self._busy

    def cancel_sign_in(self) -> None:
        if self._cancel_event is not None:
            self._cancel_event.set()

    # --- behaviour ---
    async def _load(self) -> None:
        self._show(await self._runner.call(self._identities.linked, self._user_id))

    def _link_button_clicked(self) -> None:
        button = self.sender()
        if isinstance(button, QPushButton):
            self._link_clicked(str(button.property("provider")))

    def _unlink_button_clicked(self) -> None:
        button = self.sender()
        if isinstance(button, QPushButton):
            self._unlink_clicked(str(button.property("provider")))

    def _link_clicked(self, provider: str) -> None:
        label = self._identities.label(provider)
        self._start(self._link(provider), f"Waiting for {label} in your browser…")

    async def _link(self, provider: str) -> None:
        self._cancel_event = threading.Event()
        self.cancel_button.show()
        try:
            identity = await self._runner.call(self._identities.sign_in, provider, self._cancel_event)
        finally:
            self._cancel_event = None
            self.cancel_button.hide()
        self._show(await self._runner.call(self._identities.link, self._user_id, identity))
        self.message.setText(f"{self._identities.label(provider)} is linked: you can log in with it.")

    def _unlink_clicked(self, provider: str) -> None:
        self._start(self._unlink(provider), "Unlinking…")

    async def _unlink(self, provider: str) -> None:
        self._show(await self._runner.call(self._identities.unlink, self._user_id, provider))
        self.message.setText(f"{self._identities.label(provider)} is no longer linked.")

    def _set_password_clicked(self) -> None:
        password = self.password.text()
        if not password:
            self.error.setText("Type the new password first.")
            return
        self._start(self._set_password(password), "Setting your password…")

    async def _set_password(self, password: str) -> None:
        await self._runner.call(self._identities.set_password, self._user_id, password)
        self.password.clear()
        self._show(await self._runner.call(self._identities.linked, self._user_id))
        self.message.setText("Your password is set.")

    def _start(self, coro: Coroutine[Any, Any, None], status: str) -> None:
        if self._busy:
            coro.close()
            return
        self.error.setText("")
        self.message.setText(status)
        self._set_busy(True)
        self._runner.spawn(self._guard(coro), name="sign-in-settings")

    async def _guard(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except AccountError as exc:
            self.message.setText("")
            self.error.setText(str(exc))
        except Exception as exc:
            log.exception("sign-in settings call failed")
            self.message.setText("")
            self.error.setText(went_wrong(exc))
        finally:
            self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._show(self.linked)
        self.busy_changed.emit(busy)

    def _show(self, linked: LinkedIdentities | None) -> None:
        self.linked = linked
        for provider in self._identities.providers():
            subject = linked.subject(provider) if linked else None
            configured = self._identities.configured(provider)
            self.status[provider].setText("…" if linked is None else "Linked" if subject else "Not linked")
            link, unlink = self.link_buttons[provider], self.unlink_buttons[provider]
            link.setVisible(subject is None)
            link.setEnabled(linked is not None and configured and not self._busy)
            link.setToolTip("" if configured else self._identities.not_configured_reason(provider))
            unlink.setVisible(subject is not None)
            refusal = linked.unlink_refusal(provider) if linked else None
            unlink.setEnabled(not self._busy)  # a refusal is explained when clicked, and shown as the tooltip
            unlink.setToolTip(refusal or "")
        no_password = linked is not None and not linked.has_password
        self.password_note.setVisible(no_password)
        self.password_row.setVisible(no_password)
        self.set_password_button.setEnabled(not self._busy)


def _label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label
