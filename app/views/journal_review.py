"""The Journal's two review tabs: statistics per strategy, and the behavioural checks recorded lately."""

from __future__ import annotations

import uuid
from functools import partial

from PySide6.QtCore import QItemSelection
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from app.models.journal_models import ChecksModel, StrategyStatsModel
from app.views.journal_tab import JournalHost, JournalTab, Loader
from app.views.panel_widgets import compact_table, muted, named_button
from core.journal import StoredCheck, StrategyStats
from core.services.journal import Journal

CHECKS_SHOWN = 200
STRATEGY_NOTE = (
    "Closed campaigns only. A campaign counts for the strategy linked in its opening fill's decision context, "
    "else for the strategy whose paper session placed the order."
)


class StrategiesTab(JournalTab):
    def __init__(self, host: JournalHost, parent: QWidget | None = None) -> None:
        super().__init__(host, parent)
        self.setObjectName("journalStrategiesTab")
        self.model = StrategyStatsModel(self)
        self.table = compact_table("strategyStatsTable", self.model)
        note = QLabel(STRATEGY_NOTE, objectName="strategyStatsNote", wordWrap=True)
        muted(note)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(note)
        layout.addWidget(self.table, 1)

    def loader(self) -> Loader:
        return Journal.strategy_stats

    def show_data(self, data: list[StrategyStats]) -> None:
        self.model.set_rows(data)


def _checks(journal: Journal, user_id: uuid.UUID, *, failed_only: bool) -> list[StoredCheck]:
    return journal.checks(user_id, failed_only=failed_only, limit=CHECKS_SHOWN)


class ChecksTab(JournalTab):
    """Checks of every phase, newest first. A failed check nobody answered yet (a post-trade nudge: it comes
    after the fill, so only the journal shows it) can be marked as seen here."""

    def __init__(self, host: JournalHost, parent: QWidget | None = None) -> None:
        super().__init__(host, parent)
        self.setObjectName("journalChecksTab")
        self.failed_only = QCheckBox("Failed checks only", objectName="failedOnlyCheck")
        self.failed_only.toggled.connect(lambda *_: self.host.reload(self))
        self.acknowledge_button = named_button("Mark as seen", "acknowledgeCheckButton", self.acknowledge_selected)
        self.acknowledge_button.setEnabled(False)
        self.model = ChecksModel(self)
        self.table = compact_table("checksTable", self.model)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        toolbar = QHBoxLayout()
        toolbar.addWidget(self.failed_only)
        toolbar.addStretch(1)
        toolbar.addWidget(self.acknowledge_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(toolbar)
        layout.addWidget(self.table, 1)

    def loader(self) -> Loader:
        return partial(_checks, failed_only=self.failed_only.isChecked())

    def show_data(self, data: list[StoredCheck]) -> None:
        self.model.set_rows(data)
        self._selection_changed()

    def selected_check(self) -> StoredCheck | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.row_at(rows[0].row()) if rows else None

    def acknowledge_selected(self) -> None:
        check = self.selected_check()
        if check is None:
            return
        self.acknowledge_button.setEnabled(False)
        self.host.run("mark the check as seen", Journal.acknowledge_check, check.id,
                      done=lambda _: self.host.reload(self))  # fmt: skip

    def _selection_changed(self, *_: QItemSelection) -> None:
        check = self.selected_check()
        self.acknowledge_button.setEnabled(check is not None and not check.passed and not check.acknowledged)
