"""The chart's toolbar: symbol search, timeframe switch and the indicators menu.

The toolbar only asks (`symbolRequested`, `timeframeRequested`, `indicatorRequested`,
`indicatorRemoveRequested`); whoever owns the chart loads the bars and then calls `show_symbol(symbol,
timeframe)`, which updates the toolbar without asking again. A typed symbol is checked with the ticker rule
before anything is requested, and a bad one is marked in place with the reason.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QToolButton,
    QWidget,
)

from app.views.chart_indicators import KINDS, PRICE, IndicatorKind
from core.domain.symbols import is_valid_symbol, normalize_symbol
from core.market.chart_bars import TIMEFRAMES
from core.strategy.indicators import MAX_PERIOD

INVALID_STYLE = "border: 1px solid #ef5350;"


def valid_ticker(text: str) -> str | None:
    """`text` as a ticker in its one spelling (``brk-b`` -> ``BRK.B``), or None when it cannot be one."""
    symbol = normalize_symbol(text)
    return symbol if is_valid_symbol(symbol) else None


PeriodPrompt = Callable[[IndicatorKind], int | None]


class ChartToolbar(QWidget):
    symbolRequested = Signal(str)
    timeframeRequested = Signal(str)
    indicatorRequested = Signal(str, object)  # kind, period (None: the indicator's default or none)
    indicatorRemoveRequested = Signal(str)  # overlay id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setObjectName("symbolSearch")
        self.search.setPlaceholderText("Symbol…")
        self.search.setMaximumWidth(140)
        self._known = QStringListModel(self)  # owned by the toolbar, so deleted with it on the GUI thread
        completer = QCompleter(self._known, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.search.setCompleter(completer)
        self.search.returnPressed.connect(self._search_entered)
        self.search.textEdited.connect(lambda _text: self._mark_invalid(""))
        self.timeframes = QComboBox()
        self.timeframes.setObjectName("timeframeBox")
        self.timeframes.addItems(TIMEFRAMES)
        self.timeframes.currentTextChanged.connect(self._timeframe_chosen)
        self.indicators_menu = QMenu(self)
        self.indicators_button = QToolButton()
        self.indicators_button.setObjectName("indicatorsButton")
        self.indicators_button.setText("Indicators")
        self.indicators_button.setMenu(self.indicators_menu)
        self.indicators_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.ask_period: PeriodPrompt = self._ask_period  # replaceable, so tests need no modal dialog
        self.status = QLabel()
        self.status.setObjectName("chartStatus")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(self.search)
        layout.addWidget(self.timeframes)
        layout.addWidget(self.indicators_button)
        layout.addWidget(self.status, 1)
        self._quiet = False
        self.set_indicators([])

    def show_symbol(self, symbol: str, timeframe: str) -> None:
        """Reflect what the chart shows, without requesting anything."""
        self._quiet = True
        try:
            self.search.setText(symbol)
            self._mark_invalid("")
            if timeframe in TIMEFRAMES:
                self.timeframes.setCurrentText(timeframe)
        finally:
            self._quiet = False

    def set_known_symbols(self, symbols: list[str]) -> None:
        self._known.setStringList(sorted(set(symbols)))

    def set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #ef5350;" if error else "")

    def set_indicators(self, shown: list[tuple[str, str]]) -> None:
        """Rebuild the menu: one "add" entry per indicator kind, then a "remove" entry per shown (id, label)."""
        menu = self.indicators_menu
        menu.clear()
        for placement, title in ((PRICE, "Over prices"), (None, "In a pane")):
            menu.addSection(title)
            for kind in KINDS.values():
                if (kind.placement == PRICE) != (placement == PRICE):
                    continue
                text = f"{kind.label}…" if kind.default_period is not None else kind.label
                action = menu.addAction(text)
                action.setObjectName(f"addIndicator_{kind.name}")
                action.triggered.connect(lambda _checked=False, k=kind: self._add_chosen(k))
        if shown:
            menu.addSection("Remove")
            for overlay_id, label in shown:
                action = menu.addAction(f"Remove {label}")
                action.setObjectName(f"removeIndicator_{overlay_id}")
                action.triggered.connect(lambda _checked=False, i=overlay_id: self.indicatorRemoveRequested.emit(i))

    def _add_chosen(self, kind: IndicatorKind) -> None:
        if kind.default_period is None:
            self.indicatorRequested.emit(kind.name, None)
            return
        period = self.ask_period(kind)
        if period is not None:
            self.indicatorRequested.emit(kind.name, period)

    def _ask_period(self, kind: IndicatorKind) -> int | None:
        period, ok = QInputDialog.getInt(
            self, f"Add {kind.label}", f"{kind.label} period (bars):", kind.default_period or 20, 1, MAX_PERIOD
        )
        return period if ok else None

    def _search_entered(self) -> None:
        symbol = valid_ticker(self.search.text())
        if symbol is None:
            self._mark_invalid(f"“{self.search.text().strip()}” is not a ticker symbol.")
            return
        self.search.setText(symbol)
        self.symbolRequested.emit(symbol)

    def _timeframe_chosen(self, timeframe: str) -> None:
        if not self._quiet:
            self.timeframeRequested.emit(timeframe)

    def _mark_invalid(self, reason: str) -> None:
        self.search.setStyleSheet(INVALID_STYLE if reason else "")
        self.search.setToolTip(reason)
        if reason:
            self.set_status(reason, error=True)
