"""The Journal panel: the trader's fills with their decision contexts, campaigns, entries, per-strategy statistics
and behavioural checks, over ``core.services.journal``.

Every read and write runs on the runner's worker threads; the tabs (``journal_fills``, ``journal_campaigns``,
``journal_entries``, ``journal_review``) only say what to load and show it (``journal_tab``). ``refresh()``
loads every tab in ONE worker call, and is cheap to call often (the main window calls it whenever the ledger
NOTIFYs a fill): while a refresh runs, any number of further calls make exactly one more pass afterwards. A tab
whose filter changed reloads alone; each tab's loads are numbered, so a slow older result never replaces a
newer one.

Errors show in red at the top of the panel: a ``JournalError`` as its own message (it is written for the
trader), anything else as a short line with the trace in the tooltip.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QTabWidget, QVBoxLayout, QWidget

from app.async_runner import BlockingRunner
from app.coalesced import CoalescedPasses
from app.views.brokerage_panel import BrokeragePanel
from app.views.journal_campaigns import CampaignsTab
from app.views.journal_entries import EntriesTab
from app.views.journal_fills import FillsTab
from app.views.journal_review import ChecksTab, StrategiesTab
from app.views.journal_tab import JournalTab, Loader
from app.views.panel_widgets import muted, named_button, went_wrong
from core.db.trouble import trader_message
from core.journal import JournalError
from core.services.brokerage_sync import BrokerageSync
from core.services.journal import Journal

log = logging.getLogger(__name__)

ERROR_STYLE = "color: #d32f2f;"
FILLS_TAB, CAMPAIGNS_TAB, ENTRIES_TAB, STRATEGIES_TAB, CHECKS_TAB = range(5)


def load_all(journal: Journal, user_id: uuid.UUID, loaders: list[Loader]) -> list[Any]:
    """Every tab's load in one worker call; a failing one yields its exception so the others still show."""
    results: list[Any] = []
    for load in loaders:
        try:
            results.append(load(journal, user_id))
        except Exception as exc:  # shown by the panel, per tab
            results.append(exc)
    return results


def error_message(exc: BaseException) -> str:
    return trader_message(exc)  # a JournalError's own words; never a driver's socket path


