"""SIGTERM and SIGINT end the app the way Quit does: windows closed, workstation stopped, embedded server stopped.

Without this, SIGTERM (a logout, a shutdown, ``kill``) ended the process at once and left the embedded PostgreSQL
running, and SIGINT (Ctrl+C in the terminal) raised KeyboardInterrupt wherever Python happened to be. On POSIX
the qasync loop is a selector loop, so ``loop.add_signal_handler`` works: the C handler writes to the loop's
wake-up socket and the callback runs on the GUI thread at once, even while Qt sits idle in its own event loop
(measured: 0.3 s signal -> callback, the delay of the test's own timer). Windows has no ``add_signal_handler``:
there ``signal.signal`` is used and a 200 ms timer gives Python the chance to run the handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)

HANDLED = (signal.SIGTERM, signal.SIGINT)
WAKE_MS = 200  # Windows only: how often Python gets the chance to run a pending signal handler


class ShutdownSignals:
    """Installed for the app's session; ``requested`` is the signal that asked to quit, if one did."""

    def __init__(self, on_request: Callable[[], None] | None = None) -> None:
        self.requested: int | None = None
        self._on_request = on_request or close_all_windows
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, object] = {}
        self._wake: QTimer | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        before = {sig: signal.getsignal(sig) for sig in HANDLED}  # put back by uninstall (asyncio would reset them)
        try:
            for sig in HANDLED:
                loop.add_signal_handler(sig, self._received, sig)
            self._loop = loop
            self._previous = {sig: handler for sig, handler in before.items() if handler is not None}
            return
        except (NotImplementedError, RuntimeError, ValueError) as exc:  # Windows; not the main thread
            for sig in HANDLED:
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(sig)
            log.debug("no loop signal handlers (%s); using signal.signal", exc)
        try:
            for sig in HANDLED:
                self._previous[sig] = signal.signal(sig, self._python_handler)
        except ValueError:  # not the main thread: leave the signals alone
            self._previous.clear()
            return
        self._wake = QTimer()
        self._wake.setInterval(WAKE_MS)
        self._wake.timeout.connect(lambda: None)
        self._wake.start()

    def uninstall(self) -> None:
        if self._loop is not None:
            for sig in HANDLED:
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    self._loop.remove_signal_handler(sig)
            self._loop = None
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous.clear()
        if self._wake is not None:
            self._wake.stop()
            self._wake = None

    def _python_handler(self, signum: int, _frame: object) -> None:
        QTimer.singleShot(0, lambda: self._received(signum))

    def _received(self, signum: int) -> None:
        self.requested = signum
        log.info("%s received: closing StratForge as Quit does", signal.Signals(signum).name)
        self._on_request()  # every time: a second signal closes whatever opened since the first


def close_all_windows() -> None:
    """Every top-level window closes as if its close button were pressed: the main window through its
    closeEvent (the path Quit takes), a dialog by rejecting, the splash by hiding."""
    app = QApplication.instance()
    if isinstance(app, QApplication):
        app.closeAllWindows()
