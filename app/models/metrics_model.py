"""Backtest metrics as a table: one row per metric, one column per result (two columns to compare runs).

Stored metrics are plain floats in their natural units (fractions, seconds, money); a trader reads
"12.3 %", "2 d 4 h" and "$101,234.50", so the formatting lives here, next to the list of what each
metric is. The raw value stays available under ``Qt.UserRole`` for tests and for sorting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

# (key, label, kind): kind picks the formatting.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("total_return", "Total return", "pct"),
    ("annualized_return", "Annualized return (CAGR)", "pct"),
    ("buy_and_hold_return", "Buy and hold return", "pct"),
    ("max_drawdown", "Max drawdown", "pct"),
    ("max_drawdown_duration", "Longest drawdown", "duration"),
    ("max_drawdown_duration_bars", "Longest drawdown (bars)", "int"),
    ("volatility", "Volatility (annualized)", "pct"),
    ("sharpe", "Sharpe ratio", "ratio"),
    ("sortino", "Sortino ratio", "ratio"),
    ("calmar", "Calmar ratio", "ratio"),
    ("trade_count", "Trades", "int"),
    ("win_rate", "Win rate", "pct"),
    ("profit_factor", "Profit factor", "ratio"),
    ("expectancy", "Expectancy per trade", "money"),
    ("avg_trade_pct", "Average trade", "pct"),
    ("best_trade_pct", "Best trade", "pct"),
    ("worst_trade_pct", "Worst trade", "pct"),
    ("avg_trade_duration", "Average trade duration", "duration"),
    ("exposure", "Time in market", "pct"),
    ("final_equity", "Final equity", "money"),
    ("peak_equity", "Peak equity", "money"),
    ("bar_count", "Bars", "int"),
    ("periods_per_year", "Bars per year", "number"),
)
KEYS = tuple(key for key, _, _ in METRICS)


def format_duration(seconds: float) -> str:
    """Seconds as the two largest units a trader thinks in: "3 d 4 h", "2 h 5 min", "45 s"."""
    total = round(abs(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days} d {hours} h" if hours else f"{days} d"
    elif hours:
        text = f"{hours} h {minutes} min" if minutes else f"{hours} h"
    elif minutes:
        text = f"{minutes} min {secs} s" if secs else f"{minutes} min"
    else:
        text = f"{secs} s"
    return f"-{text}" if seconds < 0 else text


def format_money(value: float) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def format_metric(kind: str, value: Any) -> str:
    """One metric value for display; None (undefined for the run, see core.backtest.metrics) is "—"."""
    if value is None:
        return "—"
    if kind == "pct":
        return f"{float(value) * 100:,.2f} %"
    if kind == "money":
        return format_money(float(value))
    if kind == "duration":
        return format_duration(float(value))
    if kind == "int":
        return f"{int(value):,}"
    if kind == "ratio":
        return f"{float(value):,.2f}"
    return f"{float(value):,.6g}"


class MetricsModel(QAbstractTableModel):
    """Rows are the metrics of ``METRICS`` (unknown extra keys follow, unformatted); columns are results."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._titles: list[str] = []
        self._columns: list[dict[str, Any]] = []
        self._rows: list[tuple[str, str, str]] = list(METRICS)

    def set_results(self, columns: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Show these ``(title, metrics)`` columns; an empty sequence clears the table."""
        self.beginResetModel()
        self._titles = [title for title, _ in columns]
        self._columns = [dict(metrics) for _, metrics in columns]
        extra = sorted({k for m in self._columns for k in m} - set(KEYS))
        self._rows = list(METRICS) + [(k, k, "number") for k in extra]
        self.endResetModel()

    def row_of(self, key: str) -> int:
        """The row showing metric ``key`` (ValueError if there is none)."""
        return [k for k, _, _ in self._rows].index(key)

    def value(self, key: str, column: int = 0) -> Any:
        return self._columns[column].get(key)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or not self._columns else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        key, _label, kind = self._rows[index.row()]
        value = self._columns[index.column()].get(key)
        if role == Qt.ItemDataRole.DisplayRole:
            return format_metric(kind, value)
        if role == Qt.ItemDataRole.UserRole:
            return value
        if role == Qt.ItemDataRole.ToolTipRole:
            return key
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self._titles[section] if 0 <= section < len(self._titles) else None
        return self._rows[section][1] if 0 <= section < len(self._rows) else None
