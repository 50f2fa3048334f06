"""Fatal errors leave a report in the data folder (``<data>/crash/``) and are shown, instead of vanishing.

Two layers, one for each kind of error:

* :mod:`app.error_reporting` (the main window's ``ErrorReporter``): while the window is open, an exception in a Qt
  slot, a worker thread or a background task is *not* fatal. It is shown in the status bar and the app goes on.
* this module: what that layer does not see. An exception escaping the top level (start-up, the session, shutdown:
  :func:`run_guarded`), one raised in a slot or a thread while no window is open (``sys.excepthook`` and
  ``threading.excepthook``), and native crashes (a segfault in Qt or a C extension: ``faulthandler`` writes the
  stacks of every thread to ``crash/native-<pid>.log``, which the next start turns into a report).

They compose through the hooks themselves: :class:`CrashHandler` is installed first (app/entry.py, before Qt is
imported); the window's ``ErrorReporter.install()`` saves our hooks as its "previous" ones and puts them back on
``uninstall()``, so between window open and close the status bar gets the errors and before and after, we do.
Neither reports what the other one handled.

A report is plain text: time (UTC), version, Python, Qt (if loaded), platform, where, the command line and the
traceback. It is written to ``crash/crash-<UTC time>-<pid>.txt`` (a temporary folder when the data folder cannot
be written), printed to stderr, and shown in a QMessageBox (path and text) when a QApplication exists on a real
display; offscreen (tests, the smoke test) stderr is the only display.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import os
import platform
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from app.version import app_version

CRASH_DIR = "crash"
NATIVE_PREFIX = "native-"
EXIT_CRASHED = 1  # app/entry.py: 1 means "could not start" (or stopped unexpectedly)
_HEADLESS_PLATFORMS = ("offscreen", "minimal")


@dataclass(frozen=True)
class CrashReport:
    path: Path
    text: str
    fatal: bool


def crash_dir(data_dir: Path) -> Path:
    return Path(data_dir) / CRASH_DIR


def data_dir_from_argv(argv: Sequence[str]) -> Path:
    """The data folder a run will use: ``--data-dir`` (either form), else $STRATFORGE_DATA_DIR / the default."""
    args = list(argv)
    for index, arg in enumerate(args):
        if arg == "--data-dir" and index + 1 < len(args):
            return Path(args[index + 1]).expanduser()
        if arg.startswith("--data-dir="):
            return Path(arg.split("=", 1)[1]).expanduser()
    from core.config import default_data_dir  # platformdirs only, no Qt

    return default_data_dir()


def format_report(
    exc: BaseException | None, *, where: str, details: str | None = None, now: datetime | None = None
) -> str:
    """The report's text: a header of facts, then the traceback (or ``details`` for a native crash)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    qt = sys.modules.get("PySide6.QtCore")
    lines = [
        "StratForge crash report",
        f"Time (UTC): {moment.strftime('%Y-%m-%d %H:%M:%S')}",
        f"Version: {app_version()}",
        f"Python: {platform.python_version()} ({'frozen bundle' if getattr(sys, 'frozen', False) else sys.executable})",
        f"Qt: {qt.qVersion() if qt is not None else 'not loaded'}",
        f"Platform: {platform.platform()}",
        f"Where: {where}",
        f"Command line: {' '.join(sys.argv)}",
        f"Process: {os.getpid()}",
        "",
    ]
    if details is not None:
        lines.append(details.rstrip())
    elif exc is not None:
        lines.append("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip())
    return "\n".join(lines) + "\n"


def write_report(directory: Path, text: str, *, kind: str = "crash", now: datetime | None = None) -> Path:
    """Write ``text`` to ``directory/<kind>-<UTC time>-<pid>.txt``; a temporary folder if that one is unwritable."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    name = f"{kind}-{stamp}-{os.getpid()}.txt"
    for folder in (Path(directory), Path(tempfile.gettempdir()) / "StratForge-crash"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    raise OSError(f"could not write a crash report in {directory} or the temporary folder")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        import psutil

        return psutil.pid_exists(pid)
    except ImportError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except (PermissionError, OSError):
            return True
        return True


class CrashHandler:
    """Installs the fatal-error hooks for one data folder; see the module docstring."""

    def __init__(
        self,
        data_dir: Path,
        *,
        interactive: bool | None = None,
        stderr: TextIO | None = None,
        gui: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.directory = crash_dir(self.data_dir)
        self.reports: list[CrashReport] = []
        self.previous_native: list[CrashReport] = []  # native crashes of earlier runs, found at install()
        self.boxes: list[Any] = []  # the message boxes shown (kept alive while open)
        self._interactive = interactive  # None: decide from the Qt platform when a report is shown
        self._stderr = stderr
        self._gui = gui
        self._installed = False
        self._previous_hook = sys.excepthook
        self._previous_thread_hook = threading.excepthook
        self._native_file: TextIO | None = None
        self.native_log: Path | None = None
        self._relay: Any = None

    # --- hooks ---

    def install(self) -> CrashHandler:
        if self._installed:
            return self
        self._previous_hook, self._previous_thread_hook = sys.excepthook, threading.excepthook
        sys.excepthook = self._excepthook
        threading.excepthook = self._thread_hook
        self._installed = True
        self.previous_native = self._collect_native_logs()
        self._enable_faulthandler()
        if self._gui:
            self._make_relay()
        atexit.register(self.uninstall)
        for report in self.previous_native:
            self._print(report, "StratForge stopped unexpectedly last time (a native crash).")
        return self

    def uninstall(self) -> None:
        if not self._installed:
            return
        self._installed = False
        if sys.excepthook == self._excepthook:
            sys.excepthook = self._previous_hook
        if threading.excepthook == self._thread_hook:
            threading.excepthook = self._previous_thread_hook
        self._disable_faulthandler()
        with contextlib.suppress(Exception):
            atexit.unregister(self.uninstall)

    @property
    def installed(self) -> bool:
        return self._installed

    def _excepthook(self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self._previous_hook(kind, exc, tb)
            return
        self.report(exc.with_traceback(tb), where="an uncaught exception (no window open to show it)")

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or issubclass(args.exc_type, SystemExit):
            return
        name = args.thread.name if args.thread is not None else "a thread"
        self.report(args.exc_value, where=f"the thread {name}")

    # --- reports ---

    def report(self, exc: BaseException, *, where: str, fatal: bool = False) -> CrashReport:
        """Any thread: write the report, print it and show it (on the GUI thread). Never raises."""
        try:
            text = format_report(exc, where=where)
        except Exception:  # the report must not fail because, say, the version could not be read
            text = "StratForge crash report\n\n" + "".join(
                traceback.format_exception(type(exc), exc, exc.__traceback__)
            )
        try:
            path = write_report(self.directory, text)
        except OSError:
            path = Path("(not written)")
        report = CrashReport(path, text, fatal)
        self.reports.append(report)
        self._present(report)
        return report

    def _present(self, report: CrashReport) -> None:
        if threading.current_thread() is not threading.main_thread():
            self._print(report)
            if self._relay is not None:
                with contextlib.suppress(RuntimeError):
                    self._relay.crashed.emit(report)  # queued: shown by the GUI thread
            return
        self._print(report)
        self._show_box(report)

    def _print(self, report: CrashReport, headline: str | None = None) -> None:
        stream = self._stderr or sys.stderr
        if stream is None:  # a windowed executable without a console
            return
        with contextlib.suppress(Exception):
            stream.write(f"\n{headline or 'StratForge hit an unexpected error.'} Report: {report.path}\n{report.text}")
            stream.flush()

    def _show_box(self, report: CrashReport) -> None:
        """A message box with the path and the text, when a QApplication exists on a real display."""
        widgets = sys.modules.get("PySide6.QtWidgets")
        if widgets is None:
            return
        app = widgets.QApplication.instance()
        if app is None or not self._is_interactive(app):
            return
        try:
            headline = (
                "StratForge stopped because of an unexpected error."
                if report.fatal
                else ("StratForge hit an unexpected error.")
            )
            box = widgets.QMessageBox(widgets.QMessageBox.Icon.Critical, "StratForge — unexpected error", headline)
            box.setObjectName("crashReportBox")
            box.setInformativeText(f"A report was saved to\n{report.path}\nPlease send it to whoever looks after "
                                   "StratForge.")  # fmt: skip
            box.setDetailedText(report.text)
            self.boxes.append(box)
            if report.fatal:
                box.exec()  # the process ends after this: let the trader read it first
            else:
                box.setModal(False)
                box.finished.connect(lambda _result, b=box: self.boxes.remove(b) if b in self.boxes else None)
                box.show()
        except Exception:  # Qt half torn down: stderr and the file remain
            pass

    def _is_interactive(self, app: Any) -> bool:
        if self._interactive is not None:
            return self._interactive
        try:
            return app.platformName() not in _HEADLESS_PLATFORMS
        except Exception:
            return False

    def _make_relay(self) -> None:
        try:
            from PySide6.QtCore import QObject, Signal
        except ImportError:
            return

        class _CrashRelay(QObject):
            crashed = Signal(object)

        self._relay = _CrashRelay()
        self._relay.crashed.connect(self._show_box)

    # --- native crashes (faulthandler) ---

    def _enable_faulthandler(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.native_log = self.directory / f"{NATIVE_PREFIX}{os.getpid()}.log"
            self._native_file = open(self.native_log, "w", encoding="utf-8")  # noqa: SIM115 - open for the run
            faulthandler.enable(file=self._native_file, all_threads=True)
        except OSError:
            self._native_file, self.native_log = None, None

    def _disable_faulthandler(self) -> None:
        if self._native_file is None:
            return
        with contextlib.suppress(Exception):
            faulthandler.disable()
            if sys.stderr is not None:
                faulthandler.enable(file=sys.stderr)  # back to the default destination
        with contextlib.suppress(Exception):
            self._native_file.close()
        if self.native_log is not None:
            with contextlib.suppress(OSError):
                if self.native_log.stat().st_size == 0:
                    self.native_log.unlink()
        self._native_file = None

    def _collect_native_logs(self) -> list[CrashReport]:
        """Turn the faulthandler logs of runs that are gone into reports (empty ones are just removed)."""
        found: list[CrashReport] = []
        if not self.directory.is_dir():
            return found
        for log in sorted(self.directory.glob(f"{NATIVE_PREFIX}*.log")):
            pid_text = log.stem[len(NATIVE_PREFIX) :]
            if not pid_text.isdigit() or _pid_alive(int(pid_text)):
                continue
            try:
                details = log.read_text(encoding="utf-8", errors="replace")
                when = datetime.fromtimestamp(log.stat().st_mtime, UTC)
                if details.strip():
                    text = format_report(None, where=f"a native crash of process {pid_text}", details=details,
                                         now=when)  # fmt: skip
                    path = write_report(self.directory, text, kind="native-crash", now=when)
                    found.append(CrashReport(path, text, True))
                log.unlink()
            except OSError:
                continue
        return found


def run_guarded(main: Callable[..., int], argv: Sequence[str] | None = None, *, data_dir: Path | None = None) -> int:
    """Run ``main(argv)`` with the crash handler installed; an exception escaping it becomes a report and
    exit code 1 (SystemExit and KeyboardInterrupt pass through)."""
    args = list(sys.argv[1:] if argv is None else argv)
    handler = CrashHandler(data_dir if data_dir is not None else data_dir_from_argv(args)).install()
    try:
        return main(argv)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        handler.report(exc, where="start-up or the session (the top level)", fatal=True)
        return EXIT_CRASHED
    finally:
        handler.uninstall()
