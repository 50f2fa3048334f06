"""Before Submit the ticket shows the symbol's price (the last stored close, marked, until live data arrives), the
order's estimated cost or proceeds and the buying power left after it; it opens on the chart's symbol. The
watchlist shows a stored close, marked, until the first live quote."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.async_runner import BlockingRunner
from app.display_time import display_time
from app.views.order_ticket import STALE_STYLE, OrderTicket
from app.views.portfolio_panel import PortfolioPanel
from app.views.watchlist_panel import WatchlistPanel
from core.db.trouble import CONNECTION_LOST
from core.domain.bars import NormalizedBar
from core.domain.display_time import DisplayZone
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.ledger.stored_prices import StoredCloses
from core.market.quotes import QuoteBoard
from core.market.store import BarStore
from core.services.order_entry import TicketFacts
from core.services.portfolio import Portfolio
from tests.gui.conftest import STRONG_PASSWORD
from tests.ledger.manual_broker import ManualBroker
from tests.ledger.test_stored_prices import FRIDAY, bars

D = Decimal
WAIT_MS = 10_000
STORED_TEXT = "Last close 412.30 (stored, Fri 16:00 ET)"


@pytest.fixture(autouse=True)
def exchange_time() -> Iterator[None]:
    """Times in the app's default zone, New York, whatever an earlier test chose."""
    shown = display_time()
    before = shown.zone
    shown.set_zone(DisplayZone.EXCHANGE)
    yield
    shown.set_zone(before)


@pytest.fixture
def make_user(accounts):
    return lambda name: accounts.sign_up(f"{name}@example.com", name, STRONG_PASSWORD).id


@pytest.fixture
def prices(db) -> Iterator[LastPrices]:
    store = BarStore(db.engine)
    store.insert("SPY", "1Min", bars([411.0, 412.3], FRIDAY.replace(hour=20, minute=58), "1min"),
                 source="csv_import")  # fmt: skip
    store.close()
    yield LastPrices(stored=StoredCloses(db.engine))


@pytest.fixture
def portfolio(db, prices: LastPrices) -> Portfolio:
    return Portfolio(Ledger(db.session_factory, ManualBroker(), prices), db.session_factory, prices=prices)


@pytest.fixture
def open_ticket(qtbot: QtBot, portfolio: Portfolio, runner: BlockingRunner):
    def make(user: uuid.UUID, symbol: str = "SPY", facts: object | None = None) -> OrderTicket:
        ticket = OrderTicket(portfolio.orders, user, runner, symbol, facts=facts or portfolio)  # type: ignore[arg-type]
        qtbot.addWidget(ticket)
        ticket.show()
        return ticket

    return make


def test_the_stored_close_is_the_price_marked_as_such_until_a_live_one_arrives(
    qtbot: QtBot, make_user, open_ticket, prices: LastPrices
) -> None:
    ticket = open_ticket(make_user("ada"))
    qtbot.waitUntil(lambda: ticket.price_label.text() == STORED_TEXT, timeout=WAIT_MS)
    assert ticket.price_label.styleSheet() == STALE_STYLE
    assert "live data not yet received" in ticket.price_label.toolTip()
    assert ticket.buying_power_label.text() == "$100,000.00 now"  # no order typed yet

    prices.update("SPY", D("412.55"), datetime(2025, 3, 10, 13, 31, tzinfo=UTC))
    ticket.account_refreshed()
    qtbot.waitUntil(lambda: ticket.price_label.text() == "Last 412.55 (live)", timeout=WAIT_MS)
    assert ticket.price_label.styleSheet() == "" and ticket.price_label.toolTip() == ""


def test_cost_and_buying_power_follow_quantity_side_type_and_price(qtbot: QtBot, make_user, open_ticket) -> None:
    ticket = open_ticket(make_user("bob"))
    qtbot.waitUntil(lambda: ticket.facts is not None, timeout=WAIT_MS)
    qtbot.keyClicks(ticket.qty_edit, "10")
    assert ticket.amount_caption.text() == "Estimated cost"
    assert ticket.amount_label.text() == "$4,123.00"
    assert ticket.buying_power_label.text() == "$95,753.31 of $100,000.00"  # a market buy holds 3% more
    assert "$4,246.69" in ticket.amount_label.toolTip()

    ticket.type_combo.setCurrentText("Limit")
    qtbot.keyClicks(ticket.limit_edit, "400")
    assert ticket.amount_label.text() == "$4,000.00 at 400.00"
    assert ticket.buying_power_label.text() == "$96,000.00 of $100,000.00"

    ticket.side_combo.setCurrentText("Sell")  # 10 sold short from no position: its initial margin is held
    assert ticket.amount_caption.text() == "Estimated proceeds"
    assert ticket.buying_power_label.text() == "$98,000.00 of $100,000.00"

    ticket.qty_edit.clear()
    qtbot.keyClicks(ticket.qty_edit, "1000")  # beyond the buying power: said in red before Submit
    ticket.side_combo.setCurrentText("Buy")
    assert ticket.buying_power_label.text() == "-$300,000.00 of $100,000.00"
    assert "d32f2f" in ticket.buying_power_label.styleSheet()


