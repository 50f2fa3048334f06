"""Fatal errors become a report in <data>/crash and are shown; non-fatal ones stay the status bar's."""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from app import crash_handler
from app.crash_handler import CrashHandler, data_dir_from_argv, format_report, run_guarded, write_report
from app.error_reporting import ErrorReporter
from app.version import app_version


@pytest.fixture
def handler(tmp_path: Path) -> Iterator[CrashHandler]:
    h = CrashHandler(tmp_path / "data", stderr=io.StringIO(), interactive=False)
    yield h
    h.uninstall()


def boom() -> ZeroDivisionError:
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError as exc:
        return exc
    raise AssertionError


def test_report_has_time_version_platform_and_traceback() -> None:
    text = format_report(boom(), where="start-up", now=datetime(2026, 12, 3, 7, 30, tzinfo=UTC))
    assert "Time (UTC): 2026-12-03 07:30:00" in text
    assert f"Version: {app_version()}" in text
    assert "Platform: " in text and "Python: " in text and "Where: start-up" in text
    assert "Traceback (most recent call last)" in text and "ZeroDivisionError: division by zero" in text


def test_reports_go_to_the_crash_folder_or_a_temporary_one(tmp_path: Path) -> None:
    path = write_report(tmp_path / "data" / "crash", "text")
    assert path.parent == tmp_path / "data" / "crash" and path.read_text() == "text"
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    fallback = write_report(blocked / "crash", "text")
    assert fallback.exists() and blocked not in fallback.parents
    fallback.unlink()


def test_install_and_uninstall_restore_the_hooks(handler: CrashHandler) -> None:
    before = sys.excepthook, threading.excepthook
    handler.install()
    assert sys.excepthook == handler._excepthook and threading.excepthook == handler._thread_hook
    handler.uninstall()
    assert (sys.excepthook, threading.excepthook) == before


def test_uncaught_exception_is_written_and_printed(handler: CrashHandler) -> None:
    handler.install()
    exc = boom()
    sys.excepthook(type(exc), exc, exc.__traceback__)
    [report] = handler.reports
    assert report.path.parent == handler.directory and "ZeroDivisionError" in report.path.read_text()
    assert str(report.path) in handler._stderr.getvalue()  # type: ignore[union-attr]


def test_thread_exception_is_written(handler: CrashHandler) -> None:
    handler.install()
    thread = threading.Thread(target=lambda: 1 / 0, name="doomed-worker")
    thread.start()
    thread.join(5)
    [report] = handler.reports
    assert "Where: the thread doomed-worker" in report.text and report.path.exists()


def test_the_window_error_reporter_layers_on_top_and_gives_the_hooks_back(handler: CrashHandler) -> None:
    handler.install()
    reporter = ErrorReporter()
    reporter.install()
    try:
        exc = boom()
        sys.excepthook(type(exc), exc, exc.__traceback__)  # while the window is open: the status bar's error
        assert len(reporter.reports) == 1 and handler.reports == []
    finally:
        reporter.uninstall()
    assert sys.excepthook == handler._excepthook  # after the window: ours again
    exc = boom()
    sys.excepthook(type(exc), exc, exc.__traceback__)
    assert len(handler.reports) == 1 and len(reporter.reports) == 1


def test_keyboard_interrupt_is_not_a_crash(handler: CrashHandler, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[type[BaseException]] = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, exc, tb: seen.append(kind))
    handler.install()
    sys.excepthook(KeyboardInterrupt, KeyboardInterrupt(), None)
    assert seen == [KeyboardInterrupt] and handler.reports == []


def test_faulthandler_log_is_removed_when_empty_and_reported_when_not(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = CrashHandler(data, stderr=io.StringIO(), interactive=False).install()
    assert first.native_log is not None and first.native_log.exists()
    first.uninstall()
    assert not first.native_log.exists()  # a clean run leaves nothing behind

    dead_pid = 2**22 + 12345  # above pid_max's usual limit: no such process
    (data / "crash" / f"native-{dead_pid}.log").write_text("Fatal Python error: Segmentation fault\n\nThread 0x1 ...")
    second = CrashHandler(data, stderr=io.StringIO(), interactive=False).install()
    try:
        [report] = second.previous_native
        assert "Segmentation fault" in report.text and f"process {dead_pid}" in report.text
        assert report.path.name.startswith("native-crash-") and report.path.exists()
        assert not (data / "crash" / f"native-{dead_pid}.log").exists()
        assert "native crash" in second._stderr.getvalue()  # type: ignore[union-attr]
    finally:
        second.uninstall()


def test_run_guarded_turns_a_top_level_exception_into_exit_code_1(tmp_path: Path) -> None:
    def main(argv: list[str]) -> int:
        raise RuntimeError("could not build the window")

    data = tmp_path / "data"
    assert run_guarded(main, ["--data-dir", str(data)]) == crash_handler.EXIT_CRASHED
    [path] = (data / "crash").glob("crash-*.txt")
    assert "RuntimeError: could not build the window" in path.read_text()
    assert "Where: start-up or the session" in path.read_text()


def test_run_guarded_passes_results_and_exits_through(tmp_path: Path) -> None:
    assert run_guarded(lambda argv: 0, [f"--data-dir={tmp_path}"]) == 0

    def leave(argv: list[str]) -> int:
        raise SystemExit(3)

    with pytest.raises(SystemExit):
        run_guarded(leave, [f"--data-dir={tmp_path}"])
    assert not list((tmp_path / "crash").glob("crash-*.txt"))


def test_data_dir_from_argv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert data_dir_from_argv(["--data-dir", str(tmp_path)]) == tmp_path
    assert data_dir_from_argv([f"--data-dir={tmp_path}"]) == tmp_path
    monkeypatch.setenv("STRATFORGE_DATA_DIR", str(tmp_path / "env"))
    assert data_dir_from_argv(["--debug"]) == tmp_path / "env"


def test_a_message_box_shows_path_and_text(qtbot: QtBot, tmp_path: Path) -> None:
    handler = CrashHandler(tmp_path, stderr=io.StringIO(), interactive=True).install()
    try:
        report = handler.report(boom(), where="the login dialog")
        [box] = handler.boxes
        assert isinstance(box, QMessageBox) and box.isVisible() and not box.isModal()
        assert str(report.path) in box.informativeText() and box.detailedText() == report.text
        box.close()
    finally:
        handler.uninstall()


def test_a_thread_crash_reaches_the_gui_thread(qtbot: QtBot, tmp_path: Path) -> None:
    handler = CrashHandler(tmp_path, stderr=io.StringIO(), interactive=True).install()
    try:
        thread = threading.Thread(target=lambda: 1 / 0, name="late-worker")
        thread.start()
        thread.join(5)
        qtbot.waitUntil(lambda: len(handler.boxes) == 1, timeout=5000)
        handler.boxes[0].close()
    finally:
        handler.uninstall()


def test_offscreen_shows_nothing_but_stderr(qtbot: QtBot, tmp_path: Path) -> None:
    handler = CrashHandler(tmp_path, stderr=io.StringIO()).install()  # platform decides: offscreen
    try:
        handler.report(boom(), where="somewhere")
        assert handler.boxes == [] and "somewhere" in handler._stderr.getvalue()  # type: ignore[union-attr]
    finally:
        handler.uninstall()
