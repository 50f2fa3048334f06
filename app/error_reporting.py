"""Errors nobody caught end up in front of the trader, with details available, instead of in a log or a crash.

Three ways an error can escape: a Qt slot raising on the GUI thread (PySide6 hands it to `sys.excepthook`), a
worker thread raising (`threading.excepthook`), and a background task of the BlockingRunner failing. All three
reach one `ErrorReporter`, which logs the traceback and emits `errorReported` on the GUI thread; the main window
shows it in the status bar with a "Details…" button. The hooks are restored by `uninstall()`.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from dataclasses import dataclass
from types import TracebackType

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget

from core.db.trouble import trader_message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErrorReport:
    where: str
    message: str
    details: str


def describe(exc: BaseException) -> str:
    """The status bar's one line: trader-readable, never a driver's socket path or SQL (the log and the Details
    box keep the whole traceback)."""
    return trader_message(exc)


class ErrorReporter(QObject):
    errorReported = Signal(object)  # an ErrorReport, delivered on the GUI thread (queued from other threads)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.reports: list[ErrorReport] = []
        self._previous_hook = sys.excepthook
        self._previous_thread_hook = threading.excepthook
        self._installed = False

    def install(self) -> None:
        self._previous_hook, self._previous_thread_hook = sys.excepthook, threading.excepthook
        sys.excepthook = self._excepthook
        threading.excepthook = self._thread_hook
        self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            sys.excepthook, threading.excepthook = self._previous_hook, self._previous_thread_hook
            self._installed = False

    def report(self, where: str, exc: BaseException) -> None:
        """Any thread: log it with its traceback and show it."""
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        log.error("unexpected error in %s:\n%s", where, details)
        report = ErrorReport(where, describe(exc), details)
        self.reports.append(report)
        self.errorReported.emit(report)

    def _excepthook(self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self._previous_hook(kind, exc, tb)
            return
        self.report("the window", exc.with_traceback(tb))

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or issubclass(args.exc_type, SystemExit):
            return
        name = args.thread.name if args.thread is not None else "a worker thread"
        self.report(name, args.exc_value)


class ErrorNotice(QWidget):
    """Status-bar widget: the latest error in one line, hidden until there is one; "Details…" shows the
    traceback, "Dismiss" hides it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorNotice")
        self.label = QLabel()
        self.label.setObjectName("errorNoticeText")
        self.label.setStyleSheet("color: #ef5350; font-weight: bold;")
        self.details_button = QPushButton("Details…")
        self.details_button.setObjectName("errorDetails")
        self.details_button.clicked.connect(self.show_details)
        dismiss = QPushButton("Dismiss")
        dismiss.setObjectName("errorDismiss")
        dismiss.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.details_button)
        layout.addWidget(dismiss)
        self.report: ErrorReport | None = None
        self.box: QMessageBox | None = None
        self.hide()

    def show_report(self, report: ErrorReport) -> None:
        self.report = report
        self.label.setText(f"Error in {report.where}: {report.message}")
        self.label.setToolTip(report.message)
        self.show()

    def show_details(self) -> None:
        if self.report is None:
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "StratForge — error", self.label.text(), parent=self.window())
        box.setObjectName("errorDetailsBox")
        box.setInformativeText("StratForge kept running. The details below help whoever fixes it.")
        box.setDetailedText(self.report.details)
        box.setModal(False)
        self.box = box
        box.show()
