"""Log-in / sign-up dialog.

Account calls hash or verify a password with argon2 (~50-100 ms) and talk to PostgreSQL, so they run
on the runner's worker threads; the dialog disables its buttons meanwhile and shows the service's
own error messages (AccountError's str() is written for the trader) in a red label.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.async_runner import BlockingRunner
from core.accounts import AccountService, LoginResult, UserInfo
from core.accounts.errors import AccountError

log = logging.getLogger(__name__)

LOGIN_TAB, SIGNUP_TAB = 0, 1


class LoginDialog(QDialog):
    """Accepts once a user has logged in (or signed up and been logged in); see `user`/`login_result`."""

    def __init__(
        self,
        service: AccountService,
        runner: BlockingRunner,
        parent: QWidget | None = None,
        *,
        remember_available: bool = True,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("loginDialog")
        self.setWindowTitle("StratForge — log in")
        self.setMinimumWidth(380)
        self._service = service
        self._runner = runner
        self._busy = False
        self.login_result: LoginResult | None = None

        self._remember_available = remember_available
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("loginTabs")
        self.tabs.addTab(self._build_login_tab(), "Log in")
        self.tabs.addTab(self._build_signup_tab(), "Sign up")
        self.tabs.currentChanged.connect(self._tab_changed)

        self.error_label = QLabel(self)
        self.error_label.setObjectName("errorLabel")
        self.error_label.setStyleSheet("color: #d32f2f;")
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label = QLabel(self)
        self.status_label.setObjectName("statusLabel")

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.error_label)
        layout.addWidget(self.status_label)
        self._tab_changed(LOGIN_TAB)

    # --- construction ---
    def _build_login_tab(self) -> QWidget:
        page = QWidget()
        self.login_name = _line_edit("loginEmail", "email or username")
        self.login_password = _line_edit("loginPassword", "password", password=True)
        self.login_remember = QCheckBox("Remember me on this computer")
        self.login_remember.setObjectName("loginRemember")
        if not self._remember_available:
            self.login_remember.setEnabled(False)
            self.login_remember.setToolTip("This system has no password keyring, so logins cannot be remembered.")
        self.login_button = QPushButton("Log in")
        self.login_button.setObjectName("loginButton")
        self.login_button.clicked.connect(self._login_clicked)
        form = QFormLayout(page)
        form.addRow("Email or username", self.login_name)
        form.addRow("Password", self.login_password)
        form.addRow("", self.login_remember)
        form.addRow("", self.login_button)
        return page

    def _build_signup_tab(self) -> QWidget:
        page = QWidget()
        self.signup_email = _line_edit("signupEmail", "you@example.com")
        self.signup_username = _line_edit("signupUsername", "3-50 letters, digits, . _ -")
        self.signup_password = _line_edit("signupPassword", "at least 10 characters, letters and digits", True)
        self.signup_confirm = _line_edit("signupConfirm", "repeat the password", password=True)
        self.signup_button = QPushButton("Create account")
        self.signup_button.setObjectName("signupButton")
        self.signup_button.clicked.connect(self._signup_clicked)
        form = QFormLayout(page)
        form.addRow("Email", self.signup_email)
        form.addRow("Username", self.signup_username)
        form.addRow("Password", self.signup_password)
        form.addRow("Confirm password", self.signup_confirm)
        form.addRow("", self.signup_button)
        return page

    # --- results ---
    @property
    def user(self) -> UserInfo | None:
        return self.login_result.user if self.login_result else None

    @property
    def remember(self) -> bool:
        return self.login_remember.isChecked()

    @property
    def busy(self) -> bool:
        return self._busy

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)

    # --- behaviour ---
    def _tab_changed(self, index: int) -> None:
        self.show_error("")
        button = self.login_button if index == LOGIN_TAB else self.signup_button
        other = self.signup_button if index == LOGIN_TAB else self.login_button
        other.setDefault(False)
        button.setDefault(True)  # Enter submits the visible form

    def _login_clicked(self) -> None:
        name = self.login_name.text().strip()
        password = self.login_password.text()
        if not name or not password:
            self.show_error("Enter your email or username and your password.")
            return
        self._start(self._log_in(name, password, self.remember), "Checking your password…")

    def _signup_clicked(self) -> None:
        email = self.signup_email.text().strip()
        username = self.signup_username.text().strip()
        password = self.signup_password.text()
        if not email or not username or not password:
            self.show_error("Fill in email, username and password.")
            return
        if password != self.signup_confirm.text():
            self.show_error("The two passwords do not match.")
            return
        self._start(self._sign_up(email, username, password), "Creating your account…")

    def _start(self, coro: Coroutine[Any, Any, LoginResult], status: str) -> None:
        if self._busy:
            coro.close()
            return
        self._set_busy(True, status)
        self.show_error("")
        self._runner.spawn(self._guard(coro), name="login-dialog")

    async def _guard(self, coro: Coroutine[Any, Any, LoginResult]) -> None:
        """Shows AccountError messages as they are; anything unexpected as a short generic line."""
        try:
            result = await coro
        except AccountError as exc:
            self.show_error(str(exc))
        except Exception as exc:
            log.exception("account call failed")
            self.show_error(f"Something went wrong: {type(exc).__name__}: {exc}")
        else:
            self.login_result = result
            self.accept()
        finally:
            self._set_busy(False, "")

    async def _log_in(self, name: str, password: str, remember: bool) -> LoginResult:
        return await self._runner.call(self._service.log_in, name, password, remember)

    async def _sign_up(self, email: str, username: str, password: str) -> LoginResult:
        await self._runner.call(self._service.sign_up, email, username, password)
        # Log the new account straight in, so every app session has a login session (and a token).
        return await self._runner.call(self._service.log_in, username, password, False)

    def _set_busy(self, busy: bool, status: str) -> None:
        self._busy = busy
        self.status_label.setText(status)
        for widget in (self.login_button, self.signup_button, self.tabs):
            widget.setEnabled(not busy)

    def reject(self) -> None:
        if not self._busy:  # closing mid-call would leave a result arriving for a dead dialog
            super().reject()


def _line_edit(name: str, placeholder: str, password: bool = False) -> QLineEdit:
    edit = QLineEdit()
    edit.setObjectName(name)
    edit.setPlaceholderText(placeholder)
    if password:
        edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit
