"""The Portfolio panel driven as a trader would, against a real ledger on the test database: SimBroker fills
orders on the next bar, the ManualBroker when a test needs to decide what the broker says and when.

Every wait has a timeout; nothing asserts how long something took."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot
from sqlalchemy import update

import core.services.portfolio as portfolio_service_module
from app.async_runner import BlockingRunner
from app.views.portfolio_panel import SESSIONS_TAB, PortfolioPanel
from core.broker.fill_model import FillModel
from core.broker.sim import SimBroker
from core.db.engine import make_engine, make_session_factory
from core.db.models import RiskSettings
from core.domain.bars import NormalizedBar
from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import OrderTicket as Request
from core.ledger.history import FillRow
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.paper import records
from core.services.portfolio import Portfolio
from core.strategy.library import StrategyDraft, save_strategy
from tests.ledger.conftest import PASSWORD
from tests.ledger.manual_broker import ManualBroker
from tests.paper.helpers import CROSS_SOURCE

D = Decimal
WAIT_MS = 10_000
DAY1 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
NOW = DAY1 + timedelta(seconds=30)


def bar(minute: int, o: float, h: float, lo: float, c: float, symbol: str = "AAPL") -> NormalizedBar:
    return NormalizedBar(symbol, "1Min", DAY1 + timedelta(minutes=minute), o, h, lo, c, 100_000, source="test")


@pytest.fixture
def make_user(db, accounts):
    def make(name: str, **risk: object) -> uuid.UUID:
        user = accounts.sign_up(f"{name}@example.com", name, PASSWORD).id
        if risk:
            with db.session_factory() as s:
                s.execute(update(RiskSettings).where(RiskSettings.user_id == user).values(**risk))
                s.commit()
        return user

    return make


@pytest.fixture
def prices() -> LastPrices:
    return LastPrices()


@pytest.fixture
def sim() -> SimBroker:
    return SimBroker(FillModel(), clock=lambda: NOW)


@pytest.fixture
def market(sim: SimBroker, prices: LastPrices) -> Callable[..., None]:
    """Closed bars reach the broker and the last prices, as the live feed delivers them."""

    def feed(*bars: NormalizedBar) -> None:
        for b in bars:
            sim.on_bar(b)
            prices.update(b.symbol, D(repr(b.close)))

    return feed


@pytest.fixture
def make_panel(qtbot: QtBot, db, runner: BlockingRunner) -> Iterator[Callable[..., PortfolioPanel]]:
    panels: list[PortfolioPanel] = []

    def make(ledger: Ledger, user: uuid.UUID, **kw) -> PortfolioPanel:
        kw.setdefault("poll_interval_ms", 0)  # only NOTIFY, market updates and the panel's own actions refresh
        panel = PortfolioPanel(Portfolio(ledger, db.session_factory), user, runner, **kw)
        qtbot.addWidget(panel)
        panel.resize(1000, 600)
        panel.show()
        panels.append(panel)
        qtbot.waitUntil(lambda: panel.overview is not None, timeout=WAIT_MS)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()


def cells(panel: PortfolioPanel, table: str) -> list[list[str]]:
    """What the trader reads in a tab's table, in the order it is shown (sorted through the proxy)."""
    proxy = getattr(panel, f"{table}_proxy")
    return [[proxy.index(r, c).data() for c in range(proxy.columnCount())] for r in range(proxy.rowCount())]


def summary(panel: PortfolioPanel, key: str) -> str:
    return panel.findChild(QLabel, f"summary_{key}").text()


def click_row(qtbot: QtBot, panel: PortfolioPanel, table_name: str, row: int) -> None:
    table = getattr(panel, f"{table_name}_table")
    rect = table.visualRect(table.model().index(row, 1))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


# ----- the trader's path: ticket, open order, fill, position ---------------------------------------------


