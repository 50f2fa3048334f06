"""One timed start of the app, up to a usable window: run in a fresh process by ``bench.startup``.

The steps are the app's own (``app.entry`` then ``app.application.main_async``, without its dialogs): open the
data folder's embedded PostgreSQL (initdb and migrations on a new folder) on a thread begun before the heavy
imports; sign the trader up and log them in on a new folder (what the login dialog does when the trader presses
its button; the dialog itself waits on a person, so it is not part of the figure) or resume their remembered
log-in on an existing one (a warm start with "remember me"); start the workstation (the simulated market: no
keys); build and show the main window, and wait until the chart has PAINTED with bars. It prints ``USABLE`` the
moment that paint ends, so the parent measures from before it started this process (the interpreter's start and
every import included) to that line. The window then closes as Quit closes it; the time that takes is printed.

    python -m bench.startup_window --data-dir DIR
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

BENCH_USER, BENCH_EMAIL, BENCH_PASSWORD = "bench", "bench@example.com", "Quiet-Harbor-Lantern-2026"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")  # no keys: simulated market
    from app import early_database

    early_database.begin(["--data-dir", str(args.data_dir)])  # as app.entry does, before the heavy imports
    import qasync
    from PySide6.QtWidgets import QApplication

    from app.themes import apply_theme

    app = QApplication.instance() or QApplication(["stratforge-bench"])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    apply_theme(app, "dark")
    try:
        figures = asyncio.run(asyncio.wait_for(_start(args.data_dir), 120), loop_factory=qasync.QEventLoop)
    finally:
        early_database.discard()
    print(json.dumps(figures), flush=True)
    return 0


async def _start(data_dir: Path) -> dict[str, float | bool]:
    from PySide6.QtCore import QEvent, QObject

    from app import early_database
    from app.async_runner import BlockingRunner
    from app.live_setup import start_workstation, stop_workstation
    from app.views.main_window import MainWindow
    from core.accounts import AccountService
    from core.accounts.secrets import SecretStore
    from core.config import Settings
    from core.db.database import open_database

    runner = BlockingRunner()
    settings = Settings.from_env(data_dir=data_dir, database_url=None)
    database = await runner.call(early_database.take(settings) or open_database, settings)
    accounts = AccountService(database.session_factory)
    remembered = data_dir / "bench-login-token"  # what the keyring keeps for "remember me"
    if database.cold_start or not remembered.exists():
        if database.cold_start:
            await runner.call(accounts.sign_up, BENCH_EMAIL, BENCH_USER, BENCH_PASSWORD)
        login = await runner.call(accounts.log_in, BENCH_USER, BENCH_PASSWORD, True)
        remembered.write_text(login.token)
        user = login.user
    else:  # a warm start of a trader who ticked "remember me": the token, no password, no dialog
        user = await runner.call(accounts.resume, remembered.read_text())
    live = await start_workstation(database, runner, SecretStore())
    window = MainWindow(user, database, runner, live.workstation)
    painted = asyncio.get_running_loop().create_future()

    class PaintWatch(QObject):
        """Resolves ``painted`` after the first paint of the chart that had bars to draw."""

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and window.chart.bar_count > 0 and not painted.done():
                asyncio.get_running_loop().call_soon(lambda: painted.done() or painted.set_result(None))
            return False

    watch = PaintWatch()
    window.chart.graphics.viewport().installEventFilter(watch)
    window.show()
    await painted
    print("USABLE", flush=True)
    closing = time.perf_counter()
    closed = asyncio.get_running_loop().create_future()
    window.closed.connect(lambda: closed.done() or closed.set_result(None))
    window.close()
    await closed
    await stop_workstation(live.workstation, runner)
    await runner.call(database.close)
    runner.shutdown()
    return {"close_s": time.perf_counter() - closing, "cold": bool(database.cold_start)}


if __name__ == "__main__":
    sys.exit(main())
