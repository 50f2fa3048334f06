"""The Sessions panel driven as a trader drives it, offscreen, over the real manager, ledger and SimBroker:
start a saved strategy, see its signals as bars arrive, stop it; a failing strategy shows why."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from app.async_runner import BlockingRunner
from app.views.paper_sessions_panel import PaperSessionsPanel
from core.broker.sim import SimBroker
from core.db.database import Database
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.paper.manager import PaperSessionConfig, PaperSessionManager
from core.paper.types import SignalInfo
from core.services.strategy_drafts import StrategyDrafts
from core.strategy.library import StrategyDraft, save_strategy
from tests.gui.conftest import STRONG_PASSWORD
from tests.paper.helpers import (
    CROSS_SOURCE,
    HISTORY,
    LIVE,
    T0,
    FakeSubscriptions,
    Market,
    ScriptedHistory,
    SimClock,
    series,
)

WAIT_MS = 30_000

BOOM = """\
from core.strategy.api import Strategy


class Boom(Strategy):
    def next(self, data):
        if len(data.close) > 13:
            raise ValueError("the data looks wrong")
"""


@pytest.fixture
def user(accounts) -> uuid.UUID:
    return accounts.sign_up("ada@example.com", "ada", STRONG_PASSWORD).id


@pytest.fixture
def market(db: Database) -> Iterator[Market]:
    clock = SimClock(T0)
    history = ScriptedHistory()
    history.add(*series(HISTORY, -len(HISTORY)))
    prices = LastPrices({"ACME": Decimal(repr(HISTORY[-1]))})
    sim = SimBroker(clock=clock)
    ledger = Ledger(db.session_factory, sim, prices)
    manager = PaperSessionManager(db.session_factory, ledger, history, FakeSubscriptions(), clock=clock,
                             config=PaperSessionConfig(window_bars=500, cpu_seconds=2.0))  # fmt: skip
    world = Market(clock, prices, sim, history)
    world.manager = manager
    try:
        yield world
    finally:
        manager.shutdown()


@pytest.fixture
def make_panel(qtbot: QtBot, db: Database, runner: BlockingRunner, user: uuid.UUID, market: Market):
    def make(strategies: int) -> PaperSessionsPanel:
        assert market.manager is not None
        panel = PaperSessionsPanel(market.manager, StrategyDrafts(db.session_factory), user, runner)
        qtbot.addWidget(panel)
        panel.show()
        qtbot.waitUntil(lambda: panel.strategy_combo.count() == strategies, timeout=10_000)
        return panel

    return make


def button(panel: PaperSessionsPanel, name: str) -> QPushButton:
    found = panel.findChild(QPushButton, name)
    assert found is not None, name
    return found


def start(qtbot: QtBot, panel: PaperSessionsPanel, strategy: str, symbols: str) -> None:
    panel.strategy_combo.setCurrentIndex(panel.strategy_combo.findText(strategy))
    panel.symbols_edit.clear()
    qtbot.keyClicks(panel.symbols_edit, symbols)
    qtbot.mouseClick(button(panel, "startButton"), Qt.MouseButton.LeftButton)


def session_status(panel: PaperSessionsPanel, row: int = 0) -> str | None:
    model = panel.sessions_model
    return model.record_at(row).status if model.rowCount() > row else None


def test_a_trader_starts_a_session_sees_its_signals_and_stops_it(qtbot, db, user, market, make_panel):
    save_strategy(db.session_factory, user, StrategyDraft("Cross", CROSS_SOURCE))
    panel = make_panel(1)
    assert [panel.class_combo.itemText(i) for i in range(panel.class_combo.count())] == ["Cross"]
    assert panel.params_form.values() == {"fast": 3, "slow": 6, "size": 0.1}
    panel.params_form.editor("size").setValue(0.2)  # type: ignore[union-attr]

    start(qtbot, panel, "Cross", "acme")
    assert panel.symbols_edit.text() == "ACME"
    qtbot.waitUntil(lambda: session_status(panel) == "RUNNING", timeout=WAIT_MS)
    info = panel.sessions_model.record_at(0)
    assert info.symbols == ("ACME",) and info.parameters["size"] == 0.2 and info.strategy_name == "Cross"
    model = panel.sessions_model
    assert model.index(0, model.column_named("Status")).data() == "RUNNING"
    panel.sessions_table.selectRow(0)
    assert button(panel, "stopButton").isEnabled() and panel.signals_model.rowCount() == 0

    recorded: list[SignalInfo] = []
    panel.signalRecorded.connect(recorded.append)
    market.feed(*series(LIVE[:3], 0, prev=94.5))  # the third bar crosses: a buy
    qtbot.waitUntil(lambda: panel.signals_model.rowCount() == 1, timeout=WAIT_MS)
    signals = panel.signals_model
    assert [signals.index(0, signals.column_named(c)).data() for c in ("Symbol", "Action", "Qty", "Status")] == [
        "ACME", "BUY", "206", "EXECUTED"]  # fmt: skip
    qtbot.waitUntil(lambda: len(recorded) == 1, timeout=WAIT_MS)
    assert recorded[0].action == "BUY" and recorded[0].price == 97.0 and recorded[0].session_id == info.id
    qtbot.waitUntil(lambda: panel.sessions_model.record_at(0).signal_count == 1, timeout=WAIT_MS)

    qtbot.mouseClick(button(panel, "stopButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: session_status(panel) == "STOPPED", timeout=WAIT_MS)
    assert not button(panel, "stopButton").isEnabled()
    assert model.index(0, model.column_named("Error / note")).data() == "Stopped by the trader."
    assert market.manager is not None and market.manager.running == []
    assert not panel.session_error_box.isVisible()


def test_a_failing_strategy_shows_failed_with_the_line_and_details(qtbot, db, user, market, make_panel):
    save_strategy(db.session_factory, user, StrategyDraft("Boom", BOOM))
    panel = make_panel(1)
    start(qtbot, panel, "Boom", "ACME")
    qtbot.waitUntil(lambda: session_status(panel) == "RUNNING", timeout=WAIT_MS)
    panel.sessions_table.selectRow(0)

    market.feed(*series(LIVE[:2], 0, prev=94.5))
    qtbot.waitUntil(lambda: session_status(panel) == "FAILED", timeout=WAIT_MS)
    model = panel.sessions_model
    note = model.index(0, model.column_named("Error / note")).data()
    assert note == "ValueError: the data looks wrong (line 7 of the strategy)"
    assert panel.session_error_box.isVisible() and "line 7 of the strategy" in panel.session_error_label.text()
    assert panel.session_details_button.isVisible() and not panel.session_details.isVisible()
    qtbot.mouseClick(panel.session_details_button, Qt.MouseButton.LeftButton)
    assert panel.session_details.isVisible() and "line 7 in next" in panel.session_details.toPlainText()
    assert not button(panel, "stopButton").isEnabled() and "failed" in panel.status_label.text()


def test_starting_what_cannot_start_says_why(qtbot, db, user, market, make_panel):
    save_strategy(db.session_factory, user, StrategyDraft("Cross", CROSS_SOURCE))
    panel = make_panel(1)
    start(qtbot, panel, "Cross", "")
    assert panel.error_box.isVisible() and "Enter a symbol" in panel.error_label.text()

    start(qtbot, panel, "Cross", "ACME")
    qtbot.waitUntil(lambda: session_status(panel) == "RUNNING", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: button(panel, "startButton").isEnabled(), timeout=WAIT_MS)  # clicks meanwhile are ignored
    start(qtbot, panel, "Cross", "MSFT")  # the same strategy again
    qtbot.waitUntil(lambda: panel.error_box.isVisible(), timeout=WAIT_MS)
    assert "Cross is already running as a paper session" in panel.error_label.text()
    assert panel.sessions_model.rowCount() == 1 and button(panel, "startButton").isEnabled()


def test_a_session_starts_with_the_capital_typed_for_it(qtbot, db, user, market, make_panel):
    save_strategy(db.session_factory, user, StrategyDraft("Cross", CROSS_SOURCE))
    panel = make_panel(1)
    qtbot.keyClicks(panel.capital_edit, "lots")
    start(qtbot, panel, "Cross", "ACME")
    assert panel.error_box.isVisible() and "Enter the capital as an amount" in panel.error_label.text()

    panel.capital_edit.clear()
    qtbot.keyClicks(panel.capital_edit, "$25,000")
    start(qtbot, panel, "Cross", "ACME")
    qtbot.waitUntil(lambda: session_status(panel) == "RUNNING", timeout=WAIT_MS)
    assert panel.sessions_model.record_at(0).initial_capital == Decimal(25_000)


def test_a_refusal_repeated_on_every_bar_is_one_row_and_one_line_naming_the_limit(qtbot, db, user, market,
                                                                                  make_panel):  # fmt: skip
    save_strategy(db.session_factory, user, StrategyDraft("Cross", CROSS_SOURCE))
    panel = make_panel(1)
    panel.params_form.editor("size").setValue(1.0)  # type: ignore[union-attr]  # all in: above $25,000 an order
    start(qtbot, panel, "Cross", "ACME")
    qtbot.waitUntil(lambda: session_status(panel) == "RUNNING", timeout=WAIT_MS)
    panel.sessions_table.selectRow(0)
    assert not panel.rejection_summary.isVisible()

    market.feed(*series(LIVE[:5], 0, prev=94.5))  # crossed at the third bar; still flat, refused at each close
    qtbot.waitUntil(lambda: "repeated on 3 bars" in panel.rejection_summary.text(), timeout=WAIT_MS)
    assert panel.signals_model.rowCount() == 1 and panel.rejection_summary.isVisible()
    assert "(max order value: change it in Settings > Risk)" in panel.rejection_summary.text()
    assert panel.rejection_summary.text().startswith("ACME BUY refused: Order value $")
