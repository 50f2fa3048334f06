"""The watchlist's rows: symbol, last, change, change % (quotes come from core.market.quotes)."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from app.display_time import display_time
from core.domain.display_time import format_minute, in_zone
from core.ledger.prices import PriceQuote
from core.market.quotes import Quote

COLUMNS = ("Symbol", "Last", "Change", "Change %")
UP = QColor("#26a69a")
DOWN = QColor("#ef5350")
STORED = QColor("#808080")  # a stored close, not a live price
AnyIndex = QModelIndex | QPersistentModelIndex


class WatchlistModel(QAbstractTableModel):
    """Rows in the trader's order; a symbol without a live quote shows its last stored close (grey, italic, said
    so in its tooltip) when it has one, dashes otherwise."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._symbols: list[str] = []
        self._quotes: dict[str, Quote] = {}
        self._stored: dict[str, PriceQuote] = {}  # last stored closes, shown until a live quote arrives

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def set_symbols(self, symbols: list[str]) -> None:
        self.beginResetModel()
        self._symbols = list(dict.fromkeys(s.upper() for s in symbols))
        self.endResetModel()

    def add(self, symbol: str) -> bool:
        """Append `symbol`; False when it is already listed."""
        symbol = symbol.upper()
        if symbol in self._symbols:
            return False
        row = len(self._symbols)
        self.beginInsertRows(QModelIndex(), row, row)
        self._symbols.append(symbol)
        self.endInsertRows()
        return True

    def remove(self, symbol: str) -> None:
        if symbol in self._symbols:
            row = self._symbols.index(symbol)
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._symbols[row]
            self.endRemoveRows()

    def update_quotes(self, quotes: list[Quote]) -> None:
        """Take fresh quotes; only the rows whose quote changed repaint."""
        for quote in quotes:
            if quote.symbol not in self._symbols or self._quotes.get(quote.symbol) == quote:
                continue
            self._quotes[quote.symbol] = quote
            row = self._symbols.index(quote.symbol)
            self.dataChanged.emit(self.index(row, 1), self.index(row, len(COLUMNS) - 1))

    def show_stored_closes(self, closes: list[PriceQuote]) -> None:
        """Take last stored closes (``PriceQuote``s with ``stale`` set); a symbol with a live quote keeps it."""
        for close in closes:
            if close.symbol not in self._symbols or self._stored.get(close.symbol) == close:
                continue
            self._stored[close.symbol] = close
            row = self._symbols.index(close.symbol)
            self.dataChanged.emit(self.index(row, 1), self.index(row, len(COLUMNS) - 1))

    def is_stored_close(self, symbol: str) -> bool:
        """Whether ``symbol``'s row shows a stored close (no live quote yet)."""
        return symbol not in self._quotes and symbol in self._stored

    def symbol_at(self, row: int) -> str:
        return self._symbols[row]

    # --- QAbstractTableModel ---
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._symbols)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        symbol = self._symbols[index.row()]
        quote = self._quotes.get(symbol)
        column = index.column()
        if quote is None and symbol in self._stored and column > 0:
            return self._stored_data(self._stored[symbol], column, role)
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return symbol
            if quote is None:
                return "—"
            if column == 1:
                return f"{quote.last:,.2f}"
            if column == 2:
                return f"{quote.change:+,.2f}"
            return "—" if math.isnan(quote.change_pct) else f"{quote.change_pct:+.2f}%"
        if role == Qt.ItemDataRole.ForegroundRole and column >= 2 and quote is not None and quote.change:
            return UP if quote.change > 0 else DOWN
        if role == Qt.ItemDataRole.TextAlignmentRole and column > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and quote is not None:
            basis = "previous close" if quote.reference_is_prior_close else "first price seen today"
            zone = display_time().zone  # read when asked: a tooltip is built on demand, so it follows the setting
            when = f"{format_minute(quote.at, zone)} {zone.label}"
            return f"{symbol}: last bar {when}; change from the {basis} {quote.reference:,.2f}"
        return None

    def _stored_data(self, close: PriceQuote, column: int, role: int) -> Any:
        """A stored close in the Last column, marked (grey, italic, a tooltip); no change is known from it."""
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{close.price:,.2f}" if column == 1 else "—"
        if role == Qt.ItemDataRole.ForegroundRole:
            return STORED
        if role == Qt.ItemDataRole.FontRole and column == 1:
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            zone = display_time().zone
            when = f"{in_zone(close.as_of, zone):%a} {format_minute(close.as_of, zone)} {zone.label}"
            return f"{close.symbol}: last stored close, {when}; live data not yet received"
        return None