def test_a_market_buy_from_the_ticket_becomes_a_position_with_ledger_values(
    qtbot, db, sim, prices, market, make_user, make_panel
):
    user = make_user("pam")
    ledger = Ledger(db.session_factory, sim, prices, clock=lambda: NOW)
    market(bar(0, 99.0, 100.5, 98.8, 100.0))
    panel = make_panel(ledger, user)
    assert cells(panel, "positions") == [] and summary(panel, "equity") == "$100,000.00"
    fills: list[list[FillRow]] = []
    panel.fillsChanged.connect(fills.append)

    ticket = panel.open_ticket("AAPL")
    qtbot.keyClicks(ticket.qty_edit, "10")
    with qtbot.waitSignal(panel.orderPlaced, timeout=WAIT_MS):
        qtbot.mouseClick(ticket.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(cells(panel, "orders")) == 1, timeout=WAIT_MS)
    # "pending" until the acceptance's batch is written a few ms later (in the app its NOTIFY refreshes the panel)
    ledger.flush_acceptances()
    panel.refresh()
    qtbot.waitUntil(lambda: [row[9] for row in cells(panel, "orders")] == ["accepted"], timeout=WAIT_MS)
    [order] = cells(panel, "orders")
    assert order[1:6] == ["AAPL", "Buy", "Market", "10", "0"]
    assert order[10] == "1,030.00"  # the ledger's reservation: last price plus its 3% collar
    assert summary(panel, "reserved") == "$1,030.00" and summary(panel, "buying_power") == "$98,970.00"

    market(bar(1, 101.0, 102.5, 100.5, 102.0))  # fills at this bar's open
    panel.note_market_update()
    qtbot.waitUntil(lambda: len(cells(panel, "positions")) == 1 and not cells(panel, "orders"), timeout=WAIT_MS)
    [position] = cells(panel, "positions")
    assert position == ["AAPL", "10", "101.00", "102.00", "1,020.00", "1,010.00", "+10.00", "0.00"]
    unrealized = panel.positions_proxy.index(0, 6).data(Qt.ItemDataRole.ForegroundRole)
    assert unrealized.name() == "#26a69a"
    portfolio = ledger.portfolio(user)
    assert summary(panel, "unrealized") == "+$10.00" and portfolio.unrealized_pnl == D(10)
    assert summary(panel, "equity") == "$100,010.00" == f"${portfolio.equity:,.2f}"
    assert summary(panel, "total_pnl") == "+$10.00" and summary(panel, "reserved") == "$0.00"
    assert "#26a69a" in panel.summary["total_pnl"].styleSheet()
    assert summary(panel, "day_pnl").startswith(("+$", "-$", "$"))

    [trade] = cells(panel, "fills")
    assert trade[1:7] == ["AAPL", "Buy", "10", "101.00", "0.00", "0.00"]
    assert fills and [(f.symbol, f.qty, f.price) for f in fills[-1]] == [("AAPL", D(10), D(101))]
    curve = panel.overview.equity_curve
    assert curve[-1].equity == D("100010") and panel.realized_curve.getData()[1] is not None

    # The price moves on; the next market update shows it, still the ledger's arithmetic.
    market(bar(2, 102.0, 103.0, 97.0, 98.5))
    panel.note_market_update()
    qtbot.waitUntil(lambda: cells(panel, "positions")[0][6] == "-25.00", timeout=WAIT_MS)
    assert panel.positions_proxy.index(0, 6).data(Qt.ItemDataRole.ForegroundRole).name() == "#ef5350"
    assert summary(panel, "unrealized") == "-$25.00"


def test_a_ticket_over_the_max_order_value_shows_the_reason_and_no_order_appears(
    qtbot, db, sim, prices, market, make_user, make_panel
):
    user = make_user("quinn", max_order_value=D("500"))
    market(bar(0, 99.0, 100.5, 98.8, 100.0))
    panel = make_panel(Ledger(db.session_factory, sim, prices, clock=lambda: NOW), user)
    qtbot.mouseClick(panel.new_order_button, Qt.MouseButton.LeftButton)
    ticket = panel.ticket
    assert ticket is not None and ticket.isVisible()
    qtbot.keyClicks(ticket.symbol_edit, "aapl")
    qtbot.keyClicks(ticket.qty_edit, "10")
    with qtbot.assertNotEmitted(panel.orderPlaced):
        qtbot.mouseClick(ticket.submit_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: ticket.error_label.isVisible() and not ticket.sending, timeout=WAIT_MS)
    assert ticket.error_label.text() == "Order value $1,000.00 exceeds your limit of $500.00."
    with qtbot.waitSignal(panel.refreshed, timeout=WAIT_MS):
        panel.refresh()
    assert cells(panel, "orders") == [] and summary(panel, "reserved") == "$0.00"


# ----- open orders: cancel ---------------------------------------------------------------------------------