def test_a_new_symbol_is_read_once_typing_stops_and_an_unknown_one_says_no_price(
    qtbot: QtBot, make_user, open_ticket
) -> None:
    ticket = open_ticket(make_user("cyd"))
    qtbot.waitUntil(lambda: ticket.facts is not None, timeout=WAIT_MS)
    ticket.symbol_edit.clear()
    qtbot.keyClicks(ticket.symbol_edit, "qqq")
    assert ticket.price_label.text() == "—"  # SPY's price is gone at once
    qtbot.waitUntil(lambda: ticket.price_label.text() == "No price known yet", timeout=WAIT_MS)
    qtbot.keyClicks(ticket.qty_edit, "1")
    assert ticket.amount_label.text() == "—"


class _Unreachable:
    def ticket_facts(self, user_id: uuid.UUID, symbol: str) -> TicketFacts:
        raise psycopg.OperationalError('connection to server on socket "/tmp/.s.PGSQL.5432" failed')


def test_a_database_error_is_one_trader_readable_line(qtbot: QtBot, make_user, open_ticket) -> None:
    ticket = open_ticket(make_user("dia"), facts=_Unreachable())
    qtbot.waitUntil(lambda: ticket.price_label.text() == CONNECTION_LOST, timeout=WAIT_MS)
    assert "PGSQL" not in ticket.price_label.text()


def test_new_order_opens_the_ticket_on_the_charts_symbol(
    qtbot: QtBot, make_user, portfolio: Portfolio, runner: BlockingRunner
) -> None:
    panel = PortfolioPanel(portfolio, make_user("edd"), runner, poll_interval_ms=0)
    qtbot.addWidget(panel)
    panel.show()
    panel.chart_symbol = lambda: "SPY"
    qtbot.mouseClick(panel.new_order_button, Qt.MouseButton.LeftButton)
    ticket = panel.ticket
    assert ticket is not None and ticket.symbol_edit.text() == "SPY"
    qtbot.waitUntil(lambda: ticket.price_label.text() == STORED_TEXT, timeout=WAIT_MS)
    panel.shutdown()


def test_the_watchlist_shows_a_stored_close_marked_until_the_first_live_quote(
    qtbot: QtBot, prices: LastPrices, runner: BlockingRunner
) -> None:
    panel = WatchlistPanel(["SPY", "QQQ"])
    qtbot.addWidget(panel)
    panel.load_stored_closes(runner, prices.quote)
    model = panel.model
    qtbot.waitUntil(lambda: model.data(model.index(0, 1)) == "412.30", timeout=WAIT_MS)
    assert model.is_stored_close("SPY") and model.data(model.index(0, 2)) == "—"
    assert model.data(model.index(0, 1), Qt.ItemDataRole.FontRole).italic()
    assert model.data(model.index(0, 1), Qt.ItemDataRole.ForegroundRole).name() == "#808080"
    tip = model.data(model.index(0, 1), Qt.ItemDataRole.ToolTipRole)
    assert tip == "SPY: last stored close, Fri 2025-03-07 16:00 ET; live data not yet received"
    assert model.data(model.index(1, 1)) == "—"  # QQQ has no stored bar

    board = QuoteBoard()
    board.update(NormalizedBar(symbol="SPY", timeframe="1Min", timestamp=datetime(2025, 3, 10, 13, 30, tzinfo=UTC),
                               open=412.0, high=413.0, low=411.0, close=412.55, volume=10.0))  # fmt: skip
    panel.show_quotes(board.quotes(panel.symbols))
    assert model.data(model.index(0, 1)) == "412.55" and not model.is_stored_close("SPY")
    assert model.data(model.index(0, 1), Qt.ItemDataRole.FontRole) is None
