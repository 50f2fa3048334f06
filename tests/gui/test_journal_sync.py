"""JournalSync: the window's joint between ledger and journal, run on the app's worker threads."""

from __future__ import annotations

from decimal import Decimal

from pytestqt.qtbot import QtBot

from app.journal_sync import JournalSync
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.journal import list_campaigns
from core.journal.follow import unjournaled_fills
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.services.journal import Journal
from tests.gui.conftest import STRONG_PASSWORD
from tests.ledger.manual_broker import ManualBroker

D = Decimal


def test_requests_journal_new_fills_and_coalesce_while_a_pass_runs(qtbot: QtBot, db, accounts, runner):
    user = accounts.sign_up("joan@example.com", "joan", STRONG_PASSWORD).id
    broker = ManualBroker()
    ledger = Ledger(db.session_factory, broker, LastPrices({"AAPL": D(100)}))
    for side, price in ((OrderSide.BUY, "100"), (OrderSide.SELL, "103")):
        placed = ledger.place_order(user, OrderTicket("AAPL", side, D(5)))
        broker.fill(placed.client_order_id, "5", price)
    sync = JournalSync(Journal(db.session_factory), user, runner)
    passes: list[int] = []
    sync.updated.connect(passes.append)

    sync.request()
    sync.request()  # arrives while the first pass runs: one more pass, which finds nothing new
    assert sync.running
    qtbot.waitUntil(lambda: not sync.running, timeout=10_000)
    assert passes == [2]
    assert unjournaled_fills(db.session_factory, user) == []
    [campaign] = list_campaigns(db.session_factory, user)
    assert campaign.is_closed and campaign.realized_pnl == D(15)
