"""Watchlist: the trader's symbols with last price and change; clicking one opens it in the chart.

The panel owns no data source: the main window subscribes the listed symbols to the live feed (it listens to
`symbolsChanged`) and pushes quotes in with `show_quotes`. Until a symbol's first live bar, its last stored close
is shown, marked as such (`load_stored_closes`, given the workstation's price lookup, reads them off the GUI
thread). Symbols are checked with the same ticker rule as
the chart's search box before they are listed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import shiboken6
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

from app.async_runner import BlockingRunner
from app.models.watchlist_model import WatchlistModel
from core.domain.symbols import is_valid_symbol, normalize_symbol
from core.ledger.prices import PriceQuote
from core.market.quotes import Quote

log = logging.getLogger(__name__)

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

    def show_stored_closes(self, closes: list[PriceQuote]) -> None:
        self.model.show_stored_closes([c for c in closes if c.stale])

    def load_stored_closes(self, runner: BlockingRunner, quote: Callable[[str], PriceQuote | None]) -> None:
        """Read the listed symbols' prices with ``quote`` (it may read the database once per symbol) on a worker
        thread and show the stored closes among them; a failure only leaves the dashes (logged)."""
        symbols = self.model.symbols

        def read() -> list[PriceQuote]:
            return [q for q in map(quote, symbols) if q is not None and q.stale]

        async def load() -> None:
            try:
                closes = await runner.call(read)
            except Exception:
                log.warning("could not read the watchlist's stored closes", exc_info=True)
                return
            if shiboken6.isValid(self):
                self.show_stored_closes(closes)

        runner.spawn(load(), name="watchlist-stored-closes")

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