def test_cancelling_an_open_limit_order_removes_it_and_restores_buying_power(qtbot, db, make_user, make_panel):
    user = make_user("ray")
    ledger = Ledger(db.session_factory, ManualBroker(), LastPrices({"AAPL": D("100")}))
    panel = make_panel(ledger, user)
    ticket = panel.open_ticket("AAPL")
    qtbot.keyClicks(ticket.qty_edit, "20")
    ticket.type_combo.setCurrentText("Limit")
    qtbot.keyClicks(ticket.limit_edit, "95")
    with qtbot.waitSignal(panel.orderPlaced, timeout=WAIT_MS):
        qtbot.mouseClick(ticket.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: summary(panel, "buying_power") == "$98,100.00", timeout=WAIT_MS)
    assert cells(panel, "orders")[0][6] == "95.00" and summary(panel, "reserved") == "$1,900.00"

    panel.tabs.setCurrentIndex(1)
    assert not panel.cancel_button.isEnabled()  # nothing selected yet
    click_row(qtbot, panel, "orders", 0)
    assert panel.selected_order() is not None and panel.cancel_button.isEnabled()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: cells(panel, "orders") == [], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: summary(panel, "buying_power") == "$100,000.00", timeout=WAIT_MS)
    assert summary(panel, "reserved") == "$0.00" and not panel.error_label.isVisible()


def test_a_cancel_the_ledger_refuses_is_explained_in_the_panel(qtbot, db, make_user, make_panel):
    user = make_user("sal")
    broker = ManualBroker()
    ledger = Ledger(db.session_factory, broker, LastPrices({"AAPL": D("100")}))
    placed = ledger.place_order(user, Request("AAPL", OrderSide.BUY, D(5), OrderType.LIMIT, limit_price=D(99)))
    panel = make_panel(ledger, user)
    panel.tabs.setCurrentIndex(1)
    assert len(cells(panel, "orders")) == 1
    broker.fill(placed.client_order_id, "5", "99")  # filled before the trader's click arrives
    click_row(qtbot, panel, "orders", 0)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.error_label.isVisible(), timeout=WAIT_MS)
    assert panel.error_label.text() == "The order is already filled."
    qtbot.waitUntil(lambda: cells(panel, "orders") == [] and len(cells(panel, "positions")) == 1, timeout=WAIT_MS)


# ----- another client of the same user --------------------------------------------------------------------


def test_an_order_placed_by_another_client_appears_without_a_refresh_call(qtbot, db, make_user, make_panel):
    user, other_user = make_user("tess"), make_user("ugo")
    url = db.engine.url.render_as_string(hide_password=False)
    mine = Ledger(db.session_factory, ManualBroker(), LastPrices({"AAPL": D("100")}))
    panel = make_panel(mine, user, database_url=url)
    qtbot.waitUntil(lambda: panel.listening and not panel.refreshing, timeout=WAIT_MS)
    shown = panel.overview

    # The other client: its own engine (its own process, as far as the database can tell), its own broker.
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        theirs = Ledger(make_session_factory(engine), ManualBroker(), LastPrices({"MSFT": D("400")}))
        theirs.place_order(other_user, Request("MSFT", OrderSide.BUY, D(1)))  # someone else's: not shown
        placed = theirs.place_order(user, Request("MSFT", OrderSide.BUY, D(2), OrderType.LIMIT, limit_price=D(380)))
        qtbot.waitUntil(lambda: [o.id for o in panel.overview.open_orders] == [placed.id], timeout=WAIT_MS)
    finally:
        engine.dispose()
    assert panel.overview is not shown
    assert cells(panel, "orders")[0][1:4] == ["MSFT", "Buy", "Limit"]
    assert summary(panel, "reserved") == "$760.00"

    listener = panel._listener
    assert listener is not None
    panel.shutdown()
    panel.shutdown()  # safe twice
    assert not panel.listening
    qtbot.waitUntil(lambda: not listener._thread.is_alive(), timeout=WAIT_MS)


def test_without_a_reachable_database_the_panel_says_live_updates_are_off(qtbot, db, make_user, make_panel):
    user = make_user("val")
    ledger = Ledger(db.session_factory, ManualBroker(), LastPrices())
    unreachable = "postgresql://nobody@127.0.0.1:1/none"
    panel = make_panel(ledger, user, database_url=unreachable, poll_interval_ms=30_000, listen_timeout_s=0.5)
    qtbot.waitUntil(lambda: panel.error_label.isVisible(), timeout=WAIT_MS)
    assert panel.error_label.text().startswith("Changes from your other clients will show only every 30 s")
    assert "live updates are off" in panel.error_label.text() and not panel.listening


# ----- refresh coalescing, selection and the ticket shortcut ------------------------------------------------


