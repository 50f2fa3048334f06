"""Help > About: StratForge's, Python's, Qt's, PySide6's and the server's PostgreSQL version, the last one
fetched off the GUI thread."""

from __future__ import annotations

import asyncio
import platform
import re
import threading

import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QMainWindow
from pytestqt.qtbot import QtBot

from app.version import app_version
from app.views.about_dialog import ASKING, NOT_CONNECTED, AboutDialog, install_about_action
from core.db.database import Database
from core.services.database_info import server_version


def test_shows_every_version(qtbot: QtBot) -> None:
    dialog = AboutDialog("18.4")
    qtbot.addWidget(dialog)
    versions = dict(dialog.versions())
    assert versions["StratForge"] == app_version()
    assert versions["Python"].startswith(platform.python_version())
    assert versions["Qt"] == qVersion()
    assert versions["PySide6"] == PySide6.__version__
    assert versions["PostgreSQL"] == "18.4" == dialog.postgres_version
    assert f"StratForge {app_version()}" in dialog.findChild(QLabel, "aboutTitle").text()


def test_without_a_database_it_says_so(qtbot: QtBot) -> None:
    dialog = AboutDialog(None)
    qtbot.addWidget(dialog)
    assert dialog.postgres_version == NOT_CONNECTED


def test_a_callable_runs_on_a_worker_thread(qtbot: QtBot) -> None:
    asked_on: list[threading.Thread] = []
    release = threading.Event()

    def fetch() -> str:
        asked_on.append(threading.current_thread())
        release.wait(5)
        return "17.2"

    dialog = AboutDialog(fetch)
    qtbot.addWidget(dialog)
    assert dict(dialog.versions())["PostgreSQL"] == ASKING  # the GUI thread did not wait for the answer
    release.set()
    qtbot.waitUntil(lambda: dialog.postgres_version == "17.2", timeout=5000)
    assert asked_on and asked_on[0] is not threading.main_thread()


def test_a_failing_callable_is_shown_not_raised(qtbot: QtBot) -> None:
    def fetch() -> str:
        raise ConnectionError("server closed the connection")

    dialog = AboutDialog(fetch)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.postgres_version is not None, timeout=5000)
    assert dialog.postgres_version == "unavailable (server closed the connection)"


def test_an_awaitable_is_awaited_on_the_loop(qtbot: QtBot, qasync_loop: asyncio.AbstractEventLoop) -> None:
    async def fetch() -> str:
        await asyncio.sleep(0.05)
        return "16.9"

    dialog = AboutDialog(fetch())
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.postgres_version == "16.9", timeout=5000)


def test_the_real_servers_version(qtbot: QtBot, db: Database) -> None:
    assert re.fullmatch(r"\d+(\.\d+)*.*", server_version(db.engine))
    dialog = AboutDialog(lambda: server_version(db.engine))
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.postgres_version not in (None, ASKING), timeout=10_000)
    assert dialog.postgres_version == server_version(db.engine)


def test_copy_puts_every_line_on_the_clipboard(qtbot: QtBot) -> None:
    dialog = AboutDialog("18.4")
    qtbot.addWidget(dialog)
    dialog.copy_button.click()
    copied = QGuiApplication.clipboard().text()
    assert f"StratForge: {app_version()}" in copied and "PostgreSQL: 18.4" in copied and f"Qt: {qVersion()}" in copied


def test_help_menu_opens_the_dialog(qtbot: QtBot) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    calls: list[int] = []

    def version() -> str:
        calls.append(1)
        return "18.4"

    action = install_about_action(window, version)
    assert [a.text() for a in window.menuBar().actions()] == ["&Help"]
    action.trigger()
    dialog = window.findChild(AboutDialog)
    assert dialog is not None and dialog.isVisible() and dialog.postgres_version == "18.4" and calls == [1]
    dialog.close()
