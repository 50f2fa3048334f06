"""Watchlist: the trader's symbols with last price and change; clicking one opens it in the chart.

The panel owns no data source: the main window subscribes the listed symbols to the live feed (it listens to
`symbolsChanged`) and pushes quotes in with `show_quotes`. Symbols are checked with the same ticker rule as
the chart's search box before they are listed.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.models.watchlist_model import WatchlistModel
from core.domain.symbols import is_valid_symbol, normalize_symbol
from core.market.quotes import Quote

MAX_SYMBOLS = 100


class WatchlistPanel(QWidget):
    symbolActivated = Signal(str)  # open this symbol in the chart
    symbolsChanged = Signal(list)  # the new list, in order (to subscribe and to remember)

    def __init__(self, symbols: list[str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("watchlistPanel")
        self.model = WatchlistModel(self)  # owned by the panel: deleted with it, on the GUI thread
        self.model.set_symbols(symbols or [])

        self.input = QLineEdit()
        self.input.setObjectName("watchlistInput")
        self.input.setPlaceholderText("Add symbol (e.g. AAPL)")
        self.input.returnPressed.connect(self._add_typed)
        self.add_button = QPushButton("Add")
        self.add_button.setObjectName("watchlistAdd")
        self.add_button.clicked.connect(self._add_typed)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("watchlistRemove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.error = QLabel()
        self.error.setObjectName("watchlistError")
        self.error.setStyleSheet("color: #ef5350;")
        self.error.hide()

        self.table = QTableView()
        self.table.setObjectName("watchlistTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.clicked.connect(self._activated)
        self.table.activated.connect(self._activated)
        delete = QShortcut(QKeySequence.StandardKey.Delete, self.table)
        delete.activated.connect(self.remove_selected)

        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(self.error)
        layout.addWidget(self.table, 1)

    @property
    def symbols(self) -> list[str]:
        return self.model.symbols

    def add_symbol(self, text: str) -> bool:
        """List `text` (upper-cased) if it is a valid ticker; otherwise say why. True when added."""
        symbol = normalize_symbol(text)
        if not is_valid_symbol(symbol):
            return self._refuse(f"“{text.strip()}” is not a ticker symbol (letters, digits, '.' or '-').")
        if len(self.model.symbols) >= MAX_SYMBOLS:
            return self._refuse(f"The watchlist holds at most {MAX_SYMBOLS} symbols.")
        if not self.model.add(symbol):
            return self._refuse(f"{symbol} is already in the watchlist.")
        self.error.hide()
        self.symbolsChanged.emit(self.model.symbols)
        return True

    def remove_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.model.remove(self.model.symbol_at(rows[0].row()))
            self.symbolsChanged.emit(self.model.symbols)

    def show_quotes(self, quotes: list[Quote]) -> None:
        self.model.update_quotes(quotes)

    def _add_typed(self) -> None:
        if self.add_symbol(self.input.text()):
            self.input.clear()

    def _refuse(self, message: str) -> bool:
        self.error.setText(message)
        self.error.show()
        return False

    def _activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.symbolActivated.emit(self.model.symbol_at(index.row()))
