"""The Admin panel: the club admin's members (disable, enable, reset a virtual balance) and the sign-up requests
waiting for a decision (approve, reject).

Shown only to a user whose role is ``admin``. Everything comes from ``core.services.admin.MemberAdmin`` (the same
``ClubAdmin`` the ``stratforge-admin users`` command line runs) in one blocking call per refresh on the runner's
worker threads; each action is one call too, after which the panel reads everything again. On a solo database
there is nothing to approve (its first user is the admin and sign-up creates accounts directly), so the requests
part is replaced by a sentence saying so. New requests show on Refresh, after any action, and on a slow timer.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Coroutine
from decimal import Decimal, InvalidOperation
from typing import Any

import shiboken6
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QInputDialog, QLabel, QTableView, QVBoxLayout, QWidget

from app.async_runner import BlockingRunner, run_dialog
from app.coalesced import CoalescedPasses
from app.models.admin_users import MembersModel, RequestsModel
from app.models.positions_model import format_money
from app.views.panel_widgets import compact_table, muted, named_button, went_wrong
from core.accounts.errors import AccountError
from core.db.trouble import trader_message
from core.services.admin import AdminOverview, Member, MemberAdmin, SignUpRequest

log = logging.getLogger(__name__)

POLL_INTERVAL_MS = 60_000  # new sign-up requests are rare; a minute's delay costs nobody anything
ERROR_STYLE = "color: #d32f2f;"
SOLO_NOTE = (
    "This is a solo database: there are no sign-up requests to approve. Its first user is the admin, and "
    "anyone who signs up here gets an account at once."
)


class AdminPanel(QWidget):
    """``refreshed(AdminOverview)`` after each refresh is shown; ``acted(str)`` with the message of each action
    that succeeded. Call ``shutdown()`` when the window closes."""

    refreshed = Signal(object)
    acted = Signal(str)

    def __init__(
        self,
        admin: MemberAdmin,
        user_id: uuid.UUID,
        runner: BlockingRunner,
        parent: QWidget | None = None,
        *,
        sign_ups: bool = True,
        poll_interval_ms: int = POLL_INTERVAL_MS,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("adminPanel")
        self._admin = admin
        self._user_id = user_id  # the admin's own row: they cannot disable themselves here
        self._runner = runner
        self._sign_ups = sign_ups
        self._passes = CoalescedPasses(self._refresh_once, lambda start: self._spawn(start(), "admin-refresh"))
        self._busy = False  # an action is running: the action buttons wait for it
        self._closed = False
        self._overview: AdminOverview | None = None
        self.reset_dialog: QInputDialog | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.refresh_button = named_button("Refresh", "adminRefreshButton", self.refresh)
        self.status_label = muted(_label("", "adminStatus"))
        top = QHBoxLayout()
        top.addWidget(self.refresh_button)
        top.addStretch(1)
        top.addWidget(self.status_label)
        layout.addLayout(top)
        self.error_label = _label("", "adminError")
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.hide()
        layout.addWidget(self.error_label)

        self.members_model = MembersModel(self)
        self.members_table = compact_table("adminMembersTable", self.members_model)
        self.members_table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.disable_button = named_button("Disable", "adminDisableButton", self.disable_selected)
        self.enable_button = named_button("Enable", "adminEnableButton", self.enable_selected)
        self.reset_button = named_button("Reset balance…", "adminResetBalanceButton", self.reset_selected)
        self.reset_button.setToolTip(
            "Start the member's virtual account over (cash and starting balance; P&L and fees to zero). "
            "Only for a member with no open orders or positions."
        )
        members = QGroupBox("Members")
        members.setObjectName("adminMembersBox")
        members_layout = QVBoxLayout(members)
        members_layout.addWidget(self.members_table, 1)
        members_layout.addLayout(_button_row(self.disable_button, self.enable_button, self.reset_button))
        layout.addWidget(members, 2)

        self.requests_model = RequestsModel(self)
        self.requests_table = compact_table("adminRequestsTable", self.requests_model)
        self.requests_table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.approve_button = named_button("Approve", "adminApproveButton", self.approve_selected)
        self.approve_button.setToolTip("Create the account and its database login with the password they chose.")
        self.reject_button = named_button("Reject", "adminRejectButton", self.reject_selected)
        self.requests_box = QGroupBox("Waiting sign-up requests")
        self.requests_box.setObjectName("adminRequestsBox")
        requests_layout = QVBoxLayout(self.requests_box)
        requests_layout.addWidget(self.requests_table, 1)
        requests_layout.addLayout(_button_row(self.approve_button, self.reject_button))
        if not sign_ups:
            for widget in (self.requests_table, self.approve_button, self.reject_button):
                widget.hide()
            self.requests_box.setTitle("Sign-up requests")
            requests_layout.addWidget(muted(_label(SOLO_NOTE, "adminSoloNote")))
        layout.addWidget(self.requests_box, 1 if sign_ups else 0)

        self._poll_timer = QTimer(self, interval=max(poll_interval_ms, 1))
        self._poll_timer.timeout.connect(self.refresh)
        if poll_interval_ms > 0:
            self._poll_timer.start()
        self._update_buttons()
        self.refresh()

    # --- public ---
    @property
    def overview(self) -> AdminOverview | None:
        return self._overview

    @property
    def busy(self) -> bool:
        """True while an action or a refresh runs."""
        return self._busy or self._passes.running

    def refresh(self) -> None:
        if not self._closed:
            self._passes.request()

    def selected_member(self) -> Member | None:
        rows = self.members_table.selectionModel().selectedRows()
        return self.members_model.member_at(rows[0].row()) if rows else None

    def selected_request(self) -> SignUpRequest | None:
        rows = self.requests_table.selectionModel().selectedRows()
        return self.requests_model.request_at(rows[0].row()) if rows else None

    def select_member(self, username: str) -> None:
        for n, member in enumerate(self.members_model.rows()):
            if member.username == username:
                self.members_table.selectRow(n)
                return

    def disable_selected(self) -> None:
        member = self._member_or_say("disable")
        if member is not None:
            self._act(self._admin.disable, member.id,
                      done=lambda m: f"Disabled {m.username}: their logins are refused.")  # fmt: skip

    def enable_selected(self) -> None:
        member = self._member_or_say("enable")
        if member is not None:
            self._act(self._admin.enable, member.id, done=lambda m: f"Enabled {m.username}.")

    def reset_selected(self) -> None:
        """Ask for the new balance (a dialog, awaited without a nested event loop), then reset it."""
        member = self._member_or_say("reset")
        if member is not None:
            self._spawn(self._ask_and_reset(member), "admin-reset-dialog")

    def approve_selected(self) -> None:
        request = self._request_or_say("approve")
        if request is not None:
            done = "Approved {}: they can log in with the password they chose."
            self._act(self._admin.approve, request.id, done=lambda m: done.format(m.username))

    def reject_selected(self) -> None:
        request = self._request_or_say("reject")
        if request is not None:
            self._act(self._admin.reject, request.id, done=lambda r: f"Rejected the request of {r.email}.")

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    def shutdown(self) -> None:
        """Stop the timer and close an open dialog. Safe twice."""
        if self._closed:
            return
        self._closed = True
        self._poll_timer.stop()
        if self.reset_dialog is not None and shiboken6.isValid(self.reset_dialog):
            self.reset_dialog.reject()

    # --- behaviour ---
    async def _refresh_once(self) -> bool:
        if self._closed:
            return False
        try:
            overview = await self._runner.call(self._admin.overview)
        except Exception as exc:
            if self._alive():
                self._failed("Could not read the members", exc)
            return False
        if not self._alive():
            return False
        self._show(overview)
        return True

    def _show(self, overview: AdminOverview) -> None:
        self._overview = overview
        member, request = self.selected_member(), self.selected_request()
        self.members_model.set_rows(overview.members)
        self.requests_model.set_rows(overview.requests if self._sign_ups else ())
        if member is not None and self.selected_member() is None:  # the rows changed: keep the admin's pick
            self._reselect(self.members_table, self.members_model.row_of(member.id))
        if request is not None and self.selected_request() is None:
            self._reselect(self.requests_table, self.requests_model.row_of(request.id))
        waiting = len(overview.requests)
        if self._sign_ups:
            self.requests_box.setTitle(f"Waiting sign-up requests ({waiting})" if waiting else
                                       "Waiting sign-up requests (none)")  # fmt: skip
        self._update_buttons()
        self.refreshed.emit(overview)

    async def _ask_and_reset(self, member: Member) -> None:
        dialog = QInputDialog(self)
        dialog.setObjectName("adminResetDialog")
        dialog.setWindowTitle("Reset virtual balance")
        dialog.setLabelText(
            f"New virtual balance for {member.username} (now {format_money(member.virtual_balance, currency=True)}).\n"
            "It becomes their cash and their starting balance; realized P&L and fees start from zero."
        )
        dialog.setInputMode(QInputDialog.InputMode.TextInput)
        dialog.setTextValue(f"{member.virtual_balance:f}")
        self.reset_dialog = dialog
        try:
            if await run_dialog(dialog) != QInputDialog.DialogCode.Accepted or not self._alive():
                return
            text = dialog.textValue().strip().replace(",", "").replace("$", "")
        finally:
            self.reset_dialog = None
            dialog.deleteLater()
        try:
            amount = Decimal(text)
        except InvalidOperation:
            self.show_error(f"Not an amount: {text!r}.")
            return
        self._act(self._admin.reset_balance, member.id, amount,
                  done=lambda m: f"{m.username}'s virtual account starts over at "
                                 f"{format_money(m.virtual_balance, currency=True)}.")  # fmt: skip

    def _act(self, call: Callable[..., Any], *args: Any, done: Callable[[Any], str]) -> None:
        self._busy = True
        self._update_buttons()
        self.show_error("")
        self._spawn(self._run_action(call, args, done), "admin-action")

    async def _run_action(self, call: Callable[..., Any], args: tuple[Any, ...], done: Callable[[Any], str]) -> None:
        try:
            result = await self._runner.call(call, *args)
        except Exception as exc:
            if self._alive():
                self._failed("The action failed", exc)
        else:
            if self._alive():
                message = done(result)
                self.status_label.setText(message)
                self.acted.emit(message)
        finally:
            if self._alive():
                self._busy = False
                self._update_buttons()
                self.refresh()

    def _failed(self, what: str, exc: Exception) -> None:
        if isinstance(exc, AccountError):  # a refusal the admin can act on: its text as is
            self.show_error(str(exc))
            return
        log.warning("%s", what, exc_info=exc)
        self.show_error(f"{what}: {trader_message(exc)}")

    def _member_or_say(self, verb: str) -> Member | None:
        member = self.selected_member()
        if member is None:
            self.show_error(f"Select the member to {verb}.")
        return member

    def _request_or_say(self, verb: str) -> SignUpRequest | None:
        request = self.selected_request()
        if request is None:
            self.show_error(f"Select the request to {verb}.")
        return request

    def _update_buttons(self, *_: object) -> None:
        idle = not self._busy
        member, request = self.selected_member(), self.selected_request()
        own = member is not None and member.id == self._user_id
        self.disable_button.setEnabled(idle and member is not None and member.active and not own)
        self.disable_button.setToolTip(
            "You cannot disable your own account." if own else
            "Refuse the member's logins and end their open connections."
        )  # fmt: skip
        self.enable_button.setEnabled(idle and member is not None and not member.active)
        self.reset_button.setEnabled(idle and member is not None)
        self.approve_button.setEnabled(idle and request is not None)
        self.reject_button.setEnabled(idle and request is not None)

    @staticmethod
    def _reselect(table: QTableView, row: int | None) -> None:
        if row is not None:
            table.selectRow(row)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._runner.spawn(self._guard(coro), name=name)

    async def _guard(self, coro: Coroutine[Any, Any, None]) -> None:
        """Anything unexpected is shown in the panel, never only logged."""
        try:
            await coro
        except Exception as exc:
            log.exception("admin panel call failed")
            if self._alive():
                self.show_error(went_wrong(exc))

    def _alive(self) -> bool:
        return shiboken6.isValid(self)


def _label(text: str, name: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setWordWrap(True)
    return label


def _button_row(*buttons: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for button in buttons:
        row.addWidget(button)
    row.addStretch(1)
    return row
