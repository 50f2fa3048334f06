"""With the database unreachable, views show one trader line, never the driver's text (the log has it)."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import psycopg
import pytest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from app.async_runner import BlockingRunner
from app.error_reporting import ErrorNotice, ErrorReporter
from app.views.portfolio_panel import PortfolioPanel
from core.db.engine import make_engine, make_session_factory
from core.db.trouble import CONNECTION_LOST
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.services.portfolio import Portfolio
from tests.ledger.manual_broker import ManualBroker


@pytest.fixture
def stopped_server(tmp_path: Path):
    """A session factory whose every connection attempt fails like a stopped embedded server's socket."""
    engine = make_engine(f"postgresql://postgres@/stratforge?host={tmp_path}")
    yield make_session_factory(engine)
    engine.dispose()


def test_the_portfolio_shows_one_trader_line_when_the_database_is_gone(
    qtbot: QtBot, runner: BlockingRunner, stopped_server, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = Ledger(stopped_server, ManualBroker(), LastPrices())
    panel = PortfolioPanel(Portfolio(ledger, stopped_server), uuid.uuid4(), runner, poll_interval_ms=0)
    qtbot.addWidget(panel)
    panel.show()
    with caplog.at_level(logging.WARNING):
        qtbot.waitUntil(lambda: panel.error_label.isVisible(), timeout=10_000)
    shown = panel.error_label.text()
    assert shown == f"Could not refresh the portfolio: {CONNECTION_LOST}"
    assert ".s.PGSQL" not in shown and "OperationalError" not in shown
    assert ".s.PGSQL" in caplog.text  # the details went to the log
    panel.shutdown()


def test_the_error_notice_shows_the_trader_line_and_keeps_the_traceback_in_details(
    qtbot: QtBot, tmp_path: Path
) -> None:
    notice = ErrorNotice()
    qtbot.addWidget(notice)
    reporter = ErrorReporter()
    reporter.errorReported.connect(notice.show_report)
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(f"postgresql://postgres@/stratforge?host={tmp_path}", connect_timeout=2)

    reporter.report("the portfolio", caught.value)

    label = notice.findChild(QLabel, "errorNoticeText")
    assert label is not None
    assert label.text() == f"Error in the portfolio: {CONNECTION_LOST}"
    assert notice.report is not None and ".s.PGSQL.5432" in notice.report.details  # Details… has it all