def test_refreshes_coalesce(qtbot, db, make_user, make_panel, monkeypatch):
    user = make_user("wyn")
    panel = make_panel(Ledger(db.session_factory, ManualBroker(), LastPrices()), user, market_refresh_ms=50)
    loads: list[uuid.UUID] = []
    release = threading.Event()
    real = portfolio_service_module.load_overview

    def counting(*args, **kw):  # on the worker thread
        loads.append(args[2])
        release.wait(WAIT_MS / 1000)
        return real(*args, **kw)

    monkeypatch.setattr(portfolio_service_module, "load_overview", counting)
    for _ in range(3):
        panel.refresh()  # asked before the read starts: one read answers them all
    qtbot.waitUntil(lambda: len(loads) == 1, timeout=WAIT_MS)
    for _ in range(5):
        panel.refresh()  # asked while it runs: exactly one more read afterwards
    release.set()
    qtbot.waitUntil(lambda: not panel.refreshing, timeout=WAIT_MS)
    assert len(loads) == 2

    loads.clear()
    for _ in range(20):
        panel.note_market_update()
    settled = lambda: bool(loads) and not panel.refreshing and not panel._market_timer.isActive()  # noqa: E731
    qtbot.waitUntil(settled, timeout=WAIT_MS)
    assert loads == [user]


def test_new_order_opens_the_ticket_on_the_selected_position(qtbot, db, make_user, make_panel):
    user = make_user("xia")
    broker = ManualBroker()
    ledger = Ledger(db.session_factory, broker, LastPrices({"AAPL": D("100"), "MSFT": D("400")}))
    for symbol, price in (("AAPL", "100"), ("MSFT", "400")):
        placed = ledger.place_order(user, Request(symbol, OrderSide.BUY, D(3)))
        broker.fill(placed.client_order_id, "3", price)
    panel = make_panel(ledger, user)
    assert panel.new_order_button.shortcut() == QKeySequence(Qt.Key.Key_F9)
    assert [row[0] for row in cells(panel, "positions")] == ["AAPL", "MSFT"]
    panel.positions_table.sortByColumn(0, Qt.SortOrder.DescendingOrder)  # sorted through the proxy
    assert [row[0] for row in cells(panel, "positions")] == ["MSFT", "AAPL"]
    click_row(qtbot, panel, "positions", 1)
    assert panel.selected_symbol() == "AAPL"
    qtbot.mouseClick(panel.new_order_button, Qt.MouseButton.LeftButton)
    assert panel.ticket is not None and panel.ticket.symbol_edit.text() == "AAPL"
    click_row(qtbot, panel, "positions", 0)
    ticket = panel.open_ticket()
    assert ticket is panel.ticket and ticket.symbol_edit.text() == "MSFT"  # one ticket, re-aimed

    panel.shutdown()
    assert not ticket.isVisible()


# ----- who holds what: the paper sessions' own books -------------------------------------------------------


def test_the_by_session_tab_shows_each_sessions_book_and_what_is_held_by_hand(qtbot, db, make_user, make_panel):
    user = make_user("vic")
    broker = ManualBroker()
    ledger = Ledger(db.session_factory, broker, LastPrices({"AAPL": D("100")}))
    saved = save_strategy(db.session_factory, user, StrategyDraft("Cross", CROSS_SOURCE))
    session = records.insert_session(
        db.session_factory, user_id=user, strategy_id=saved.id, strategy_version_id=None, symbols=["AAPL"],
        timeframe="1Min", parameters={}, initial_capital=D(20_000), metadata={}, now=DAY1, already_running="running",
    )  # fmt: skip
    by_hand = ledger.place_order(user, Request("AAPL", OrderSide.BUY, D(10), OrderType.MARKET))
    broker.fill(by_hand.client_order_id, "10", "100")
    by_session = ledger.place_order(user, Request("AAPL", OrderSide.BUY, D(5), OrderType.MARKET), session_id=session)
    broker.fill(by_session.client_order_id, "5", "100")

    panel = make_panel(ledger, user)
    panel.tabs.setCurrentIndex(SESSIONS_TAB)
    assert panel.tabs.tabText(SESSIONS_TAB) == "By session"
    model = panel.books_table.model()
    shown = [[model.index(r, c).data() for c in range(model.columnCount())] for r in range(model.rowCount())]
    assert shown == [  # the manual cash: $98,500 in the account less the $19,500 the running session holds
        ["Cross", "Running", "20,000.00", "19,500.00", "AAPL 5 @ 100.00", "500.00", "0.00"],
        ["Manual", "—", "—", "79,000.00", "AAPL 10 @ 100.00", "1,000.00", "0.00"],
    ]