class JournalPanel(QWidget):
    """``refreshed()`` after each full refresh has been shown (tests, screenshots). Call ``refresh()`` when the
    user's fills change; ``shutdown()`` when the window closes (later results are then dropped)."""

    refreshed = Signal()

    def __init__(
        self,
        journal: Journal,
        user_id: uuid.UUID,
        runner: BlockingRunner,
        parent: QWidget | None = None,
        *,
        brokerage: BrokerageSync | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("journalPanel")
        self._brokerage = brokerage  # SnapTrade sync; its button shows only when given
        self.brokerage_dialog: QDialog | None = None
        self._journal = journal
        self._user_id = user_id
        self._runner = runner
        self._passes = CoalescedPasses(self._refresh_once, lambda start: self._spawn(start, "journal-refresh"))
        self._closed = False
        self._stale = False  # the last refresh failed and its error is shown
        self._seq: dict[JournalTab, int] = {}

        self.refresh_button = named_button("Refresh", "journalRefreshButton", self.refresh)
        self.status_label = QLabel(objectName="journalStatus")
        muted(self.status_label)
        self.error_label = QLabel(objectName="journalError", wordWrap=True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()

        self.fills_tab = FillsTab(self)
        self.campaigns_tab = CampaignsTab(self)
        self.entries_tab = EntriesTab(self)
        self.strategies_tab = StrategiesTab(self)
        self.checks_tab = ChecksTab(self)
        self.fills_tab.fillSelected.connect(self.entries_tab.set_selected_fill)
        self.tabs = QTabWidget(objectName="journalTabs")
        for tab, title in ((self.fills_tab, "Fills"), (self.campaigns_tab, "Campaigns"),
                           (self.entries_tab, "Entries"), (self.strategies_tab, "Strategies"),
                           (self.checks_tab, "Checks")):  # fmt: skip
            self.tabs.addTab(tab, title)
            self._seq[tab] = 0

        top = QHBoxLayout()
        top.addWidget(self.status_label, 1)
        if brokerage is not None:
            top.addWidget(named_button("Brokerage…", "journalBrokerageButton", self.open_brokerage))
        top.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.error_label)
        layout.addWidget(self.tabs, 1)
        self.refresh()

    # --- public ---
    @property
    def refreshing(self) -> bool:
        return self._passes.running

    def refresh(self) -> None:
        """Reload every tab on a worker thread; calls arriving while one runs make one more pass after it."""
        if not self._closed:
            self._passes.request()

    def reload(self, tab: JournalTab) -> None:
        """Reload one tab (its filter changed); a full refresh still in flight will not overwrite the result."""
        if self._closed:
            return
        seq = self._next(tab)
        loader = tab.loader()
        self._spawn(lambda: self._reload(tab, seq, loader), "journal-reload")

    def run(
        self,
        what: str,
        fn: Callable[..., Any],
        /,
        *args: Any,
        done: Callable[[Any], None] | None = None,
        failed: Callable[[Exception], None] | None = None,
        action: bool = True,
        **kwargs: Any,
    ) -> None:
        """See ``JournalHost.run``."""
        if self._closed:
            return
        if action:
            self.show_error("")
        self._spawn(lambda: self._run(what, fn, args, kwargs, done, failed), f"journal-{what.replace(' ', '-')}")

    def open_brokerage(self) -> None:
        """The brokerage panel (SnapTrade) in its own window; the journal reloads after each sync."""
        if self._brokerage is None:
            return
        if self.brokerage_dialog is None:
            dialog = QDialog(self, objectName="brokerageDialog", windowTitle="Brokerage sync (SnapTrade)")
            self.brokerage_panel = BrokeragePanel(self._brokerage, self._user_id, self._runner, dialog)
            self.brokerage_panel.synced.connect(lambda _result: self.refresh())
            QVBoxLayout(dialog).addWidget(self.brokerage_panel)
            dialog.resize(760, 480)
            self.brokerage_dialog = dialog
        self.brokerage_dialog.show()
        self.brokerage_dialog.raise_()

    def show_error(self, message: str, details: str = "") -> None:
        self.error_label.setText(message)
        self.error_label.setToolTip(details)
        self.error_label.setVisible(bool(message))

    def show_status(self, text: str) -> None:
        self.status_label.setText(text)

    def shutdown(self) -> None:
        """No more loads; results still on their way are dropped. Safe twice."""
        self._closed = True

    # --- behaviour ---
    def _next(self, tab: JournalTab) -> int:
        self._seq[tab] += 1
        return self._seq[tab]

    async def _refresh_once(self) -> bool:
        if self._closed:
            return False
        tabs = list(self._seq)
        seqs = [self._next(tab) for tab in tabs]
        loaders = [tab.loader() for tab in tabs]
        results = await self._runner.call(load_all, self._journal, self._user_id, loaders)
        if not self._alive() or self._closed:
            return False
        failures = [r for r in results if isinstance(r, Exception)]
        for tab, seq, result in zip(tabs, seqs, results, strict=True):
            if not isinstance(result, Exception) and seq == self._seq[tab]:
                tab.show_data(result)
        self._refreshed(failures)
        return True

    def _refreshed(self, failures: list[Exception]) -> None:
        if failures:
            for exc in failures:
                if not isinstance(exc, JournalError):
                    log.warning("journal refresh failed", exc_info=exc)
            self._stale = True
            self.show_error(f"Could not load the journal: {error_message(failures[0])}")
        elif self._stale:
            self._stale = False
            self.show_error("")
        self.refreshed.emit()

    async def _reload(self, tab: JournalTab, seq: int, loader: Loader) -> None:
        try:
            data = await self._runner.call(loader, self._journal, self._user_id)
        except Exception as exc:
            if self._alive():
                self._failed("load the journal", exc)
            return
        if self._alive() and not self._closed and seq == self._seq[tab]:
            tab.show_data(data)

    async def _run(self, what: str, fn: Callable[..., Any], args: tuple, kwargs: dict,
                   done: Callable[[Any], None] | None, failed: Callable[[Exception], None] | None) -> None:  # fmt: skip
        try:
            result = await self._runner.call(fn, self._journal, self._user_id, *args, **kwargs)
        except Exception as exc:
            if self._alive():
                self._failed(what, exc)
                if failed is not None:
                    failed(exc)
            return
        if self._alive() and not self._closed and done is not None:
            done(result)

    def _failed(self, what: str, exc: Exception) -> None:
        if isinstance(exc, JournalError):
            self.show_error(str(exc))
            return
        log.error("journal: could not %s", what, exc_info=exc)
        details = "".join(traceback.format_exception(exc))
        self.show_error(f"Could not {what}: {error_message(exc)}", details)

    def _spawn(self, start: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        # The coroutine is made inside the task: a task cancelled before it ran (the window closing) then
        # leaves no coroutine behind that was never awaited.
        self._runner.spawn(self._guard(start), name=name)

    async def _guard(self, start: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Anything unexpected in showing a result is shown in the panel, never only logged."""
        try:
            await start()
        except Exception as exc:
            log.exception("journal panel call failed")
            if self._alive():
                self.show_error(went_wrong(exc), traceback.format_exc())

    def _alive(self) -> bool:
        return shiboken6.isValid(self)
