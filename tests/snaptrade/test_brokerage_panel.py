"""The brokerage panel driven as a trader would, offscreen, against the stand-in and the test database: Connect
opens the portal (in a recorded opener, never a real browser), Sync now books the trades on a worker thread while
the window stays responsive, and the journal panel reloads after a sync. Every wait has a timeout."""

from __future__ import annotations

import uuid

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QTreeWidgetItem
from pytestqt.qtbot import QtBot

from app.views.brokerage_panel import BrokeragePanel
from app.views.journal_panel import JournalPanel
from core.accounts.snaptrade_keys import SnapTradeKeyStore
from core.services.journal import Journal
from tests.snaptrade.conftest import make_service
from tests.snaptrade.helpers import linked_with_trades
from tests.snaptrade.standin import CLIENT_ID, CONSUMER_KEY, activity

WAIT_MS = 10_000


def opener(opened: list[str]):
    def open_url(url: QUrl) -> bool:
        opened.append(url.toString())
        return True

    return open_url


def tree_texts(item: QTreeWidgetItem) -> list[str]:
    return [item.child(i).text(0) for i in range(item.childCount())]


def test_connect_opens_the_portal_and_sync_now_books_the_trades_off_the_gui_thread(
    qtbot: QtBot, runner, brokerage, standin, make_user
):
    ann = make_user("ann")
    opened: list[str] = []
    panel = BrokeragePanel(brokerage, ann, runner, open_url=opener(opened))
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.connect_button.isEnabled(), timeout=WAIT_MS)
    assert "No brokerage linked yet" in panel.status_label.text() and not panel.sync_button.isEnabled()

    panel.connect_button.click()

    qtbot.waitUntil(lambda: bool(opened) and panel.sync_button.isEnabled(), timeout=WAIT_MS)
    assert opened[0].startswith("https://app.snaptrade.com/") and "portal is open" in panel.result_label.text()
    (snap,) = standin.users.values()  # the trader connects Questrade in the portal
    account = standin.account_of(standin.connect_brokerage(snap.user_id))
    account.activities = [activity("SELL", units=-10, price=190.25, when="2026-03-02T16:00:00Z"),
                          activity("DIVIDEND", units=0, price=0, amount=2.4),
                          activity("BUY", units=10, price=187.5, when="2026-03-02T15:00:00Z")]  # fmt: skip
    standin.hang["/accounts/all"] = 0.3  # a slow SnapTrade: the window must keep answering meanwhile

    with qtbot.waitSignal(panel.synced, timeout=WAIT_MS) as synced:
        panel.sync_button.click()
        assert not panel.sync_button.isEnabled() and panel.result_label.text() == "Syncing with SnapTrade…"
        qtbot.wait(50)  # the GUI thread runs events while the worker waits on SnapTrade
        assert not synced.signal_triggered

    assert synced.args is not None and synced.args[0].new == 2
    assert panel.result_label.text().startswith("2 new fills, 0 already synced; 1 non-trade activity skipped")
    qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 1 and "Last sync" in panel.status_label.text(),
                    timeout=WAIT_MS)  # fmt: skip
    top = panel.tree.topLevelItem(0)
    assert top.text(0) == "Questrade" and tree_texts(top) == [f"Questrade Margin  {account.number}"]

    with qtbot.waitSignal(panel.synced, timeout=WAIT_MS):
        panel.sync_button.click()
    assert panel.result_label.text().startswith("0 new fills, 2 already synced")


def test_sync_all_history_books_a_trade_reported_late_that_sync_now_does_not_read(
    qtbot: QtBot, runner, brokerage, standin, make_user
):
    ann = make_user("ann")
    panel = BrokeragePanel(brokerage, ann, runner, open_url=opener([]))
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.connect_button.isEnabled(), timeout=WAIT_MS)
    panel.connect_button.click()
    qtbot.waitUntil(lambda: panel.sync_button.isEnabled(), timeout=WAIT_MS)
    (snap,) = standin.users.values()
    account = standin.account_of(standin.connect_brokerage(snap.user_id))
    account.activities = [activity("BUY", units=10, price=187.5, when="2026-03-20T15:00:00Z")]
    with qtbot.waitSignal(panel.synced, timeout=WAIT_MS):
        panel.sync_button.click()
    # SnapTrade now reports a trade of 18 days before the newest one: beyond Sync now's one-week look-back.
    account.activities.append(activity("SELL", units=-5, price=180.0, when="2026-03-02T15:00:00Z"))
    with qtbot.waitSignal(panel.synced, timeout=WAIT_MS) as quick:
        panel.sync_button.click()
    assert quick.args is not None and quick.args[0].new == 0

    with qtbot.waitSignal(panel.synced, timeout=WAIT_MS) as full:
        panel.full_sync_button.click()
        assert not panel.full_sync_button.isEnabled()
    assert full.args is not None and full.args[0].new == 1
    assert panel.result_label.text().startswith("1 new fill, 1 already synced")


