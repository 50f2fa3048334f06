"""Help > About StratForge: the version (app/version.py) and those of Python, Qt, PySide6 and PostgreSQL.

The PostgreSQL version is the server's own (``SHOW server_version``: the embedded one, or the shared database's),
which means a round trip to the database: the dialog never makes it on the GUI thread. It takes the value itself,
an awaitable (``runner.call(server_version, engine)``, from ``core.services.database_info``), or a blocking
callable that it runs on a worker thread; until the answer arrives the row says "asking the server…". "Copy" puts
every line on the clipboard, for a bug report.

The strategy confinement row says how much the operating system confines the sandbox that runs strategy code
(``probe_confinement``: FULL, PARTIAL or NONE, with its one-line summary) and, when not FULL, lists what is
missing: that is why the app asks before it runs code the trader did not write. The first probe may take about
100 ms, so it comes the same ways as the server's version (a report, an awaitable, or a callable run on a worker
thread), never from the GUI thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import platform
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import PySide6
from PySide6.QtCore import QObject, Qt, Signal, qVersion
from PySide6.QtGui import QAction, QGuiApplication, QIcon, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.version import app_version
from core.db.trouble import is_connection_error, looks_like_a_driver_error
from core.strategy.sandbox.confinement import ConfinementLevel, ConfinementReport

log = logging.getLogger(__name__)

ServerVersion = str | Callable[[], str] | Awaitable[str] | None
Confinement = ConfinementReport | Callable[[], ConfinementReport] | Awaitable[ConfinementReport] | None
ASKING = "asking the server…"
NOT_CONNECTED = "not connected"
NO_ANSWER = "the database did not answer"
CHECKING = "checking…"
NOT_CHECKED = "not checked"
CONFINEMENT = "Strategy confinement"
ICON_PATH = Path(__file__).resolve().parents[2] / "resources" / "icons" / "stratforge-256.png"


def app_icon() -> QIcon:
    """The application icon (resources/icons), or an empty icon when the file is missing."""
    return QIcon(str(ICON_PATH)) if ICON_PATH.exists() else QIcon()


class _Relay(QObject):
    """Carries a worker thread's answer to the GUI thread (a queued signal; dropped if the dialog is gone)."""

    answered = Signal(str, object, bool)  # which row, the value (or why there is none), ok


def confinement_line(report: ConfinementReport) -> str:
    """The level in capitals, then the probe's one-line summary without what the row's label and the level
    already say: "Strategy confinement: partial (seccomp allow-list). Not enforced: …" reads "PARTIAL
    (seccomp allow-list). Not enforced: …"."""
    text = report.summary().strip()
    for said in (f"{CONFINEMENT}:", report.level.value):
        if text.lower().startswith(said.lower()):
            text = text[len(said) :].strip()
    text = text.lstrip(":").strip()
    level = report.level.name
    if not text:
        return level
    return f"{level}{text}" if text[0] == "." else f"{level} {text}" if text[0] == "(" else f"{level}: {text}"


def confinement_missing(report: ConfinementReport) -> tuple[str, ...]:
    """What keeps the confinement from FULL, one line each (nothing when FULL)."""
    return () if report.level == ConfinementLevel.FULL else tuple(report.missing)


