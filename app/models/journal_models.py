"""The Journal panel's tables: journal fills, campaigns and a campaign's fills, entries, per-strategy statistics,
behavioural checks.

They only format what ``core.journal`` computed, on the portfolio's table machinery (``RecordTableModel``): money
to two decimals, P&L green or red, rows kept in place when a refresh brings back the same records (so the
trader's selection survives a NOTIFY). A check's severity and a failed check are coloured too, because a red
"critical" is what the trader scans the list for.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from app.models.positions_model import (
    DASH,
    AnyIndex,
    Column,
    RecordTableModel,
    format_money,
    format_qty,
    time_column,
)
from core.journal import Campaign, EntryView, FillEffect, JournalFillRow, StoredCheck, StrategyStats

CRITICAL = QColor("#d32f2f")
WARN = QColor("#ef6c00")
FAILED = QColor("#d32f2f")
CONTENT_PREVIEW = 80

CONTEXT_LABELS = {
    "entry": "Entry",
    "add": "Add",
    "reduce": "Reduce",
    "exit": "Exit",
    "idea": "Idea",
    "post_trade_reflection": "Post-trade reflection",
}
PHASE_LABELS = {
    "pre_trade": "pre-trade",
    "at_entry": "at entry",
    "during": "during",
    "at_exit": "at exit",
    "post_trade": "post-trade",
}


def _pnl(value: Decimal | None) -> str:
    return format_money(value, signed=True)


def format_percent(ratio: Decimal | None, *, signed: bool = False) -> str:
    """A ratio (0.05) as a percentage ("5.00%"); a dash when there is none."""
    if ratio is None:
        return DASH
    percent = ratio * 100
    return f"{percent:+.2f}%" if signed and percent != 0 else f"{percent:.2f}%"


def format_duration(value: timedelta | None) -> str:
    """Holding time at a glance: the two largest units ("2d 3h", "45m 10s", "30m"); a dash while open."""
    if value is None:
        return DASH
    seconds = int(value.total_seconds())
    parts = [(seconds // 86_400, "d"), (seconds % 86_400 // 3_600, "h"), (seconds % 3_600 // 60, "m"),
             (seconds % 60, "s")]  # fmt: skip
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    first, second = parts[0], parts[1] if len(parts) > 1 else None
    return f"{first[0]}{first[1]}" + (f" {second[0]}{second[1]}" if second and second[0] else "")


def check_label(check_type: str) -> str:
    """``revenge_trading`` -> ``Revenge trading``."""
    return check_type.replace("_", " ").capitalize()


def context_label(context_type: str | None) -> str:
    return DASH if context_type is None else CONTEXT_LABELS.get(context_type, context_type)


def _preview(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= CONTENT_PREVIEW else line[: CONTENT_PREVIEW - 1] + "…"


def _short(value: object) -> str:
    return "" if value is None else str(value).split("-")[0]


class _ColoredModel[R](RecordTableModel[R]):
    """A record model that may colour any cell (``color``), not only P&L columns."""

    def color(self, row: R, header: str) -> QColor | None:
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if index.isValid() and role == Qt.ItemDataRole.ForegroundRole:
            color = self.color(self._rows[index.row()], self.columns[index.column()].header)
            if color is not None:
                return color
        if index.isValid() and role == Qt.ItemDataRole.ToolTipRole:
            text = super().data(index, Qt.ItemDataRole.DisplayRole)
            return text if isinstance(text, str) and len(text) > 40 else None
        return super().data(index, role)


FILL_COLUMNS: tuple[Column[JournalFillRow], ...] = (
    time_column("Time", lambda r: r.fill.executed_at),
    Column("Symbol", lambda r: r.fill.symbol),
    Column("Side", lambda r: r.fill.side.capitalize()),
    Column("Qty", lambda r: r.fill.quantity, format_qty),
    Column("Price", lambda r: r.fill.price, format_money),
    Column("Fees", lambda r: r.fill.fees, format_money),
    Column("Source", lambda r: r.fill.source),
    Column("Context", lambda r: r.context_type, context_label),
)


class JournalFillsModel(RecordTableModel[JournalFillRow]):
    """Every fill of the trader (ledger and imported), newest first, and whether it has a decision context."""

    columns = FILL_COLUMNS

    @staticmethod
    def key(row: JournalFillRow) -> Hashable:
        return row.fill.id


CAMPAIGN_COLUMNS: tuple[Column[Campaign], ...] = (
    Column("Symbol", lambda c: c.symbol),
    Column("Direction", lambda c: c.direction.capitalize()),
    time_column("Opened", lambda c: c.opened_at),
    time_column("Closed", lambda c: c.closed_at, empty="open"),
    Column("Fills", lambda c: c.num_fills, lambda n: f"{n:,}"),
    Column("Max position", lambda c: c.max_position, format_qty),
    Column("Realized P&L", lambda c: c.realized_pnl, _pnl, pnl=True),
    Column("Return", lambda c: c.return_on_max_cost, lambda v: format_percent(v, signed=True), pnl=True),
    Column("Holding time", lambda c: c.holding_time, format_duration),
)


class CampaignsModel(RecordTableModel[Campaign]):
    """Flat-to-flat campaigns with P&L after fees; "Return" is realized P&L over the largest cost held."""

    columns = CAMPAIGN_COLUMNS

    @staticmethod
    def key(row: Campaign) -> Hashable:
        return row.group_id


EFFECT_COLUMNS: tuple[Column[FillEffect], ...] = (
    time_column("Time", lambda e: e.executed_at),
    Column("Side", lambda e: e.side.capitalize()),
    Column("Qty", lambda e: e.opened + e.closed, format_qty),
    Column("Price", lambda e: e.price, format_money),
    Column("Opened", lambda e: e.opened, format_qty),
    Column("Closed", lambda e: e.closed, format_qty),
    Column("Fees", lambda e: e.fees, format_money),
    Column("Realized P&L", lambda e: e.realized_pnl, _pnl, pnl=True),
    Column("Position after", lambda e: e.position_after, format_qty),
)


class CampaignFillsModel(RecordTableModel[FillEffect]):
    """One campaign's fills: what each opened or closed (FIFO), its share of the fees, the position after it.
    A fill through zero shows only the part that belongs to this campaign."""

    columns = EFFECT_COLUMNS

    @staticmethod
    def key(row: FillEffect) -> Hashable:
        return (row.fill_id, row.group_id)


ENTRY_COLUMNS: tuple[Column[EntryView], ...] = (
    Column("Date", lambda e: e.entry_date, lambda d: d.isoformat()),
    Column("Type", lambda e: e.entry_type),
    Column("Mood", lambda e: e.mood or ""),
    Column("Tags", lambda e: ", ".join(e.tags)),
    Column("Fill", lambda e: e.fill_id, _short),
    Column("Entry", lambda e: e.content, _preview),
)


class EntriesModel(RecordTableModel[EntryView]):
    columns = ENTRY_COLUMNS

    @staticmethod
    def key(row: EntryView) -> Hashable:
        return row.id


def _strategy_name(stats: StrategyStats) -> str:
    if stats.strategy_id is None:
        return "no strategy"
    return stats.strategy_name or "(a strategy you cannot see)"


def _profit_factor(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


STRATEGY_COLUMNS: tuple[Column[StrategyStats], ...] = (
    Column("Strategy", _strategy_name),
    Column("Campaigns", lambda s: s.summary.campaigns, lambda n: f"{n:,}"),
    Column("Wins / losses", lambda s: (s.summary.wins, s.summary.losses), lambda wl: f"{wl[0]} / {wl[1]}"),
    Column("Win rate", lambda s: s.summary.win_rate, format_percent),
    Column("Total P&L", lambda s: s.summary.total_pnl, _pnl, pnl=True),
    Column("Average P&L", lambda s: s.summary.average_pnl, _pnl, pnl=True),
    Column("Profit factor", lambda s: s.summary.profit_factor, _profit_factor),
)


class StrategyStatsModel(RecordTableModel[StrategyStats]):
    """Closed campaigns per strategy (the one linked in the opening fill's context, else its order's)."""

    columns = STRATEGY_COLUMNS

    @staticmethod
    def key(row: StrategyStats) -> Hashable:
        return row.strategy_id


def _passed(value: bool) -> str:
    return "Yes" if value else "No"


CHECK_COLUMNS: tuple[Column[StoredCheck], ...] = (
    time_column("Time", lambda c: c.checked_at),
    Column("Phase", lambda c: PHASE_LABELS.get(c.phase, c.phase)),
    Column("Check", lambda c: c.check_type, check_label),
    Column("Severity", lambda c: c.severity),
    Column("Passed", lambda c: c.passed, _passed),
    Column("Your action", lambda c: c.trader_action or DASH),
    Column("Seen", lambda c: None if c.passed else c.acknowledged, lambda v: DASH if v is None else _passed(v)),
    Column("Nudge", lambda c: c.nudge_text or ""),  # last: the long one stretches
)
FILL_CHECK_COLUMNS: tuple[Column[StoredCheck], ...] = tuple(
    c for c in CHECK_COLUMNS if c.header in ("Phase", "Check", "Severity", "Passed", "Your action", "Nudge")
)


class ChecksModel(_ColoredModel[StoredCheck]):
    """Stored behavioural checks, newest first. A failed check's severity and result are coloured."""

    columns = CHECK_COLUMNS

    @staticmethod
    def key(row: StoredCheck) -> Hashable:
        return row.id

    def color(self, row: StoredCheck, header: str) -> QColor | None:
        if row.passed:
            return None
        if header == "Severity":
            return CRITICAL if row.severity == "critical" else (WARN if row.severity == "warn" else None)
        if header == "Passed":
            return FAILED
        return None


class FillChecksModel(ChecksModel):
    """The checks recorded for one fill (its order's pre-trade checks, its campaign's post-trade ones)."""

    columns = FILL_CHECK_COLUMNS
