"""Help > About: StratForge's, Python's, Qt's, PySide6's and the server's PostgreSQL version, the last one
fetched off the GUI thread; and the strategy sandbox's confinement with what it lacks, probed off the GUI thread."""

from __future__ import annotations

import asyncio
import platform
import re
import threading
from pathlib import Path

import psycopg
import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QMainWindow
from pytestqt.qtbot import QtBot

from app.version import app_version
from app.views.about_dialog import (
    ASKING,
    CHECKING,
    CONFINEMENT,
    NOT_CHECKED,
    NOT_CONNECTED,
    AboutDialog,
    install_about_action,
)
from core.db.database import Database
from core.services.database_info import server_version
from core.strategy.sandbox.confinement import ConfinementLevel, ConfinementReport, probe_confinement
from tests.ai.confinement import NO_LANDLOCK, NO_SECCOMP, report


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
    assert dialog.postgres_version == "unavailable (the database did not answer)"  # not libpq's words


def test_a_driver_error_is_not_shown_raw(qtbot: QtBot, tmp_path: Path) -> None:
    def fetch() -> str:
        with psycopg.connect(f"postgresql://postgres@/x?host={tmp_path}", connect_timeout=2):
            return "never"

    dialog = AboutDialog(fetch)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.postgres_version is not None, timeout=5000)
    assert dialog.postgres_version == "unavailable (the database did not answer)"


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


# --- the strategy sandbox's confinement ---------------------------------------------------------------------------


def test_full_confinement_shows_the_level_and_lists_nothing_missing(qtbot: QtBot) -> None:
    full = report(ConfinementLevel.FULL)
    dialog = AboutDialog("18.4", confinement=full)
    qtbot.addWidget(dialog)
    dialog.show()
    row = dict(dialog.versions())[CONFINEMENT]
    assert row == "FULL (rlimits; landlock; seccomp)" and dialog.confinement is full  # the probe's summary
    assert dialog.missing() == () and not dialog.findChild(QLabel, "aboutConfinementMissing").isVisible()


def test_partial_confinement_lists_what_is_missing(qtbot: QtBot) -> None:
    dialog = AboutDialog("18.4", confinement=report(ConfinementLevel.PARTIAL))
    qtbot.addWidget(dialog)
    dialog.show()
    row = dialog.findChild(QLabel, f"aboutVersion{CONFINEMENT}").text()
    assert row == f"PARTIAL (rlimits; seccomp). Not enforced: {NO_LANDLOCK}"
    missing = dialog.findChild(QLabel, "aboutConfinementMissing")
    assert missing.isVisible() and missing.text() == f"• {NO_LANDLOCK}"
    assert dialog.missing() == (NO_LANDLOCK,)
    dialog.copy_button.click()
    copied = QGuiApplication.clipboard().text()
    assert f"{CONFINEMENT}: PARTIAL (rlimits; seccomp)" in copied and f"missing: {NO_LANDLOCK}" in copied


def test_no_confinement_lists_every_missing_mechanism(qtbot: QtBot) -> None:
    dialog = AboutDialog("18.4", confinement=report(ConfinementLevel.NONE))
    qtbot.addWidget(dialog)
    assert dict(dialog.versions())[CONFINEMENT] == f"NONE. Not enforced: {NO_LANDLOCK}; {NO_SECCOMP}"
    assert dialog.findChild(QLabel, "aboutConfinementMissing").text() == f"• {NO_LANDLOCK}\n• {NO_SECCOMP}"


def test_the_confinement_probe_runs_on_a_worker_thread(qtbot: QtBot) -> None:
    asked_on: list[threading.Thread] = []
    release = threading.Event()

    def probe() -> ConfinementReport:
        asked_on.append(threading.current_thread())
        release.wait(5)
        return report(ConfinementLevel.PARTIAL)

    dialog = AboutDialog("18.4", confinement=probe)
    qtbot.addWidget(dialog)
    assert dict(dialog.versions())[CONFINEMENT] == CHECKING  # the GUI thread did not wait for the probe
    release.set()
    qtbot.waitUntil(lambda: dialog.confinement is not None, timeout=5000)
    assert dialog.missing() == (NO_LANDLOCK,) and asked_on and asked_on[0] is not threading.main_thread()


def test_an_awaited_or_failing_probe(qtbot: QtBot, qasync_loop: asyncio.AbstractEventLoop) -> None:
    async def probe() -> ConfinementReport:
        await asyncio.sleep(0.05)
        return report(ConfinementLevel.NONE)

    awaited = AboutDialog("18.4", confinement=probe())
    qtbot.addWidget(awaited)
    qtbot.waitUntil(lambda: awaited.confinement is not None, timeout=5000)
    assert awaited.missing() == (NO_LANDLOCK, NO_SECCOMP)

    def broken() -> ConfinementReport:
        raise OSError("no /proc")

    failed = AboutDialog("18.4", confinement=broken)
    qtbot.addWidget(failed)
    qtbot.waitUntil(lambda: failed.confinement_text is not None, timeout=5000)
    assert failed.confinement is None and failed.confinement_text == "unavailable (no /proc)"

    unasked = AboutDialog("18.4")
    qtbot.addWidget(unasked)
    assert dict(unasked.versions())[CONFINEMENT] == NOT_CHECKED


def test_this_computer_s_probe_is_shown(qtbot: QtBot) -> None:
    real = probe_confinement()
    dialog = AboutDialog("18.4", confinement=probe_confinement)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.confinement is not None, timeout=10_000)
    row = dict(dialog.versions())[CONFINEMENT]
    assert row.startswith(real.level.name) and "Strategy confinement" not in row
    assert dialog.missing() == (() if real.level == ConfinementLevel.FULL else real.missing)


def test_help_menu_asks_for_the_confinement_each_time(qtbot: QtBot) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    action = install_about_action(window, lambda: "18.4", lambda: report(ConfinementLevel.PARTIAL))
    action.trigger()
    dialog = window.findChild(AboutDialog)
    assert dialog is not None and dialog.missing() == (NO_LANDLOCK,)
    dialog.close()