def test_a_refused_sync_shows_snaptrades_reason_and_no_result(qtbot: QtBot, runner, brokerage, standin, make_user):
    ann = make_user("ann")
    snap = linked_with_trades(brokerage, standin, ann)
    snap.secret = str(uuid.uuid4())  # rotated at SnapTrade
    panel = BrokeragePanel(brokerage, ann, runner, open_url=opener([]))
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.sync_button.isEnabled(), timeout=WAIT_MS)

    panel.sync_button.click()

    qtbot.waitUntil(lambda: not panel.error_label.isHidden(), timeout=WAIT_MS)
    assert "no longer accepts this trader's link" in panel.error_label.text()
    assert panel.result_label.text() == ""
    qtbot.waitUntil(lambda: panel.sync_button.isEnabled(), timeout=WAIT_MS)


def test_without_snaptrade_keys_the_panel_says_how_to_configure_and_takes_the_key(qtbot: QtBot, runner, db,
                                                                                 standin, make_user):  # fmt: skip
    unconfigured = make_service(db.session_factory, standin, keys=SnapTradeKeyStore({}))
    panel = BrokeragePanel(unconfigured, make_user("ann"), runner, open_url=opener([]))
    qtbot.addWidget(panel)

    qtbot.waitUntil(lambda: "not configured" in panel.status_label.text(), timeout=WAIT_MS)

    assert "STRATFORGE_SNAPTRADE_CLIENT_ID" in panel.status_label.text()
    assert not any(b.isEnabled() for b in (panel.connect_button, panel.sync_button, panel.refresh_button))

    assert not panel.keys_row.isHidden()  # the key can be given here: it goes to the OS keyring
    panel.client_id_edit.setText(CLIENT_ID)
    panel.consumer_key_edit.setText(CONSUMER_KEY)
    panel.save_keys_button.click()

    qtbot.waitUntil(lambda: panel.connect_button.isEnabled(), timeout=WAIT_MS)
    assert panel.keys_row.isHidden() and panel.consumer_key_edit.text() == ""
    assert "No brokerage linked yet" in panel.status_label.text()


def test_the_journal_opens_the_brokerage_panel_and_reloads_after_a_sync(qtbot: QtBot, runner, db, brokerage,
                                                                        standin, make_user):  # fmt: skip
    ann = make_user("ann")
    linked_with_trades(brokerage, standin, ann)
    journal = JournalPanel(Journal(db.session_factory), ann, runner, brokerage=brokerage)
    qtbot.addWidget(journal)
    qtbot.waitUntil(lambda: not journal.refreshing, timeout=WAIT_MS)
    assert journal.fills_tab.model.rowCount() == 0

    journal.findChild(type(journal.refresh_button), "journalBrokerageButton").click()
    panel = journal.brokerage_panel
    qtbot.waitUntil(lambda: panel.sync_button.isEnabled(), timeout=WAIT_MS)
    with qtbot.waitSignal(journal.refreshed, timeout=WAIT_MS):
        panel.sync_button.click()

    qtbot.waitUntil(lambda: journal.fills_tab.model.rowCount() == 2, timeout=WAIT_MS)
    assert journal.brokerage_dialog is not None and journal.brokerage_dialog.isVisible()
    journal.shutdown()


def test_connect_with_a_disabled_connection_selected_asks_the_portal_to_reconnect_it(qtbot: QtBot, runner, brokerage,
                                                                                     standin, make_user):  # fmt: skip
    ann = make_user("ann")
    snap = linked_with_trades(brokerage, standin, ann)
    (account,) = standin.user(snap.user_id).accounts.values()
    account.connection.disabled = True
    brokerage.sync(ann)
    opened: list[str] = []
    panel = BrokeragePanel(brokerage, ann, runner, open_url=opener(opened))
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 1 and panel.connect_button.isEnabled(), timeout=WAIT_MS)
    assert panel.tree.topLevelItem(0).text(0) == "Questrade  (disabled: reconnect)"

    panel.tree.setCurrentItem(panel.tree.topLevelItem(0))
    panel.connect_button.click()

    qtbot.waitUntil(lambda: bool(opened), timeout=WAIT_MS)
    (login,) = standin.requests_to("/snapTrade/login")
    assert login.body == {"connectionType": "read", "reconnect": account.connection.id}