class AboutDialog(QDialog):
    def __init__(
        self, server_version: ServerVersion = None, parent: QWidget | None = None, *, confinement: Confinement = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About StratForge")
        self.postgres_version: str | None = None  # the server's answer (or why there is none), once known
        self.confinement: ConfinementReport | None = None  # the probe's report, once known
        self.confinement_text: str | None = None  # its row (or why there is none), once known
        self._labels: dict[str, QLabel] = {}
        self._relay = _Relay(self)
        self._relay.answered.connect(self._answered)
        self._tasks: list[asyncio.Future[object]] = []

        title = QLabel(f"<h2>StratForge {app_version()}</h2>")
        title.setObjectName("aboutTitle")
        blurb = QLabel("Desktop paper-trading workstation: virtual accounts on a shared paper account, strategies, "
                       "backtests.")  # fmt: skip
        blurb.setWordWrap(True)
        header = QHBoxLayout()
        icon = QLabel()
        pixmap = QPixmap(str(ICON_PATH)) if ICON_PATH.exists() else QPixmap()
        if not pixmap.isNull():
            icon.setPixmap(pixmap.scaled(64, 64, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation))  # fmt: skip
        header.addWidget(icon)
        texts = QVBoxLayout()
        texts.addWidget(title)
        texts.addWidget(blurb)
        header.addLayout(texts, 1)

        form = QFormLayout()
        for name, value in self._static_versions():
            form.addRow(f"{name}:", self._label(name, value))
        form.addRow("PostgreSQL:", self._label("PostgreSQL", ASKING))
        form.addRow(f"{CONFINEMENT}:", self._label(CONFINEMENT, CHECKING))
        self.missing_label = QLabel()
        self.missing_label.setObjectName("aboutConfinementMissing")
        self.missing_label.setWordWrap(True)
        self.missing_label.setTextFormat(Qt.TextFormat.PlainText)
        self.missing_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.missing_label.hide()
        form.addRow("", self.missing_label)

        self.copy_button = QPushButton("Copy")
        self.copy_button.setObjectName("aboutCopy")
        self.copy_button.setToolTip("Copy these versions to the clipboard (for a bug report)")
        self.copy_button.clicked.connect(self.copy_to_clipboard)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self._ask("PostgreSQL", server_version, str)
        self._ask(CONFINEMENT, confinement, ConfinementReport)

    # --- versions ---

    @staticmethod
    def _static_versions() -> list[tuple[str, str]]:
        frozen = " (bundled)" if getattr(sys, "frozen", False) else ""
        return [
            ("StratForge", app_version()),
            ("Python", f"{platform.python_version()}{frozen}"),
            ("Qt", qVersion()),
            ("PySide6", PySide6.__version__),
            ("Platform", platform.platform(terse=True)),
        ]

    def versions(self) -> list[tuple[str, str]]:
        """Every row as (name, text), the PostgreSQL row as it reads now."""
        return [(name, label.text()) for name, label in self._labels.items()]

    def missing(self) -> tuple[str, ...]:
        """What the confinement lacks, as listed under its row (empty when FULL or not known yet)."""
        return confinement_missing(self.confinement) if self.confinement is not None else ()

    def text(self) -> str:
        rows = [f"{name}: {value}" for name, value in self.versions()]
        return "\n".join(rows + [f"  missing: {line}" for line in self.missing()])

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.text())

    def _label(self, name: str, value: str) -> QLabel:
        label = QLabel(value)
        label.setObjectName(f"aboutVersion{name}")
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._labels[name] = label
        return label

    # --- the server's version and the confinement, off the GUI thread ---

    def _ask(self, row: str, source: object, kind: type) -> None:
        """Fill ``row`` from ``source``: None (nothing to ask), a value of ``kind``, an awaitable (awaited on the
        loop) or a callable (run on a worker thread)."""
        if source is None:
            self._answered(row, None, False)
        elif isinstance(source, kind):
            self._answered(row, source, True)
        elif inspect.isawaitable(source):
            task: asyncio.Future[object] = asyncio.ensure_future(source)
            self._tasks.append(task)
            task.add_done_callback(lambda done: self._awaited(row, done))
        elif callable(source):
            name = f"about-{row.lower().replace(' ', '-')}"
            threading.Thread(target=_answer, args=(row, source, self._relay), name=name, daemon=True).start()
        else:
            raise TypeError(f"{row}: expected a {kind.__name__}, a callable or an awaitable, not {type(source)}")

    def _awaited(self, row: str, task: asyncio.Future[object]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        self._answered(row, task.result() if exc is None else _unavailable(exc), exc is None)

    def _answered(self, row: str, value: object, ok: bool) -> None:
        if row == CONFINEMENT:
            self._set_confinement(value if ok else None, None if ok else str(value or NOT_CHECKED))
        else:
            self._set_postgres(str(value) if value is not None else NOT_CONNECTED, ok)

    def _set_postgres(self, text: str, ok: bool) -> None:
        self.postgres_version = text
        label = self._labels["PostgreSQL"]
        label.setText(text)
        label.setProperty("ok", ok)

    def _set_confinement(self, report: object, failure: str | None) -> None:
        if not isinstance(report, ConfinementReport):
            report, failure = None, failure or f"unavailable (not a confinement report: {type(report).__name__})"
        self.confinement = report
        self.confinement_text = confinement_line(report) if report is not None else failure
        label = self._labels[CONFINEMENT]
        label.setText(self.confinement_text or NOT_CHECKED)
        label.setProperty("level", report.level.value if report is not None else "")
        missing = self.missing()
        self.missing_label.setText("\n".join(f"• {line}" for line in missing))
        self.missing_label.setVisible(bool(missing))
        if missing:
            label.setToolTip("Missing:\n" + "\n".join(missing))

    def done(self, result: int) -> None:
        for task in self._tasks:
            if not task.done():
                task.cancel()
        super().done(result)


def _answer(row: str, fetch: Callable[[], object], relay: _Relay) -> None:
    """Worker thread: call ``fetch`` and send its value (or why it failed) to the GUI thread."""
    try:
        value, ok = fetch(), True
    except Exception as exc:
        value, ok = _unavailable(exc), False
    with contextlib.suppress(RuntimeError):  # the dialog (and its relay) were deleted meanwhile
        relay.answered.emit(row, value, ok)


def _unavailable(exc: BaseException) -> str:
    log.info("About: a value is unavailable", exc_info=exc)
    if is_connection_error(exc) or looks_like_a_driver_error(str(exc)):
        return f"unavailable ({NO_ANSWER})"  # never the driver's socket path
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"unavailable ({message[:200]})"


def install_about_action(
    window: QMainWindow,
    server_version: Callable[[], ServerVersion],
    confinement: Callable[[], Confinement] | None = None,
) -> QAction:
    """Add Help > About StratForge to ``window``'s menu bar; ``server_version`` and ``confinement`` are called
    each time the dialog opens (return an awaitable such as ``runner.call(fetch_server_version, engine)`` or
    ``runner.call(probe_confinement)``, a callable, or a value)."""
    menu = window.menuBar().addMenu("&Help")
    menu.setObjectName("helpMenu")
    action = QAction("&About StratForge", window)
    action.setObjectName("aboutAction")
    action.setMenuRole(QAction.MenuRole.AboutRole)

    def show_about() -> None:
        dialog = AboutDialog(server_version(), parent=window,
                             confinement=confinement() if confinement is not None else None)  # fmt: skip
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

    action.triggered.connect(show_about)
    menu.addAction(action)
    return action
