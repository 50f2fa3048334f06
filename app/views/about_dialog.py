"""Help > About StratForge: the version (app/version.py) and those of Python, Qt, PySide6 and PostgreSQL.

The PostgreSQL version is the server's own (``SHOW server_version``: the embedded one, or the shared database's),
which means a round trip to the database: the dialog never makes it on the GUI thread. It takes the value itself,
an awaitable (``runner.call(server_version, engine)``, from ``core.services.database_info``), or a blocking
callable that it runs on a worker thread; until the answer arrives the row says "asking the server…". "Copy" puts
every line on the clipboard, for a bug report.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
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

ServerVersion = str | Callable[[], str] | Awaitable[str] | None
ASKING = "asking the server…"
NOT_CONNECTED = "not connected"
ICON_PATH = Path(__file__).resolve().parents[2] / "resources" / "icons" / "stratforge-256.png"


def app_icon() -> QIcon:
    """The application icon (resources/icons), or an empty icon when the file is missing."""
    return QIcon(str(ICON_PATH)) if ICON_PATH.exists() else QIcon()


class _Relay(QObject):
    """Carries a worker thread's answer to the GUI thread (a queued signal; dropped if the dialog is gone)."""

    answered = Signal(str, bool)  # text, ok


class AboutDialog(QDialog):
    def __init__(self, server_version: ServerVersion = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About StratForge")
        self.postgres_version: str | None = None  # the server's answer (or why there is none), once known
        self._labels: dict[str, QLabel] = {}
        self._relay = _Relay(self)
        self._relay.answered.connect(self._set_postgres)
        self._task: asyncio.Future[str] | None = None

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
        self._ask(server_version)

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

    def text(self) -> str:
        return "\n".join(f"{name}: {value}" for name, value in self.versions())

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.text())

    def _label(self, name: str, value: str) -> QLabel:
        label = QLabel(value)
        label.setObjectName(f"aboutVersion{name}")
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._labels[name] = label
        return label

    # --- the server's version, off the GUI thread ---

    def _ask(self, server_version: ServerVersion) -> None:
        if server_version is None:
            self._set_postgres(NOT_CONNECTED, False)
        elif isinstance(server_version, str):
            self._set_postgres(server_version, True)
        elif inspect.isawaitable(server_version):
            self._task = asyncio.ensure_future(server_version)
            self._task.add_done_callback(self._awaited)
        elif callable(server_version):
            relay = self._relay
            threading.Thread(target=_answer, args=(server_version, relay), name="about-pg-version", daemon=True).start()
        else:
            raise TypeError(f"server_version must be a str, a callable or an awaitable, not {type(server_version)}")

    def _awaited(self, task: asyncio.Future[str]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        self._set_postgres(str(task.result()) if exc is None else _unavailable(exc), exc is None)

    def _set_postgres(self, text: str, ok: bool) -> None:
        self.postgres_version = text
        label = self._labels["PostgreSQL"]
        label.setText(text)
        label.setProperty("ok", ok)

    def done(self, result: int) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        super().done(result)


def _answer(fetch: Callable[[], str], relay: _Relay) -> None:
    """Worker thread: call ``fetch`` and send the text (or why it failed) to the GUI thread."""
    try:
        text, ok = str(fetch()), True
    except Exception as exc:
        text, ok = _unavailable(exc), False
    with contextlib.suppress(RuntimeError):  # the dialog (and its relay) were deleted meanwhile
        relay.answered.emit(text, ok)


def _unavailable(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"unavailable ({message[:200]})"


def install_about_action(window: QMainWindow, server_version: Callable[[], ServerVersion]) -> QAction:
    """Add Help > About StratForge to ``window``'s menu bar; ``server_version`` is called each time the dialog
    opens (return an awaitable such as ``runner.call(fetch_server_version, engine)``, a callable, or a value)."""
    menu = window.menuBar().addMenu("&Help")
    menu.setObjectName("helpMenu")
    action = QAction("&About StratForge", window)
    action.setObjectName("aboutAction")
    action.setMenuRole(QAction.MenuRole.AboutRole)

    def show_about() -> None:
        dialog = AboutDialog(server_version(), parent=window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

    action.triggered.connect(show_about)
    menu.addAction(action)
    return action
