"""Keeps the journal in step with the ledger, off the GUI thread.

The ledger knows nothing of the journal; the window composes them here. Whenever the portfolio learns that the
user's fills changed (the ledger's NOTIFY), and once after login for fills booked while the app was closed,
``request()`` runs ``Journal.journal_new_fills`` on a worker thread: checks linked, campaigns regrouped, post-trade
checks run. Requests arriving while a pass runs make one more pass, not one each; a long backlog is worked off
in bounded passes. ``updated`` says how many fills a pass journaled, so the Journal panel can reload.
"""

from __future__ import annotations

import logging
import uuid

import shiboken6
from PySide6.QtCore import QObject, Signal

from app.async_runner import BlockingRunner
from app.coalesced import CoalescedPasses
from core.db.trouble import trader_message
from core.services.journal import CATCH_UP_LIMIT, Journal

log = logging.getLogger(__name__)


class JournalSync(QObject):
    updated = Signal(int)  # fills journaled by the pass that just ended (> 0)
    failed = Signal(str)  # a pass failed: what went wrong, for the status bar

    def __init__(self, journal: Journal, user_id: uuid.UUID, runner: BlockingRunner,
                 parent: QObject | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self._journal = journal
        self._user_id = user_id
        self._runner = runner
        self._passes = CoalescedPasses(self._pass, lambda start: runner.spawn(start(), name="journal-sync"))

    @property
    def running(self) -> bool:
        return self._passes.running

    def request(self, *_: object) -> None:
        """Bring the journal up to date soon (coalesced with a pass already running)."""
        self._passes.request()

    async def _pass(self) -> bool:
        try:
            done = await self._runner.call(self._journal.journal_new_fills, self._user_id)
        except Exception as exc:
            log.exception("bringing the journal up to date failed")
            if shiboken6.isValid(self):
                self.failed.emit(f"The journal could not be updated: {trader_message(exc)}")
            return False
        if not shiboken6.isValid(self):
            return False
        if done:
            self.updated.emit(len(done))
        if len(done) >= CATCH_UP_LIMIT:
            self._passes.request()  # a backlog longer than one pass: another right after this one
        return True
