"""The Backtest panel's inputs: which strategy, on what, over which dates, with which overrides and costs.

Reading the form gives a ``BacktestRequest`` or a ValueError whose message tells the trader what to fix,
so the panel never sends the service something it would only refuse later. Dates are trading-session dates
and the end date is included, as a trader reads "to March 7": the range runs from UTC midnight of the first date
to UTC midnight after the last (as `stratforge backtest --start/--end` reads dates), which holds each date's
session (09:30-16:00 New York is 13:30-21:00 UTC at most) and the pre-market before it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.views.panel_widgets import choose_strategy, refill_strategies
from core.backtest.assignments import parse_value
from core.backtest.service import BacktestRequest
from core.domain.symbols import normalize_symbol
from core.domain.timeframes import Timeframe
from core.services.fill_settings import BacktestConfig, per_share_config
from core.strategy.library import SavedStrategy

TIMEFRAMES = tuple(Timeframe)


def _utc_day(date: QDate) -> datetime:
    return datetime(date.year(), date.month(), date.day(), tzinfo=UTC)


def _money_spin(name: str, decimals: int, low: float, high: float, value: float) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setObjectName(name)
    spin.setDecimals(decimals)
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setPrefix("$ ")
    return spin


class BacktestForm(QWidget):
    """The input widgets; ``build_request`` reads them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("backtestForm")
        self.strategy_combo = QComboBox(objectName="strategyCombo")
        self.strategy_combo.setPlaceholderText("no saved strategies yet")
        self.strategy_combo.currentIndexChanged.connect(self._strategy_changed)
        self.class_combo = QComboBox(objectName="classCombo")
        self.symbol_edit = QLineEdit(objectName="symbolEdit", placeholderText="e.g. SPY")
        self.symbol_edit.textEdited.connect(self._upper_case)
        self.timeframe_combo = QComboBox(objectName="timeframeCombo")
        self.timeframe_combo.addItems(TIMEFRAMES)
        today = QDate.currentDate()
        self.start_date = self._date_edit("startDate", today.addMonths(-1))
        self.end_date = self._date_edit("endDate", today)
        self.cash_spin = _money_spin("cashSpin", 2, 1.0, 1e12, 100_000.0)
        self.cash_spin.setGroupSeparatorShown(True)
        self.commission_spin = _money_spin("commissionSpin", 4, 0.0, 100.0, 0.0)
        self.commission_spin.setSingleStep(0.001)

        form = QFormLayout()
        form.addRow("Strategy", self.strategy_combo)
        form.addRow("Class", self.class_combo)
        form.addRow("Symbol", self.symbol_edit)
        form.addRow("Timeframe", self.timeframe_combo)
        form.addRow("From (session date)", self.start_date)
        form.addRow("To (session date, included)", self.end_date)
        form.addRow("Starting cash", self.cash_spin)
        form.addRow("Commission / share", self.commission_spin)

        self.params_table = QTableWidget(0, 2, objectName="paramsTable")
        self.params_table.setHorizontalHeaderLabels(["Parameter", "Value"])
        self.params_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.params_table.verticalHeader().setVisible(False)
        self.params_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.params_table.setToolTip("Overrides of the strategy's parameters; empty rows are ignored")
        add = QPushButton("Add parameter", objectName="addParamButton")
        add.clicked.connect(lambda: self.add_param("", ""))
        remove = QPushButton("Remove", objectName="removeParamButton")
        remove.clicked.connect(self._remove_selected_params)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.params_table, 1)
        layout.addLayout(buttons)

    @staticmethod
    def _date_edit(name: str, date: QDate) -> QDateEdit:
        edit = QDateEdit(date, objectName=name, calendarPopup=True)
        edit.setDisplayFormat("yyyy-MM-dd")
        return edit

    # --- strategies ---
    def set_strategies(self, strategies: list[SavedStrategy]) -> None:
        """Fill the combo, keeping the current choice when it is still there."""
        refill_strategies(self.strategy_combo, strategies, self._strategy_changed)

    def select_strategy(self, saved: SavedStrategy) -> None:
        """Choose ``saved`` (added to the combo if new; its newest version replaces an older one)."""
        choose_strategy(self.strategy_combo, saved, self._strategy_changed)

    def selected_strategy(self) -> SavedStrategy | None:
        data = self.strategy_combo.currentData()
        return data if isinstance(data, SavedStrategy) else None

    def _strategy_changed(self, _index: int) -> None:
        saved = self.selected_strategy()
        self.class_combo.clear()
        self.params_table.setRowCount(0)
        if saved is None:
            return
        self.class_combo.addItems(list(saved.classes))
        for name, value in saved.parameters.items():
            self.add_param(name, str(value))

    # --- parameters ---
    def add_param(self, name: str, value: str) -> None:
        row = self.params_table.rowCount()
        self.params_table.insertRow(row)
        self.params_table.setItem(row, 0, QTableWidgetItem(name))
        self.params_table.setItem(row, 1, QTableWidgetItem(value))

    def _remove_selected_params(self) -> None:
        for row in sorted({i.row() for i in self.params_table.selectedIndexes()}, reverse=True):
            self.params_table.removeRow(row)

    def params(self) -> dict[str, Any]:
        """The overrides typed in the table; ValueError for a value without a name or a name given twice."""
        out: dict[str, Any] = {}
        for row in range(self.params_table.rowCount()):
            name_item, value_item = self.params_table.item(row, 0), self.params_table.item(row, 1)
            name = name_item.text().strip() if name_item else ""
            value = value_item.text() if value_item else ""
            if not name and not value.strip():
                continue
            if not name.isidentifier():
                raise ValueError(f"parameter row {row + 1}: {name!r} is not a parameter name")
            if name in out:
                raise ValueError(f"parameter {name!r} is given twice")
            out[name] = parse_value(value)
        return out

    # --- the request ---
    def _upper_case(self, text: str) -> None:
        if text != text.upper():
            position = self.symbol_edit.cursorPosition()
            self.symbol_edit.setText(text.upper())
            self.symbol_edit.setCursorPosition(position)

    def config(self) -> BacktestConfig:
        cash = Decimal(f"{self.cash_spin.value():.2f}")
        per_share = Decimal(f"{self.commission_spin.value():.4f}")
        return per_share_config(per_share, cash)

    def build_request(self, user_id: uuid.UUID) -> BacktestRequest:
        """The run the form describes; ValueError with a message for the trader when something is missing."""
        saved = self.selected_strategy()
        if saved is None:
            raise ValueError("Choose a saved strategy (save one in the strategy editor first).")
        symbol = normalize_symbol(self.symbol_edit.text())
        if not symbol:
            raise ValueError("Enter a symbol.")
        start = _utc_day(self.start_date.date())
        end = _utc_day(self.end_date.date()) + timedelta(days=1)
        if end <= start:
            raise ValueError("The end date must not be before the start date.")
        return BacktestRequest(
            user_id=user_id, symbol=symbol, timeframe=self.timeframe_combo.currentText(), start=start, end=end,
            strategy_id=saved.id, class_name=self.class_combo.currentText() or None, params=self.params(),
            config=self.config(),
        )  # fmt: skip
