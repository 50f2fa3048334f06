"""The status bar tells the trader when Alpaca refuses the club's market-data connection (406: another connection
holds the account's one data stream): the Alpaca workstation against the stand-in, offscreen. (That the report ends
when the other connection goes is tests/adapters/alpaca/test_stream_health.py's: here the retry waits 30 s.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from app.async_runner import BlockingRunner
from app.views.main_window import MainWindow
from core.accounts import AccountService
from core.accounts.secrets import AlpacaKeys
from core.adapters.alpaca.bar_feed import AlpacaBarFeed
from core.db.database import Database
from core.live import alpaca_workstation as alpaca_mode
from core.live.alpaca_workstation import AlpacaEndpoints
from core.live.workstation import Workstation
from core.market.live import LiveBars
from core.market.store import BarStore
from tests.adapters.alpaca.test_bar_feed import LoopThread
from tests.alpaca_standin import AlpacaStandIn
from tests.gui.conftest import STRONG_PASSWORD


@pytest.fixture
def rival(alpaca: AlpacaStandIn) -> Iterator[tuple[LoopThread, AlpacaBarFeed]]:
    """Another program on the club's Alpaca account, holding its one market-data connection."""
    thread = LoopThread()
    feed = AlpacaBarFeed(alpaca.key_id, alpaca.secret_key, LiveBars(None), url_override=alpaca.data_stream_url)
    running = thread.start(feed.run())
    thread.run(feed.subscribe(["SPY"]))
    assert alpaca.wait_for_bar_subscribers("SPY")
    try:
        yield thread, feed
    finally:
        thread.run(feed.stop())
        running.result(10)
        thread.close()


@pytest.fixture
def club_workstation(
    qasync_loop: asyncio.AbstractEventLoop, qtbot: QtBot, db: Database, alpaca: AlpacaStandIn
) -> Iterator[Workstation]:
    url = db.engine.url.render_as_string(hide_password=False)
    ends = AlpacaEndpoints(alpaca.rest_url, alpaca.stream_url, alpaca.rest_url, alpaca.data_stream_url)
    ws = alpaca_mode.alpaca(AlpacaKeys(alpaca.key_id, alpaca.secret_key), BarStore(db.engine), db.session_factory,
                            url, qasync_loop, endpoints=ends, timeout_s=5.0)  # fmt: skip
    started = qasync_loop.create_task(ws.start())
    qtbot.waitUntil(started.done, timeout=10_000)
    started.result()
    try:
        yield ws
    finally:
        stopped = qasync_loop.create_task(ws.stop())
        qtbot.waitUntil(stopped.done, timeout=15_000)
        # Off the loop's thread, as the app closes it: leaving the club stops the streams on this loop.
        closed = qasync_loop.create_task(asyncio.to_thread(ws.close))
        qtbot.waitUntil(closed.done, timeout=30_000)


def test_a_refused_data_connection_shows_in_the_status_bar_with_its_reason(
    qtbot: QtBot,
    db: Database,
    accounts: AccountService,
    runner: BlockingRunner,
    alpaca: AlpacaStandIn,
    rival: tuple[LoopThread, AlpacaBarFeed],  # started first: it holds the connection
    club_workstation: Workstation,
) -> None:
    user = accounts.sign_up("ada@example.com", "ada", STRONG_PASSWORD)
    window = MainWindow(user, db, runner, club_workstation)
    qtbot.addWidget(window)
    window.show()
    feed_label = window.findChild(QLabel, "feedStatus")
    assert feed_label is not None

    qtbot.waitUntil(lambda: "(406)" in feed_label.text(), timeout=20_000)
    assert "another connection is using the club's Alpaca account" in feed_label.text()
    assert "#ef5350" in feed_label.styleSheet()  # shown as a problem
    assert feed_label.toolTip() == feed_label.text()  # a status bar cuts long texts: the whole of it on hover

    window.close()
