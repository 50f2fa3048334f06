"""Log-in / sign-up dialog.

Account calls hash or verify a password with argon2 (~50-100 ms) and talk to PostgreSQL, so they run
on the runner's worker threads; the dialog disables its buttons meanwhile and shows the service's
own error messages (AccountError's str() is written for the trader) in a red label.

Given a club with per-trader roles (core.accounts.club_login.ClubAccounts instead of an AccountService), the same
dialog files a sign-up request (the club admin approves it; the dialog stays open and says so) and logs in as the
member's own database role, by username; its result is then `club_login` instead of `login_result`.

Given an IdentityService (core.services.identities), the "Log in" tab also offers "Sign in with Google" and "Sign in
with Discord": the system browser opens, the worker waits for the loopback redirect (Cancel stops it), and then
- an identity linked to a user logs that user in (``login_result``, "remember me" as for a password);
- an identity linked to nobody (solo or plain shared database) is offered a new account, the username proposed
  from the provider's name and editable, or the trader logs in with their password and links it in Settings;
- in a club, the identity fills the join request (its verified email, a proposed username) and the trader picks
  the password of their club database login; the request carries the identity to the admin.
A provider with no client id configured has its button disabled, its tooltip saying how to configure it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.async_runner import BlockingRunner
from app.views.panel_widgets import went_wrong
from core.accounts import AccountService, LoginResult, UserInfo
from core.accounts.club_login import ClubAccounts, ClubLogin
from core.accounts.errors import AccountError
from core.services.identities import IdentityService, VerifiedIdentity

log = logging.getLogger(__name__)

LOGIN_TAB, SIGNUP_TAB = 0, 1
REQUEST_SENT = "Your request was sent; the club admin approves it. Log in here once they have."
FIRST_ACCOUNT = "No account exists on this database yet: create yours to start (it administers the database)."
NEW_IDENTITY = (
    "No StratForge account is linked to this {label} account. Create one below, or log in above with your "
    "password: {label} is then linked to that account."
)
CLUB_IDENTITY = (
    "Signed in with {label} as {email}. Choose a username and the password of your club login, then request to "
    "join: the club admin approves it."
)


class LoginDialog(QDialog):
    """Accepts once a user has logged in (or signed up and been logged in); see `user` and `login_result` (solo and
    plain shared databases) or `club_login` (a club with per-trader roles)."""

    def __init__(
        self,
        service: AccountService | ClubAccounts,
        runner: BlockingRunner,
        parent: QWidget | None = None,
        *,
        remember_available: bool = True,
        first_account: bool = False,
        identities: IdentityService | None = None,
    ) -> None:
        """``first_account``: the database has no account yet (``AccountService.has_accounts``), so the dialog
        opens on "Sign up" and says why; a club's dialog always opens on "Log in" (its sign-up is a request)."""
        super().__init__(parent)
        self.setObjectName("loginDialog")
        self._club = service if isinstance(service, ClubAccounts) else None
        self._service = service if isinstance(service, AccountService) else None
        self.setWindowTitle("StratForge — log in to the club" if self._club else "StratForge — log in")
        self.setMinimumWidth(380)
        self._runner = runner
        self._busy = False
        self._identities = identities
        self._cancel_event: threading.Event | None = None  # set by Cancel while a browser sign-in is under way
        self.pending_identity: VerifiedIdentity | None = None  # signed in, not yet an account (or a request)
        self.login_result: LoginResult | None = None
        self.club_login: ClubLogin | None = None

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
        self.notice_label = QLabel(self)  # what happened that is not an error: a sign-up request was sent
        self.notice_label.setObjectName("noticeLabel")
        self.notice_label.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self._build_identity_panel())
        layout.addWidget(self.notice_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.status_label)
        layout.addWidget(self.cancel_sign_in_button)
        self._tab_changed(LOGIN_TAB)
        if first_account and self._club is None:
            self.tabs.setCurrentIndex(SIGNUP_TAB)
            self.notice_label.setText(FIRST_ACCOUNT)

    # --- construction ---
    def _build_login_tab(self) -> QWidget:
        page = QWidget()
        # A club member's database login is named after the username, so the email cannot log in there.
        self.login_name = _line_edit("loginEmail", "username" if self._club else "email or username")
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
        form.addRow("Username" if self._club else "Email or username", self.login_name)
        form.addRow("Password", self.login_password)
        form.addRow("", self.login_remember)
        form.addRow("", self.login_button)
        self.provider_buttons: dict[str, QPushButton] = {}
        if self._identities is not None:
            row = QHBoxLayout()
            for provider in self._identities.providers():
                label = self._identities.label(provider)
                button = QPushButton(f"Sign in with {label}")
                button.setObjectName(f"{provider}SignInButton")
                if not self._identities.configured(provider):
                    button.setEnabled(False)
                    button.setToolTip(self._identities.not_configured_reason(provider))
                # A bound method, not a lambda holding the dialog: a lambda's reference cycle left the dialog for
                # the garbage collector, which freed it after the QApplication and aborted the process at exit.
                button.setProperty("provider", provider)
                button.clicked.connect(self._provider_button_clicked)
                self.provider_buttons[provider] = button
                row.addWidget(button)
            form.addRow("", row)
        self.cancel_sign_in_button = QPushButton("Cancel sign-in")
        self.cancel_sign_in_button.setObjectName("cancelSignInButton")
        self.cancel_sign_in_button.clicked.connect(self._cancel_sign_in)
        self.cancel_sign_in_button.hide()  # in the dialog's own layout: the tabs are disabled while busy
        return page

    def _build_identity_panel(self) -> QWidget:
        """Shown when a signed-in identity is linked to nobody (solo and plain shared databases)."""
        self.identity_panel = QGroupBox("New StratForge account")
        self.identity_panel.setObjectName("identityPanel")
        self.identity_text = QLabel()
        self.identity_text.setObjectName("identityText")
        self.identity_text.setWordWrap(True)
        self.identity_text.setTextFormat(Qt.TextFormat.PlainText)
        self.identity_username = _line_edit("identityUsername", "3-50 letters, digits, . _ -")
        self.identity_create_button = QPushButton("Create account")
        self.identity_create_button.setObjectName("identityCreateButton")
        self.identity_create_button.clicked.connect(self._create_from_identity)
        self.identity_dismiss_button = QPushButton("Not now")
        self.identity_dismiss_button.setObjectName("identityDismissButton")
        self.identity_dismiss_button.clicked.connect(self._forget_identity)
        form = QFormLayout(self.identity_panel)
        form.addRow(self.identity_text)
        form.addRow("Username", self.identity_username)
        buttons = QHBoxLayout()
        buttons.addWidget(self.identity_create_button)
        buttons.addWidget(self.identity_dismiss_button)
        form.addRow("", buttons)
        self.identity_panel.hide()
        return self.identity_panel

    def _build_signup_tab(self) -> QWidget:
        page = QWidget()
        self.signup_name = _line_edit("signupName", "how the club admin knows you (optional)")
        self.signup_email = _line_edit("signupEmail", "you@example.com")
        self.signup_username = _line_edit("signupUsername", "3-50 letters, digits, . _ -")
        self.signup_password = _line_edit("signupPassword", "at least 10 characters, letters and digits", True)
        self.signup_confirm = _line_edit("signupConfirm", "repeat the password", password=True)
        self.signup_button = QPushButton("Request to join" if self._club else "Create account")
        self.signup_button.setObjectName("signupButton")
        self.signup_button.clicked.connect(self._signup_clicked)
        form = QFormLayout(page)
        if self._club:
            form.addRow("Your name", self.signup_name)
        else:  # an account of its own needs no name for an admin to recognise; kept out of sight, not top-level
            self.signup_name.setParent(page)
            self.signup_name.hide()
        form.addRow("Email", self.signup_email)
        form.addRow("Username", self.signup_username)
        form.addRow("Password", self.signup_password)
        form.addRow("Confirm password", self.signup_confirm)
        form.addRow("", self.signup_button)
        return page

    # --- results ---
    @property
    def user(self) -> UserInfo | None:
        if self.club_login is not None:
            return self.club_login.user
        return self.login_result.user if self.login_result else None

    @property
    def is_club(self) -> bool:
        return self._club is not None

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
        self.notice_label.setText("")
        button = self.login_button if index == LOGIN_TAB else self.signup_button
        other = self.signup_button if index == LOGIN_TAB else self.login_button
        other.setDefault(False)
        button.setDefault(True)  # Enter submits the visible form

    def _login_clicked(self) -> None:
        name = self.login_name.text().strip()
        password = self.login_password.text()
        if not name or not password:
            what = "username" if self._club else "email or username"
            self.show_error(f"Enter your {what} and your password.")
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
        if self._club and self.pending_identity is not None:
            name = self.signup_name.text().strip()
            identity = self.pending_identity
            self._start(self._request_with_identity(name, username, password, identity), "Sending your request…")
        elif self._club:
            name = self.signup_name.text().strip()
            self._start(self._request(name, email, username, password), "Sending your request to the club…")
        else:
            self._start(self._sign_up(email, username, password), "Creating your account…")

    def _start(self, coro: Coroutine[Any, Any, None], status: str) -> None:
        if self._busy:
            coro.close()
            return
        self._set_busy(True, status)
        self.show_error("")
        self.notice_label.setText("")
        self._runner.spawn(self._guard(coro), name="login-dialog")

    async def _guard(self, coro: Coroutine[Any, Any, None]) -> None:
        """Shows AccountError messages as they are; anything unexpected as a short generic line."""
        try:
            await coro
        except AccountError as exc:
            self.show_error(str(exc))
        except Exception as exc:
            log.exception("account call failed")
            self.show_error(went_wrong(exc))  # one line: never a driver's socket path
        else:
            if self.user is not None:
                self.accept()
        finally:
            self._set_busy(False, "")

    async def _log_in(self, name: str, password: str, remember: bool) -> None:
        if self._club is not None:
            self.club_login = await self._runner.call(self._club.log_in, name, password)
        else:
            assert self._service is not None
            result = await self._runner.call(self._service.log_in, name, password, remember)
            await self._link_pending(result)
            self.login_result = result

    async def _link_pending(self, result: LoginResult) -> None:
        """A password log-in right after signing in with an unlinked identity links it: "log in with your password
        and link" in one step. The log-in stands even if the link fails (another user took the identity a moment
        ago): the trader sees why in Settings → Sign-in."""
        identity = self.pending_identity
        if identity is None or self._identities is None:
            return
        try:
            await self._runner.call(self._identities.link, result.user.id, identity)
        except AccountError as exc:
            log.warning("signed in with a password; the %s identity was not linked: %s", identity.provider, exc)
        self._forget_identity()

    async def _sign_up(self, email: str, username: str, password: str) -> None:
        assert self._service is not None
        await self._runner.call(self._service.sign_up, email, username, password)
        # Log the new account straight in, so every app session has a login session (and a token).
        self.login_result = await self._runner.call(self._service.log_in, username, password, False)

    async def _request(self, name: str, email: str, username: str, password: str) -> None:
        """A club's sign-up is a request: nothing to log in to until the admin approves it, so the dialog stays."""
        assert self._club is not None
        await self._runner.call(self._club.request_sign_up, name, email, username, password)
        for edit in (self.signup_password, self.signup_confirm):
            edit.clear()
        self.tabs.setCurrentIndex(LOGIN_TAB)
        self.login_name.setText(username)
        self.notice_label.setText(REQUEST_SENT)

    # --- signing in with Google or Discord ---
    def _provider_button_clicked(self) -> None:
        button = self.sender()
        if isinstance(button, QPushButton):
            self._provider_clicked(str(button.property("provider")))

    def _provider_clicked(self, provider: str) -> None:
        assert self._identities is not None
        label = self._identities.label(provider)
        self._start(self._sign_in(provider), f"Waiting for {label} in your browser…")

    async def _sign_in(self, provider: str) -> None:
        assert self._identities is not None
        self._forget_identity()
        self._cancel_event = threading.Event()
        self.cancel_sign_in_button.show()
        try:
            identity = await self._runner.call(self._identities.sign_in, provider, self._cancel_event)
        finally:
            self._cancel_event = None
            self.cancel_sign_in_button.hide()
        if self._club is not None:
            self._fill_club_request(identity)
            return
        self.status_label.setText("Logging you in…")
        result = await self._runner.call(self._identities.log_in, identity, self.remember)
        if result is not None:
            self.login_result = result
            return
        username = await self._runner.call(self._identities.propose_username, identity)
        self.pending_identity = identity
        self.identity_text.setText(NEW_IDENTITY.format(label=self._identities.label(provider)))
        self.identity_username.setText(username)
        self.identity_panel.show()

    def _fill_club_request(self, identity: VerifiedIdentity) -> None:
        assert self._identities is not None
        self.pending_identity = identity
        self.tabs.setCurrentIndex(SIGNUP_TAB)
        self.signup_email.setText(identity.email or "")
        self.signup_email.setReadOnly(True)  # the provider's verified email is what the admin is shown
        if identity.name and not self.signup_name.text():
            self.signup_name.setText(identity.name)
        self.signup_username.setText(self._identities.propose_username(identity))
        self.signup_password.setFocus()
        label = self._identities.label(identity.provider)
        self.notice_label.setText(CLUB_IDENTITY.format(label=label, email=identity.email or "?"))

    def _create_from_identity(self) -> None:
        identity = self.pending_identity
        if identity is None:
            return
        username = self.identity_username.text().strip()
        if not username:
            self.show_error("Choose a username.")
            return
        self._start(self._sign_up_with_identity(identity, username), "Creating your account…")

    async def _sign_up_with_identity(self, identity: VerifiedIdentity, username: str) -> None:
        assert self._identities is not None
        self.login_result = await self._runner.call(self._identities.sign_up, identity, username, self.remember)

    async def _request_with_identity(self, name: str, username: str, password: str, identity: VerifiedIdentity) -> None:
        assert self._club is not None and self._identities is not None
        await self._runner.call(
            self._identities.request_to_join, self._club.club_url, name, username, password, identity
        )
        self._forget_identity()
        for edit in (self.signup_password, self.signup_confirm):
            edit.clear()
        self.tabs.setCurrentIndex(LOGIN_TAB)
        self.login_name.setText(username)
        self.notice_label.setText(REQUEST_SENT)

    def _forget_identity(self) -> None:
        self.pending_identity = None
        self.identity_panel.hide()
        self.signup_email.setReadOnly(False)

    def _cancel_sign_in(self) -> None:
        if self._cancel_event is not None:
            self._cancel_event.set()

    def _set_busy(self, busy: bool, status: str) -> None:
        self._busy = busy
        self.status_label.setText(status)
        for widget in (self.login_button, self.signup_button, self.tabs, self.identity_panel):
            widget.setEnabled(not busy)
        for provider, button in self.provider_buttons.items():
            configured = self._identities is not None and self._identities.configured(provider)
            button.setEnabled(configured and not busy)

    def reject(self) -> None:
        if self._cancel_event is not None:  # Esc or the close box while the browser is out: stop waiting for it
            self._cancel_sign_in()
        if not self._busy:  # closing mid-call would leave a result arriving for a dead dialog
            super().reject()


def _line_edit(name: str, placeholder: str, password: bool = False) -> QLineEdit:
    edit = QLineEdit()
    edit.setObjectName(name)
    edit.setPlaceholderText(placeholder)
    if password:
        edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit
