"""The watchlist as a trader uses it: add symbols, see quotes move, click to open in the chart."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.views.watchlist_panel import WatchlistPanel
from core.domain.bars import NormalizedBar
from core.market.quotes import QuoteBoard


def bar(symbol: str, minute: int, close: float, day: int = 23) -> NormalizedBar:
    return NormalizedBar(symbol=symbol, timeframe="1Min", timestamp=datetime(2026, 11, day, 15, minute, tzinfo=UTC),
                         open=close, high=close, low=close, close=close, volume=10.0)  # fmt: skip


def cell(panel: WatchlistPanel, row: int, column: int) -> str:
    return panel.model.data(panel.model.index(row, column))


def test_typed_symbols_are_listed_and_bad_ones_refused(qtbot: QtBot) -> None:
    panel = WatchlistPanel(["SPY"])
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.symbolsChanged, timeout=1000) as changed:
        qtbot.keyClicks(panel.input, "aapl")
        qtbot.keyClick(panel.input, Qt.Key.Key_Return)
    assert changed.args[0] == ["SPY", "AAPL"]
    assert panel.input.text() == ""
    with qtbot.assertNotEmitted(panel.symbolsChanged):
        qtbot.keyClicks(panel.input, "not a symbol!")
        qtbot.keyClick(panel.input, Qt.Key.Key_Return)
    assert panel.error.isVisibleTo(panel) and "not a ticker" in panel.error.text()
    assert panel.input.text() == "not a symbol!"  # kept, so it can be corrected
    panel.input.clear()
    qtbot.keyClicks(panel.input, "spy")
    qtbot.keyClick(panel.input, Qt.Key.Key_Return)
    assert "already" in panel.error.text() and panel.symbols == ["SPY", "AAPL"]


def test_quotes_show_last_and_change_and_a_click_opens_the_chart(qtbot: QtBot) -> None:
    panel = WatchlistPanel(["AAPL", "MSFT"])
    qtbot.addWidget(panel)
    panel.show()
    assert cell(panel, 0, 1) == "—"
    board = QuoteBoard()
    board.update(bar("AAPL", 0, 200.0, day=20))
    board.update(bar("AAPL", 1, 210.0, day=23))
    panel.show_quotes(board.quotes(panel.symbols))
    assert (cell(panel, 0, 1), cell(panel, 0, 2), cell(panel, 0, 3)) == ("210.00", "+10.00", "+5.00%")
    assert panel.model.data(panel.model.index(0, 2), Qt.ItemDataRole.ForegroundRole).name() == "#26a69a"
    assert cell(panel, 1, 1) == "—"  # no quote for MSFT yet
    rect = panel.table.visualRect(panel.model.index(1, 0))
    with qtbot.waitSignal(panel.symbolActivated, timeout=1000) as opened:
        qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args == ["MSFT"]


def test_remove_selected_symbol(qtbot: QtBot) -> None:
    panel = WatchlistPanel(["AAPL", "MSFT"])
    qtbot.addWidget(panel)
    panel.table.selectRow(0)
    with qtbot.waitSignal(panel.symbolsChanged, timeout=1000) as changed:
        qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert changed.args[0] == ["MSFT"] and panel.model.rowCount() == 1
