"""A club member's whole window on the member's own database role (issue 26): it opens, shows the account, trades
through the order ticket (a request the club service answers), saves a strategy and keeps a journal, and nothing in
it runs into a permission the role does not have. The club service's intake runs as the club's role."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.async_runner import BlockingRunner
from app.views.main_window import MainWindow
from core.accounts import AccountService
from core.accounts.service import UserInfo
from core.club.order_requests import RequestedOrders
from core.config import Settings
from core.db.database import Database, open_database
from core.db.models import Order, Strategy, User
from core.live.club_member import club_member
from core.market.store import BarStore
from core.services.backtests import Backtests
from core.strategy.library import StrategyDraft, save_strategy
from tests.backtest.test_sandboxed_backtest import CROSS
from tests.club.test_order_requests import Desk, desk, roles  # noqa: F401  (fixtures)
from tests.gui.test_order_ticket import submit, type_order
from tests.market.test_store import minutes
from tests.services.test_backtests import T0, request

WAIT_MS = 15_000


@pytest.fixture
def member_db(desk: Desk, tmp_path: Path) -> Iterator[Database]:  # noqa: F811
    opened = open_database(Settings(data_dir=tmp_path, database_url=desk.alice.url))
    yield opened
    opened.close()


def test_a_members_window_trades_and_saves_as_the_members_own_role(
    qtbot: QtBot,
    qasync_loop,
    runner: BlockingRunner,
    db: Database,
    accounts: AccountService,
    desk: Desk,  # noqa: F811
    member_db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    with member_db.session_factory() as s:
        row = s.get(User, desk.alice.user_id)
    assert row is not None
    user = UserInfo(row.id, row.email, row.username, row.role, row.virtual_balance)
    assert user.id == desk.alice.user_id

    url = member_db.engine.url.render_as_string(hide_password=False)
    ws = club_member(BarStore(member_db.engine), member_db.session_factory, url, qasync_loop)
    assert isinstance(ws.orders, RequestedOrders)
    started = qasync_loop.create_task(ws.start())
    qtbot.waitUntil(started.done, timeout=WAIT_MS)
    started.result()
    window = MainWindow(user, member_db, runner, ws)
    qtbot.addWidget(window)
    try:
        window.show()
        qtbot.waitExposed(window)
        panel = window.portfolio
        qtbot.waitUntil(lambda: not panel.refreshing, timeout=WAIT_MS)

        ticket = panel.open_ticket("AAPL")
        type_order(qtbot, ticket, "AAPL", "3", "Limit", "95")
        with qtbot.waitSignal(ticket.orderPlaced, timeout=WAIT_MS) as placed:
            submit(qtbot, ticket)
        assert placed.args[0].status in ("pending", "accepted")  # the club desk routes later
        with db.session_factory() as s:
            (order,) = s.scalars(select(Order).where(Order.user_id == user.id)).all()
        assert order.request_id is not None and order.limit_price == Decimal("95")

        cross = save_strategy(member_db.session_factory, user.id, StrategyDraft(name="Cross", python_code=CROSS))
        with db.session_factory() as s:
            assert s.scalar(select(Strategy.user_id).where(Strategy.name == "Cross")) == user.id
        # A backtest reads the club's bars (stored by the club service; read-only to members) and keeps its result.
        owner_store = BarStore(db.engine)
        owner_store.insert("ACME", "1Min", minutes(1_500, start=T0, seed=4), source="csv_import")
        owner_store.close()
        backtests = Backtests(member_db.session_factory, lambda: BarStore(member_db.engine))
        run = backtests.run(request(user.id, cross.id))
        assert run.bar_count > 0 and [r.id for r in backtests.past_results(user.id)] == [run.result_id]
        qtbot.wait(500)  # let the panels' refreshes after the order run
        assert window.errors.reports == []
    finally:
        window.close()
        stopped = qasync_loop.create_task(ws.stop())
        qtbot.waitUntil(stopped.done, timeout=WAIT_MS)
        ws.close()
    refused = [r.getMessage() for r in caplog.records if "permission denied" in r.getMessage().lower()]
    assert refused == []
