"""The brokerage panel: link a real brokerage through SnapTrade and sync its trades into the journal.

Over ``core.services.brokerage_sync``: Connect opens SnapTrade's connection portal in the system browser (the link is
fetched on a worker; the browser is the opener given, ``QDesktopServices.openUrl`` in the app); Refresh list asks
SnapTrade for the connections and accounts; Sync now reads positions and transactions and books the trades as
journal fills. Every call runs on the runner's worker threads; while one runs the buttons wait. The tree shows each
connection, its accounts and the positions of the last sync with that sync's time; the result line says what a
sync booked ("3 new fills, 2 already synced; ..."); errors are the service's one-line messages, in red.

Without SnapTrade's API key on this computer the panel says how to configure it and asks for it (kept in the OS
keyring; the environment's pair still wins); nothing else can be pressed until then.
``synced`` is emitted after each successful sync (the journal panel reloads on it).
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable, Coroutine
from decimal import Decimal
from functools import partial
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.async_runner import BlockingRunner
from app.display_time import display_time
from app.views.panel_widgets import muted, named_button, went_wrong
from core.services.brokerage_sync import (
    AccountView,
    BrokerageError,
    BrokerageOverview,
    BrokerageSync,
    ConnectionView,
    SyncResult,
)

log = logging.getLogger(__name__)

ERROR_STYLE = "color: #d32f2f;"
COLUMNS = ("Connection / account / symbol", "Units", "Price", "Cost basis", "Value")
UrlOpener = Callable[[QUrl], bool]
RECONNECT_ROLE = Qt.ItemDataRole.UserRole  # on a disabled connection's row: its id, for the portal's reconnect


def _number(value: Decimal | None, places: int = 2) -> str:
    if value is None:
        return ""
    return f"{value:,.{places}f}" if value == value.quantize(Decimal(1).scaleb(-places)) else f"{value:,f}"


def _account_title(account: AccountView) -> str:
    parts = [account.name or account.institution]
    if account.number:
        parts.append(account.number)
    return "  ".join(parts)


class BrokeragePanel(QWidget):
    """``synced(result)`` after each successful sync; ``idle()`` whenever a call has finished (tests)."""

    synced = Signal(object)
    idle = Signal()

    def __init__(
        self,
        brokerage: BrokerageSync,
        user_id: uuid.UUID,
        runner: BlockingRunner,
        parent: QWidget | None = None,
        *,
        open_url: UrlOpener = QDesktopServices.openUrl,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("brokeragePanel")
        self._brokerage = brokerage
        self._user_id = user_id
        self._runner = runner
        self._open_url = open_url
        self._busy = False
        self._overview: BrokerageOverview | None = None

        self.status_label = QLabel(objectName="brokerageStatus", wordWrap=True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        muted(self.status_label)
        self.connect_button = named_button("Connect a brokerage…", "brokerageConnectButton", self.connect_brokerage)
        self.connect_button.setToolTip("Opens SnapTrade's connection portal in your browser (read-only access).")
        self.refresh_button = named_button("Refresh list", "brokerageRefreshButton", self.refresh_accounts)
        self.sync_button = named_button("Sync now", "brokerageSyncButton", self.sync_now)
        self.sync_button.setToolTip("Books the brokerage's trades as journal fills; syncing again adds nothing twice.")
        self.full_sync_button = named_button("Sync all history", "brokerageFullSyncButton", self.sync_all_history)
        self.full_sync_button.setToolTip(
            "Reads every account's whole history again: a trade SnapTrade reports late (more than a week before the "
            "newest one synced) is booked too; nothing is booked twice."
        )
        self.unlink_button = named_button("Unlink", "brokerageUnlinkButton", self.unlink)
        self.result_label = QLabel(objectName="brokerageResult", wordWrap=True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label = QLabel(objectName="brokerageError", wordWrap=True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        # SnapTrade's API key, asked for only while this computer has none (kept in the OS keyring).
        self.client_id_edit = QLineEdit(objectName="snaptradeClientId", placeholderText="SnapTrade client ID")
        self.consumer_key_edit = QLineEdit(objectName="snaptradeConsumerKey", placeholderText="consumer key")
        self.consumer_key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.save_keys_button = named_button("Save key", "snaptradeSaveKeysButton", self.save_keys)
        self.keys_row = QWidget(objectName="snaptradeKeysRow")
        keys = QHBoxLayout(self.keys_row)
        keys.setContentsMargins(0, 0, 0, 0)
        for widget in (self.client_id_edit, self.consumer_key_edit, self.save_keys_button):
            keys.addWidget(widget)
        self.keys_row.hide()
        self.tree = QTreeWidget(objectName="brokerageTree")
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setAlternatingRowColors(True)

        buttons = QHBoxLayout()
        for button in (self.connect_button, self.refresh_button, self.sync_button, self.full_sync_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.unlink_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.status_label)
        layout.addWidget(self.keys_row)
        layout.addLayout(buttons)
        layout.addWidget(self.error_label)
        layout.addWidget(self.result_label)
        layout.addWidget(self.tree, 1)
        self._enable()
        self.reload()

    # --- actions ---
    def reload(self) -> None:
        """Show what is stored (configured? linked? the last sync): no call to SnapTrade."""
        self._start("read the brokerage link", self._brokerage.overview, self._show_overview, action=False)

    def connect_brokerage(self) -> None:
        """The portal; with a disabled connection selected in the tree, the portal reconnects that one."""
        item = self.tree.currentItem()
        reconnect = item.data(0, RECONNECT_ROLE) if item is not None else None
        self.result_label.setText("Opening SnapTrade's connection portal…")
        self._start("open SnapTrade's portal", partial(self._brokerage.portal_url, reconnect=reconnect),
                    self._open_portal)  # fmt: skip

    def refresh_accounts(self) -> None:
        self._start("list the brokerage accounts", self._brokerage.accounts, self._show_accounts)

    def sync_now(self) -> None:
        self.result_label.setText("Syncing with SnapTrade…")
        self._start("sync the brokerage", self._brokerage.sync, self._synced)

    def sync_all_history(self) -> None:
        self.result_label.setText("Syncing every account's whole history with SnapTrade…")
        self._start("sync the whole history", lambda user: self._brokerage.sync(user, full=True), self._synced)

    def save_keys(self) -> None:
        client_id, consumer_key = self.client_id_edit.text(), self.consumer_key_edit.text()
        self._start("save SnapTrade's API key", lambda _user: self._brokerage.save_keys(client_id, consumer_key),
                    self._keys_saved)  # fmt: skip

    def _keys_saved(self, _result: object) -> None:
        self.client_id_edit.clear()
        self.consumer_key_edit.clear()
        self.reload()

    def unlink(self) -> None:
        answer = QMessageBox.question(
            self, "Unlink SnapTrade",
            "Remove your SnapTrade link? SnapTrade deletes its copy of your brokerage connections; the fills synced so "
            "far stay in the journal. Connect links again.",
        )  # fmt: skip
        if answer == QMessageBox.StandardButton.Yes:
            self._start("unlink SnapTrade", self._brokerage.unlink, lambda _: self.reload())

    # --- results ---
    def _show_overview(self, overview: BrokerageOverview) -> None:
        self._overview = overview
        self.keys_row.setVisible(not overview.configured)
        if not overview.configured:
            self.status_label.setText(overview.message or "SnapTrade is not configured.")
        elif not overview.linked:
            self.status_label.setText("No brokerage linked yet: Connect opens SnapTrade's portal in your browser.")
        else:
            synced = display_time().stamp(overview.synced_at, empty="never")
            self.status_label.setText(f"Linked through SnapTrade. Last sync: {synced}.")
        self._show_connections(overview.connections)
        self._enable()

    def _open_portal(self, url: str) -> None:
        if self._open_url(QUrl(url)):
            self.result_label.setText(
                "SnapTrade's portal is open in your browser: connect your brokerage there, then press Refresh list."
            )
        else:
            self.result_label.setText(f"Open this link in your browser to connect a brokerage: {url}")
        self.reload()

    def _show_accounts(self, connections: tuple[ConnectionView, ...]) -> None:
        self._show_connections(connections)
        count = sum(len(c.accounts) for c in connections)
        self.result_label.setText(
            f"{len(connections)} connection{'s' if len(connections) != 1 else ''}, "
            f"{count} account{'s' if count != 1 else ''} at SnapTrade."
        )

    def _synced(self, result: SyncResult) -> None:
        self.result_label.setText(result.summary())
        self.reload()
        self.synced.emit(result)

    def _show_connections(self, connections: tuple[ConnectionView, ...]) -> None:
        self.tree.clear()
        for connection in connections:
            title = connection.brokerage + ("  (disabled: reconnect)" if connection.disabled else "")
            top = QTreeWidgetItem([title])
            if connection.disabled:
                top.setData(0, RECONNECT_ROLE, connection.id)
                top.setToolTip(0, "Select this connection and press Connect to log in to it again.")
            self.tree.addTopLevelItem(top)
            for account in connection.accounts:
                total = "" if account.total is None else f"{_number(account.total)} {account.currency or ''}".strip()
                item = QTreeWidgetItem([_account_title(account), "", "", "", total])
                as_of = display_time().stamp(account.positions_as_of, empty="")
                if as_of:
                    item.setToolTip(0, f"Positions as of {as_of}")
                top.addChild(item)
                for p in account.positions:
                    value = p.units * p.price if p.price is not None else None
                    item.addChild(QTreeWidgetItem([p.symbol, _number(p.units, 0), _number(p.price),
                                                   _number(p.cost_basis), _number(value)]))  # fmt: skip
            top.setExpanded(True)
        self.tree.expandAll()
        for column in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(column)

    # --- running calls off the GUI thread ---
    def _enable(self) -> None:
        overview = self._overview
        configured = overview is not None and overview.configured
        linked = configured and overview is not None and overview.linked
        self.connect_button.setEnabled(not self._busy and configured)
        self.refresh_button.setEnabled(not self._busy and linked)
        self.sync_button.setEnabled(not self._busy and linked)
        self.full_sync_button.setEnabled(not self._busy and linked)
        self.unlink_button.setEnabled(not self._busy and linked)
        self.save_keys_button.setEnabled(not self._busy)

    def _start(self, what: str, fn: Callable[[uuid.UUID], Any], done: Callable[[Any], None], *,
               action: bool = True) -> None:  # fmt: skip
        if self._busy and action:
            return
        if action:
            self._busy = True
            self.error_label.hide()
            self._enable()
        self._runner.spawn(self._guard(lambda: self._call(what, fn, done, action)), name=f"brokerage-{what}")

    async def _call(self, what: str, fn: Callable[[uuid.UUID], Any], done: Callable[[Any], None],
                    action: bool) -> None:  # fmt: skip
        try:
            result = await self._runner.call(fn, self._user_id)
        except Exception as exc:
            if self._alive():
                self._failed(what, exc)
        else:
            if self._alive():
                done(result)
        finally:
            if self._alive():
                if action:
                    self._busy = False
                self._enable()
                self.idle.emit()

    def _failed(self, what: str, exc: Exception) -> None:
        if self.result_label.text().endswith("…"):
            self.result_label.setText("")
        if isinstance(exc, BrokerageError):
            self._show_error(str(exc))
            return
        log.error("brokerage: could not %s", what, exc_info=exc)
        self._show_error(f"Could not {what}: {went_wrong(exc)}", "".join(traceback.format_exception(exc)))

    def _show_error(self, message: str, details: str = "") -> None:
        self.error_label.setText(message)
        self.error_label.setToolTip(details)
        self.error_label.setVisible(bool(message))

    async def _guard(self, start: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            await start()
        except Exception as exc:
            log.exception("brokerage panel call failed")
            if self._alive():
                self._show_error(went_wrong(exc), traceback.format_exc())

    def _alive(self) -> bool:
        return shiboken6.isValid(self)
