"""The Journal panel driven as a trader would, offscreen, against the real journal on the test database: ledger
fills booked through a hand-driven broker, broker CSV exports imported from a temporary file, checks recorded
the way the order ticket records them.

Every wait has a timeout; nothing asserts how long something took."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot
from sqlalchemy import update

import core.services.journal as journal_service_module
from app.async_runner import BlockingRunner
from app.views.journal_panel import CAMPAIGNS_TAB, CHECKS_TAB, ENTRIES_TAB, STRATEGIES_TAB, JournalPanel
from core.db.models import RiskSettings
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.journal import (
    ProposedOrder,
    evaluate_order,
    get_context,
    record_pre_trade_response,
    save_check_rule,
    search_entries,
)
from core.journal.follow import journal_new_fills
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.services.journal import Journal
from core.strategy.library import StrategyDraft, save_strategy
from tests.gui.conftest import STRONG_PASSWORD
from tests.journal.helpers import T0, insert_fill
from tests.ledger.manual_broker import ManualBroker

D = Decimal
WAIT_MS = 10_000

HOLD = """\
from core.strategy.api import Strategy


class Hold(Strategy):
    def next(self, data):
        pass
"""

EXPORT = """symbol,side,quantity,price,fees,executed_at,trade_id
MSFT,buy,5,400.00,1.00,2026-03-02 14:31:00,T-1
MSFT,sell,5,410.00,1.00,2026-03-02T15:00:00Z,T-2
MSFT,buy,lots,401,0,2026-03-02T15:10:00Z,T-3
"""


@pytest.fixture
def make_user(db, accounts) -> Callable[[str], uuid.UUID]:
    def make(name: str) -> uuid.UUID:
        user = accounts.sign_up(f"{name}@example.com", name, STRONG_PASSWORD).id
        with db.session_factory() as s:  # two equal test orders in a row are not a mistake here
            s.execute(update(RiskSettings).where(RiskSettings.user_id == user).values(duplicate_window_seconds=0))
            s.commit()
        return user

    return make


@pytest.fixture
def broker() -> ManualBroker:
    return ManualBroker()


@pytest.fixture
def ledger(db, broker: ManualBroker) -> Ledger:
    return Ledger(db.session_factory, broker, LastPrices({"AAPL": D(100), "MSFT": D(400)}))


@pytest.fixture
def trade(ledger: Ledger, broker: ManualBroker):
    """A market order through the ledger, filled at ``price`` and stamped ``minute`` minutes after T0."""

    def run(user: uuid.UUID, side: str, qty: str, price: str, minute: float = 0, *, symbol: str = "AAPL",
            fee: str = "0", strategy_id: uuid.UUID | None = None):  # fmt: skip
        placed = ledger.place_order(user, OrderTicket(symbol, OrderSide(side), D(qty)), strategy_id=strategy_id)
        event = broker.fill(placed.client_order_id, qty, price, fee=fee, deliver=False)
        broker.deliver(dataclasses.replace(event, timestamp=T0 + timedelta(minutes=minute)))
        return placed

    return run


@pytest.fixture
def make_panel(qtbot: QtBot, db, runner: BlockingRunner) -> Iterator[Callable[[uuid.UUID], JournalPanel]]:
    panels: list[JournalPanel] = []

    def make(user: uuid.UUID) -> JournalPanel:
        panel = JournalPanel(Journal(db.session_factory), user, runner)
        qtbot.addWidget(panel)
        panel.resize(1200, 700)
        panel.show()
        panels.append(panel)
        qtbot.waitUntil(lambda: not panel.refreshing, timeout=WAIT_MS)
        return panel

    yield make
    for panel in panels:
        panel.shutdown()


def cells(model) -> list[list[str]]:
    return [[model.index(r, c).data() for c in range(model.columnCount())] for r in range(model.rowCount())]


def settle(qtbot: QtBot, panel: JournalPanel) -> None:
    """Refresh and wait until it is shown."""
    with qtbot.waitSignal(panel.refreshed, timeout=WAIT_MS):
        panel.refresh()


def click(qtbot: QtBot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def select_fill(qtbot: QtBot, panel: JournalPanel, row: int) -> None:
    tab = panel.fills_tab
    tab.table.selectRow(row)
    qtbot.waitUntil(lambda: tab.form.save_button.isEnabled(), timeout=WAIT_MS)


# ----- fills ----------------------------------------------------------------------------------------------


def test_ledger_fills_appear_and_another_users_never_do(qtbot, db, make_user, trade, make_panel):
    ann, bob = make_user("ann"), make_user("bob")
    trade(ann, "buy", "10", "100", 0, fee="1")
    insert_fill(db.session_factory, bob, "buy", "7", "50", T0, symbol="BOBS")
    panel = make_panel(ann)
    rows = cells(panel.fills_tab.model)
    assert rows == [["2026-03-02 10:00:00", "AAPL", "Buy", "10", "100.00", "1.00", "ledger", "—"]]  # 15:00Z in New York

    trade(ann, "sell", "10", "110", 30, fee="1")
    trade(ann, "buy", "2", "400", 40, symbol="MSFT")
    for _ in range(5):  # the main window calls it on every NOTIFY: calls during a load make one more pass
        panel.refresh()
    qtbot.waitUntil(lambda: not panel.refreshing, timeout=WAIT_MS)
    assert [r[1:4] for r in cells(panel.fills_tab.model)] == [["MSFT", "Buy", "2"], ["AAPL", "Sell", "10"],
                                                              ["AAPL", "Buy", "10"]]  # fmt: skip

    panel.fills_tab.symbol_filter.setText("msft")
    qtbot.waitUntil(lambda: panel.fills_tab.model.rowCount() == 1, timeout=WAIT_MS)
    panel.fills_tab.symbol_filter.setText("BOBS")  # bob's symbol: nothing of his shows
    qtbot.waitUntil(lambda: panel.fills_tab.model.rowCount() == 0, timeout=WAIT_MS)
    assert {c.symbol for c in panel.campaigns_tab.model.rows()} == {"AAPL", "MSFT"}
    assert panel.error_label.isHidden()


def test_refresh_calls_during_a_load_coalesce_into_one_more_pass(qtbot, make_user, trade, make_panel, monkeypatch):
    ann = make_user("ann")
    trade(ann, "buy", "1", "100")
    panel = make_panel(ann)
    started, release = threading.Event(), threading.Event()
    real = journal_service_module.list_fills

    def slow_list_fills(*args, **kwargs):
        started.set()
        release.wait(WAIT_MS / 1000)
        return real(*args, **kwargs)

    monkeypatch.setattr(journal_service_module, "list_fills", slow_list_fills)
    passes: list[None] = []
    panel.refreshed.connect(lambda: passes.append(None))
    panel.refresh()
    qtbot.waitUntil(started.is_set, timeout=WAIT_MS)  # the first pass is reading
    trade(ann, "sell", "1", "101")
    for _ in range(10):  # ten NOTIFYs while it reads
        panel.refresh()
    release.set()
    qtbot.waitUntil(lambda: not panel.refreshing, timeout=WAIT_MS)
    assert len(passes) == 2  # the one running, and exactly one more that sees the new fill
    assert panel.fills_tab.model.rowCount() == 2


# ----- decision contexts ----------------------------------------------------------------------------------


def test_a_saved_context_reloads_and_its_then_fields_become_read_only(qtbot, db, make_user, trade, make_panel):
    ann = make_user("ann")
    sma = save_strategy(db.session_factory, ann, StrategyDraft("Hold on", HOLD))
    trade(ann, "buy", "10", "100")
    panel = make_panel(ann)
    select_fill(qtbot, panel, 0)
    form = panel.fills_tab.form
    assert form.context_type.currentData() == "entry"  # what the fill did: it opened the position
    assert form.read_only_fields() == set() and form.then_note.isHidden()
    qtbot.keyClicks(form.hypothesis, "Gap fill to 104")
    qtbot.keyClicks(form.stop, "97")
    qtbot.keyClicks(form.target, "104")
    qtbot.keyClicks(form.exit_time, "2026-03-02 15:00")  # New York time, as the form shows times
    form.feelings_then.confidence.setCurrentText("4")
    qtbot.keyClicks(form.feelings_then.emotions, "calm, patient")
    form.strategy.setCurrentIndex(form.strategy_index(sma.id))
    click(qtbot, form.save_button)
    qtbot.waitUntil(lambda: panel.status_label.text() == "Decision context saved.", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: cells(panel.fills_tab.model)[0][7] == "Entry", timeout=WAIT_MS)

    fill_id = panel.fills_tab.selected_fill().fill.id
    stored = get_context(db.session_factory, ann, fill_id=fill_id)
    assert (stored.hypothesis, stored.exit_intent.stop, stored.exit_intent.target) == ("Gap fill to 104", D(97), D(104))
    assert stored.exit_intent.time.isoformat() == "2026-03-02T20:00:00+00:00"
    assert stored.feelings_then == {"confidence": 4, "emotions": ["calm", "patient"]} and stored.strategy_id == sma.id

    again = make_panel(ann)  # a fresh panel reads it back
    select_fill(qtbot, again, 0)
    form = again.fills_tab.form
    assert form.hypothesis.toPlainText() == "Gap fill to 104" and form.hypothesis.isReadOnly()
    assert (form.stop.text(), form.target.text(), form.exit_time.text()) == ("97", "104", "2026-03-02 15:00")
    assert form.stop.isReadOnly() and form.feelings_then.emotions.isReadOnly()
    assert form.read_only_fields() == {"hypothesis", "exit_intent", "feelings_then"}
    assert form.then_note.isVisible() and "cannot be changed" in form.hypothesis.toolTip()
    assert form.strategy.currentData() == sma.id
    assert not form.notes.isReadOnly() and not form.feelings_now.emotions.isReadOnly()

    qtbot.keyClicks(form.notes, "Sold into strength")  # what can still change: notes, feelings now, type
    qtbot.keyClicks(form.feelings_now.emotions, "relieved")
    click(qtbot, form.save_button)
    qtbot.waitUntil(lambda: again.status_label.text() == "Decision context saved.", timeout=WAIT_MS)
    stored = get_context(db.session_factory, ann, fill_id=fill_id)
    assert (stored.notes, stored.feelings_now, stored.hypothesis) == (
        "Sold into strength", {"emotions": ["relieved"]}, "Gap fill to 104")  # fmt: skip
    assert again.error_label.isHidden()


def test_a_journal_error_is_shown_in_red_and_nothing_is_saved(qtbot, db, make_user, trade, make_panel):
    ann = make_user("ann")
    trade(ann, "buy", "10", "100")
    panel = make_panel(ann)
    select_fill(qtbot, panel, 0)
    form = panel.fills_tab.form
    qtbot.keyClicks(form.stop, "ninety")
    click(qtbot, form.save_button)
    qtbot.waitUntil(panel.error_label.isVisible, timeout=WAIT_MS)
    assert panel.error_label.text() == "The planned stop must be a price."
    assert "#d32f2f" in panel.error_label.styleSheet()
    assert get_context(db.session_factory, ann, fill_id=panel.fills_tab.selected_fill().fill.id) is None
    assert form.save_button.isEnabled() and form.stop.text() == "ninety"  # the trader's input is still there
    qtbot.keyClicks(form.notes, "half written")
    settle(qtbot, panel)  # a fill NOTIFY while typing: the form keeps what the trader wrote
    assert (form.stop.text(), form.notes.toPlainText()) == ("ninety", "half written")
    form.stop.clear()
    click(qtbot, form.save_button)
    qtbot.waitUntil(lambda: panel.status_label.text() == "Decision context saved.", timeout=WAIT_MS)
    assert panel.error_label.isHidden()


# ----- importing ------------------------------------------------------------------------------------------


def test_a_csv_import_reports_rejected_rows_and_a_reimport_only_duplicates(qtbot, tmp_path: Path, make_user,
                                                                          make_panel):  # fmt: skip
    ann = make_user("ann")
    panel = make_panel(ann)
    tab = panel.fills_tab
    export = tmp_path / "broker-export.csv"
    export.write_text(EXPORT)

    click(qtbot, tab.import_button)  # the dialog opens without a nested modal loop: this line returns
    dialog = tab.import_dialog
    assert isinstance(dialog, QFileDialog) and dialog.isVisible()
    dialog.selectFile(str(export))
    dialog.accept()
    qtbot.waitUntil(lambda: tab.model.rowCount() == 2, timeout=WAIT_MS)
    report = tab.report_label.text()
    assert report.startswith("broker-export.csv: 2 fills imported, 0 duplicates skipped, 1 rejected.")
    assert "Row 3 rejected:" in report and "quantity" in report
    assert {r[6] for r in cells(tab.model)} == {"csv_import"}

    tab.import_file(export)
    qtbot.waitUntil(lambda: "duplicates skipped" in tab.report_label.text() and tab.import_button.isEnabled(),
                    timeout=WAIT_MS)  # fmt: skip
    assert "0 fills imported, 2 duplicates skipped, 1 rejected" in tab.report_label.text()
    assert "rows 1-2" in tab.report_label.text()
    assert tab.model.rowCount() == 2

    refused = tmp_path / "positions.csv"
    refused.write_text("symbol,market_value\nAAPL,1000\n")
    tab.import_file(refused)
    qtbot.waitUntil(panel.error_label.isVisible, timeout=WAIT_MS)
    assert "column" in panel.error_label.text() and tab.report_label.text() == "Nothing was imported."
    assert tab.model.rowCount() == 2


# ----- campaigns ------------------------------------------------------------------------------------------


def test_a_buy_then_a_sell_is_a_closed_campaign_with_its_pnl(qtbot, make_user, trade, make_panel):
    ann = make_user("ann")
    trade(ann, "buy", "10", "100", 0, fee="1")
    trade(ann, "sell", "10", "110", 90, fee="1")
    trade(ann, "buy", "1", "400", 95, symbol="MSFT")  # still open
    panel = make_panel(ann)
    panel.tabs.setCurrentIndex(CAMPAIGNS_TAB)
    tab = panel.campaigns_tab
    assert cells(tab.model) == [
        ["MSFT", "Long", "2026-03-02 11:35:00", "open", "1", "1", "0.00", "0.00%", "—"],
        ["AAPL", "Long", "2026-03-02 10:00:00", "2026-03-02 11:30:00", "2", "10", "+98.00", "+9.80%", "1h 30m"],
    ]
    pnl = tab.model.index(1, 6)
    assert pnl.data(Qt.ItemDataRole.ForegroundRole).name() == "#26a69a"
    assert tab.summary_label.text() == (
        "1 closed campaign: 1 won, 0 lost, win rate 100.00%, total P&L +98.00, average +98.00, profit factor —"
    )

    tab.set_status("closed")
    assert [r[0] for r in cells(tab.model)] == ["AAPL"]
    tab.table.selectRow(0)
    assert [r[:3] + r[7:] for r in cells(tab.fills_model)] == [
        ["2026-03-02 10:00:00", "Buy", "10", "-1.00", "10"],
        ["2026-03-02 11:30:00", "Sell", "10", "+99.00", "0"],
    ]
    tab.set_status("open")
    assert [r[0] for r in cells(tab.model)] == ["MSFT"] and tab.fills_model.rowCount() == 0


# ----- entries --------------------------------------------------------------------------------------------


def test_entries_are_written_searched_and_deleted(qtbot, db, make_user, trade, make_panel):
    ann = make_user("ann")
    trade(ann, "buy", "10", "100")
    panel = make_panel(ann)
    select_fill(qtbot, panel, 0)
    fill_id = panel.fills_tab.selected_fill().fill.id
    panel.tabs.setCurrentIndex(ENTRIES_TAB)
    tab = panel.entries_tab
    assert tab.link_fill.isEnabled() and "AAPL" in tab.link_fill.text()

    qtbot.keyClicks(tab.content, "Chased the gap on AAPL at the open")
    tab.mood.setCurrentText("anxious")
    qtbot.keyClicks(tab.tags, "FOMO, gap")
    tab.link_fill.setChecked(True)
    click(qtbot, tab.save_button)
    qtbot.waitUntil(lambda: tab.model.rowCount() == 1, timeout=WAIT_MS)
    click(qtbot, tab.new_button)
    qtbot.keyClicks(tab.content, "Waited for my setup all day")
    tab.entry_type.setCurrentText("lesson")
    click(qtbot, tab.save_button)
    qtbot.waitUntil(lambda: tab.model.rowCount() == 2, timeout=WAIT_MS)
    [chased] = search_entries(db.session_factory, ann, text="chased")
    assert (chased.tags, chased.mood, chased.fill_id) == (("fomo", "gap"), "anxious", fill_id)

    qtbot.keyClicks(tab.search_text, "gap")
    click(qtbot, tab.search_button)
    qtbot.waitUntil(lambda: tab.model.rowCount() == 1, timeout=WAIT_MS)
    assert cells(tab.model)[0][1:4] == ["daily", "anxious", "fomo, gap"]
    tab.search_text.clear()
    qtbot.keyClicks(tab.search_tag, "fomo")
    qtbot.keyClicks(tab.search_mood, "calm")
    click(qtbot, tab.search_button)
    qtbot.waitUntil(lambda: tab.model.rowCount() == 0, timeout=WAIT_MS)
    tab.search_tag.clear()
    tab.search_mood.clear()
    tab.search_dates.setChecked(True)
    click(qtbot, tab.search_button)
    qtbot.waitUntil(lambda: tab.model.rowCount() == 2, timeout=WAIT_MS)  # both written today

    tab.table.selectRow([r[5] for r in cells(tab.model)].index("Waited for my setup all day"))
    assert tab.content.toPlainText() == "Waited for my setup all day" and tab.delete_button.isEnabled()
    click(qtbot, tab.delete_button)
    qtbot.waitUntil(lambda: tab.model.rowCount() == 1, timeout=WAIT_MS)
    assert [e.content for e in search_entries(db.session_factory, ann)] == ["Chased the gap on AAPL at the open"]
    assert tab.content.toPlainText() == "" and not tab.delete_button.isEnabled()


# ----- strategies and checks ------------------------------------------------------------------------------


def test_strategy_stats_count_closed_campaigns_per_strategy(qtbot, db, make_user, trade, make_panel):
    ann = make_user("ann")
    hold = save_strategy(db.session_factory, ann, StrategyDraft("Hold on", HOLD))
    trade(ann, "buy", "10", "100", 0, strategy_id=hold.id)
    trade(ann, "sell", "10", "95", 10)
    trade(ann, "buy", "10", "100", 20)
    trade(ann, "sell", "10", "103", 30)
    panel = make_panel(ann)
    panel.tabs.setCurrentIndex(STRATEGIES_TAB)
    assert cells(panel.strategies_tab.model) == [
        ["Hold on", "1", "0 / 1", "0.00%", "-50.00", "-50.00", "0.00"],
        ["no strategy", "1", "1 / 0", "100.00%", "+30.00", "+30.00", "—"],  # nothing lost: no factor
    ]
    loss = panel.strategies_tab.model.index(0, 4)
    assert loss.data(Qt.ItemDataRole.ForegroundRole).name() == "#ef5350"


def test_recorded_checks_show_in_the_checks_tab_and_on_their_fill(qtbot, db, make_user, ledger, trade, make_panel):
    ann = make_user("ann")
    sessions = db.session_factory
    save_check_rule(sessions, ann, "overtrading", parameters={"max_trades_per_day": 0, "severity": "critical"})
    proposal = ProposedOrder("AAPL", "buy", D(10), D(100))
    evaluation = evaluate_order(sessions, ann, proposal, ledger.portfolio(ann), now=T0)
    placed = trade(ann, "buy", "10", "100")
    record_pre_trade_response(sessions, ann, evaluation, "proceeded", order_id=placed.id)
    cancelled = evaluate_order(sessions, ann, ProposedOrder("MSFT", "buy", D(1), D(400)), ledger.portfolio(ann),
                               now=T0 + timedelta(minutes=5))  # fmt: skip
    record_pre_trade_response(sessions, ann, cancelled, "cancelled")
    panel = make_panel(ann)

    panel.tabs.setCurrentIndex(CHECKS_TAB)
    tab = panel.checks_tab
    rows = cells(tab.model)
    assert len(rows) == len(evaluation.results) + len(cancelled.results)
    overtrading = [r for r in rows if r[2] == "Overtrading"]
    assert [r[1:6] for r in overtrading] == [
        ["pre-trade", "Overtrading", "critical", "No", "cancelled"],
        ["pre-trade", "Overtrading", "critical", "No", "proceeded"],
    ]
    assert all(r[7] for r in overtrading)  # the nudge the trader was shown
    tab.failed_only.setChecked(True)
    qtbot.waitUntil(lambda: tab.model.rowCount() == 2, timeout=WAIT_MS)
    severity = tab.model.index(0, 3)
    assert severity.data(Qt.ItemDataRole.ForegroundRole).name() == "#d32f2f"

    # The placed order's checks hang on its fill (the journal created a bare "entry" context for them).
    panel.tabs.setCurrentIndex(0)
    assert cells(panel.fills_tab.model)[0][7] == "Entry"
    select_fill(qtbot, panel, 0)
    checks = cells(panel.fills_tab.form.checks_model)
    assert len(checks) == len(evaluation.results)
    assert ["pre-trade", "Overtrading", "critical", "No"] in [r[:4] for r in checks]
    assert {r[4] for r in checks} == {"proceeded"}


def test_a_post_trade_nudge_is_marked_as_seen_from_the_checks_tab(qtbot, db, make_user, trade, make_panel):
    ann = make_user("ann")
    trade(ann, "buy", "10", "100", 0)
    trade(ann, "sell", "10", "96", 30)  # out of a loser with no plan written down
    journal_new_fills(db.session_factory, ann)  # what the window's JournalSync runs after each fill
    panel = make_panel(ann)
    assert [r[7] for r in cells(panel.fills_tab.model)] == ["Exit", "—"]  # a bare context holds the checks
    panel.tabs.setCurrentIndex(CHECKS_TAB)
    tab = panel.checks_tab
    tab.failed_only.setChecked(True)
    qtbot.waitUntil(lambda: tab.model.rowCount() > 0 and tab.failed_only.isChecked(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: all(r[4] == "No" for r in cells(tab.model)), timeout=WAIT_MS)
    row = [r[2] for r in cells(tab.model)].index("Exit without plan")
    assert cells(tab.model)[row][1] == "post-trade" and cells(tab.model)[row][6] == "No"
    tab.table.selectRow(row)
    assert tab.acknowledge_button.isEnabled()
    click(qtbot, tab.acknowledge_button)
    qtbot.waitUntil(lambda: cells(tab.model)[row][6] == "Yes", timeout=WAIT_MS)
    assert not tab.acknowledge_button.isEnabled()
