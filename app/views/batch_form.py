"""What a new batch runs: a saved strategy and class, the symbol and range, costs, and where it runs.

The form turns its fields into a core `BatchSpec` and an executor, the same objects `stratforge batch`
builds from its arguments, so the GUI and the command line cannot drift apart in meaning.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from PySide6.QtCore import QDate
from PySide6.QtWidgets import QComboBox, QDateEdit, QDoubleSpinBox, QFormLayout, QLineEdit, QSpinBox, QWidget

from core.backtest.assignments import Variable
from core.backtest.batch_jobs import BatchSpec
from core.backtest.executors import Executor
from core.backtest.strategy_ref import StrategyRef
from core.domain.symbols import normalize_symbol
from core.market.aggregate import AGGREGATE_TIMEFRAMES
from core.services.batches import commission_config, make_executor
from core.strategy.library import SavedStrategy


def _utc(day: QDate) -> datetime:
    """A date field as midnight UTC, as the CLI reads `--start 2025-03-03`: a session date (that midnight is before
    the date's New York pre-market), so the start date's session is in and the end date's is not."""
    return datetime(day.year(), day.month(), day.day(), tzinfo=UTC)


class BatchForm(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("batchForm")
        self._strategies: list[SavedStrategy] = []
        self.strategy = QComboBox()
        self.strategy.setObjectName("strategyCombo")
        self.strategy.currentIndexChanged.connect(self._fill_classes)
        self.class_name = QComboBox()
        self.class_name.setObjectName("classCombo")
        self.symbol = QLineEdit()
        self.symbol.setObjectName("symbolEdit")
        self.symbol.setPlaceholderText("e.g. SPY (a ticker variable overrides it)")
        self.timeframe = QComboBox()
        self.timeframe.setObjectName("timeframeCombo")
        self.timeframe.addItems(AGGREGATE_TIMEFRAMES)
        today = QDate.currentDate()
        self.start = self._date("startDate", today.addDays(-30))
        self.end = self._date("endDate", today)
        self.commission = QDoubleSpinBox()
        self.commission.setObjectName("commissionSpin")
        self.commission.setDecimals(4)
        self.commission.setRange(0.0, 10.0)
        self.commission.setSingleStep(0.001)
        self.commission.setPrefix("$ ")
        self.commission.setSuffix(" / share")
        self.workers = QSpinBox()
        self.workers.setObjectName("workersSpin")
        self.workers.setRange(1, 256)
        self.workers.setValue(2)
        self.dask = QLineEdit()
        self.dask.setObjectName("daskEdit")
        self.dask.setPlaceholderText("tcp://host:8786 (empty: run on this machine)")
        self.name = QLineEdit()
        self.name.setObjectName("batchNameEdit")
        self.name.setPlaceholderText("default: strategy and symbol")

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        for label, widget in (
            ("Strategy", self.strategy), ("Class", self.class_name), ("Symbol", self.symbol),
            ("Timeframe", self.timeframe), ("Start (session date)", self.start),
            ("End (session date, excluded)", self.end),
            ("Commission", self.commission), ("Workers", self.workers), ("Dask scheduler", self.dask),
            ("Batch name", self.name),
        ):  # fmt: skip
            form.addRow(label, widget)

    @staticmethod
    def _date(name: str, value: QDate) -> QDateEdit:
        edit = QDateEdit(value)
        edit.setObjectName(name)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd")
        return edit

    def set_strategies(self, strategies: Sequence[SavedStrategy]) -> None:
        """Refill the strategy list, keeping the chosen one when it is still there."""
        current = self.selected_strategy()
        self._strategies = list(strategies)
        self.strategy.blockSignals(True)
        self.strategy.clear()
        for saved in self._strategies:
            self.strategy.addItem(f"{saved.name} (v{saved.version})")
        ids = [s.id for s in self._strategies]
        if current is not None and current.id in ids:
            self.strategy.setCurrentIndex(ids.index(current.id))
        self.strategy.blockSignals(False)
        self._fill_classes()

    def _fill_classes(self) -> None:
        saved = self.selected_strategy()
        self.class_name.clear()
        if saved is not None:
            self.class_name.addItems(saved.classes)

    def selected_strategy(self) -> SavedStrategy | None:
        index = self.strategy.currentIndex()
        return self._strategies[index] if 0 <= index < len(self._strategies) else None

    def set_range(self, start: QDate, end: QDate) -> None:
        self.start.setDate(start)
        self.end.setDate(end)

    def spec(self, user_id: uuid.UUID, variables: Sequence[Variable], cap: int) -> BatchSpec:
        """The batch to create; raises ValueError with a message for the trader when a field is missing."""
        saved = self.selected_strategy()
        if saved is None:
            raise ValueError("choose a saved strategy (save one in the strategy editor first)")
        class_name = self.class_name.currentText()
        if not class_name:
            raise ValueError(f"{saved.name} defines no strategy class")
        symbol = normalize_symbol(self.symbol.text())
        if not symbol:
            raise ValueError("enter a symbol")
        start, end = _utc(self.start.date()), _utc(self.end.date())
        if end <= start:
            raise ValueError("the end date must be after the start date")
        return BatchSpec(
            user_id=user_id, name=self.name.text().strip() or f"{saved.name} {symbol}",
            strategy=StrategyRef(class_name, source=saved.python_code), symbol=symbol, start=start, end=end,
            variables=tuple(variables), timeframe=self.timeframe.currentText(),
            config=commission_config(self.commission.value()), cap=cap, strategy_id=saved.id,
        )  # fmt: skip

    def executor(self) -> Executor:
        return make_executor(self.workers.value(), self.dask.text())
