"""The Journal's Campaigns tab: the trader's fills grouped flat-to-flat per symbol, with P&L after fees, and the
fills of the one selected.

One load reads every campaign (``Journal.campaigns``: one query, grouped in Python); the open/closed filter is
applied here, so changing it costs no database call and the summary line always covers every closed campaign.
The summary is ``CampaignSummary.of`` over those campaigns, which is what ``overall_stats`` computes without a
date window, without reading the fills a second time.
"""

from __future__ import annotations

import uuid

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.models.journal_models import CampaignFillsModel, CampaignsModel, format_percent
from app.models.positions_model import format_money, pnl_color
from app.views.journal_tab import JournalHost, JournalTab, Loader
from app.views.panel_widgets import compact_table
from core.domain.display_time import format_minute
from core.journal import CLOSED, OPEN, Campaign, CampaignSummary
from core.services.journal import Journal

STATUSES = (("All", None), ("Open", OPEN), ("Closed", CLOSED))


def summary_text(summary: CampaignSummary) -> str:
    if not summary.campaigns:
        return "No closed campaigns yet."
    factor = "—" if summary.profit_factor is None else f"{summary.profit_factor:,.2f}"
    plural = "s" if summary.campaigns != 1 else ""
    return (
        f"{summary.campaigns:,} closed campaign{plural}: {summary.wins} won, {summary.losses} lost, "
        f"win rate {format_percent(summary.win_rate)}, total P&L {format_money(summary.total_pnl, signed=True)}, "
        f"average {format_money(summary.average_pnl, signed=True)}, profit factor {factor}"
    )


class CampaignsTab(JournalTab):
    def __init__(self, host: JournalHost, parent: QWidget | None = None) -> None:
        super().__init__(host, parent)
        self.setObjectName("journalCampaignsTab")
        self._all: list[Campaign] = []
        self._selected: uuid.UUID | None = None
        self.summary: CampaignSummary | None = None

        self.status_filter = QComboBox(objectName="campaignStatusFilter")
        for label, value in STATUSES:
            self.status_filter.addItem(label, value)
        self.status_filter.currentIndexChanged.connect(lambda *_: self._show_filtered())
        self.summary_label = QLabel("No closed campaigns yet.", objectName="campaignSummary", wordWrap=True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model = CampaignsModel(self)
        self.table = compact_table("campaignsTable", self.model)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.fills_model = CampaignFillsModel(self)
        self.fills_model.display.zoneChanged.connect(self._zone_changed)  # the fills' title names a time
        self.fills_table = compact_table("campaignFillsTable", self.fills_model)
        self.fills_title = QLabel("Fills of the selected campaign", objectName="campaignFillsTitle")

        toolbar = QHBoxLayout()
        toolbar.addWidget(QLabel("Show"))
        toolbar.addWidget(self.status_filter)
        toolbar.addWidget(self.summary_label, 1)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.fills_title)
        bottom_layout.addWidget(self.fills_table, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(toolbar)
        layout.addWidget(splitter, 1)

    def loader(self) -> Loader:
        return Journal.campaigns

    def show_data(self, data: list[Campaign]) -> None:
        self._all = list(data)
        self.summary = CampaignSummary.of(self._all)
        self.summary_label.setText(summary_text(self.summary))
        color = pnl_color(self.summary.total_pnl) if self.summary.campaigns else None
        self.summary_label.setStyleSheet(f"color: {color.name()};" if color else "")
        self._show_filtered()

    def set_status(self, status: str | None) -> None:
        """Show only open or closed campaigns (None: all)."""
        self.status_filter.setCurrentIndex(max(self.status_filter.findData(status), 0))

    def selected_campaign(self) -> Campaign | None:
        row = self.model.row_of(self._selected) if self._selected is not None else None
        return self.model.row_at(row) if row is not None else None

    def _show_filtered(self) -> None:
        status = self.status_filter.currentData()
        # Newest first: the campaign the trader just closed is the one they look for.
        shown = [c for c in reversed(self._all) if status is None or c.status == status]
        self.model.set_rows(shown)
        row = self.model.row_of(self._selected) if self._selected is not None else None
        if row is not None:
            self.table.selectRow(row)
        self._show_fills()

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        self._selected = self.model.row_at(rows[0].row()).group_id if rows else None
        self._show_fills()

    def _zone_changed(self, _zone: object) -> None:
        self._show_fills()

    def _show_fills(self) -> None:
        campaign = self.selected_campaign()
        self.fills_model.set_rows(campaign.effects if campaign is not None else [])
        if campaign is None:
            self.fills_title.setText("Fills of the selected campaign")
        else:
            zone = self.fills_model.display.zone
            opened = f"{format_minute(campaign.opened_at, zone)} {zone.label}"
            self.fills_title.setText(
                f"{campaign.symbol} {campaign.direction} campaign, opened {opened}: "
                f"{campaign.num_fills} fills, fees {format_money(campaign.fees)}"
            )
