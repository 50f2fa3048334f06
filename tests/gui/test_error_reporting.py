"""Uncaught errors reach the trader: a slot raising, a worker thread raising, a background task failing."""

from __future__ import annotations

import asyncio
import threading

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.async_runner import BlockingRunner
from app.error_reporting import ErrorNotice, ErrorReporter


def test_worker_thread_and_background_task_errors_are_reported(
    qtbot: QtBot, qasync_loop: asyncio.AbstractEventLoop, runner: BlockingRunner
) -> None:
    reporter = ErrorReporter()
    reporter.install()
    try:
        with qtbot.waitSignal(reporter.errorReported, timeout=5000) as caught:
            thread = threading.Thread(target=lambda: 1 / 0, name="price-worker")
            thread.start()
            thread.join(5)
        assert caught.args[0].where == "price-worker"
        assert caught.args[0].message == "ZeroDivisionError: division by zero"
        assert "ZeroDivisionError" in caught.args[0].details

        async def failing() -> None:
            raise RuntimeError("feed exploded")

        runner.on_error = reporter.report
        with qtbot.waitSignal(reporter.errorReported, timeout=5000) as caught:
            runner.spawn(failing(), name="feed-task")
        assert caught.args[0].where == "feed-task" and "feed exploded" in caught.args[0].message
    finally:
        reporter.uninstall()


def test_notice_shows_the_error_and_its_details(qtbot: QtBot) -> None:
    reporter = ErrorReporter()
    notice = ErrorNotice()
    qtbot.addWidget(notice)
    reporter.errorReported.connect(notice.show_report)
    assert notice.isHidden()
    try:
        raise ValueError("bad bar")
    except ValueError as exc:
        reporter.report("the chart", exc)
    assert not notice.isHidden()
    assert notice.label.text() == "Error in the chart: ValueError: bad bar"
    qtbot.mouseClick(notice.details_button, Qt.MouseButton.LeftButton)
    assert notice.box is not None and "raise ValueError" in notice.box.detailedText()
    notice.box.close()
