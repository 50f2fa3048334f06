"""The real app session in a child process, for tests that signal it or kill its database.

``python -m tests.gui.app_driver <data-dir>``: a user with a remembered login (so the main window opens without a
person), then app.application.main_async on the embedded database. It prints ``READY <postmaster pid>`` once the
main window shows, then one line per change of what the trader sees: ``DB <status bar label>`` and
``PORTFOLIO <error line or "ok">``. The exit code is main_async's.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import keyring
import qasync
from PySide6.QtWidgets import QApplication, QLabel

from app.application import main_async
from app.views.main_window import MainWindow
from core.accounts import AccountService
from core.accounts.token_store import KeyringTokenStore
from core.config import Settings
from core.db.database import open_database
from tests.keyrings import MemoryKeyring

PASSWORD = "Quiet-Harbor-Lantern-2026"


def main_window() -> MainWindow | None:
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, MainWindow) and widget.isVisible():
            return widget
    return None


async def report(data_dir: Path) -> None:
    while (window := main_window()) is None:
        await asyncio.sleep(0.1)
    pid = (data_dir / "db" / "postgres" / "postmaster.pid").read_text().split()[0]
    print("READY", pid, flush=True)
    seen: dict[str, str] = {}
    while True:
        label = window.findChild(QLabel, "dbStatus")
        error = window.portfolio.error_label
        now = {
            "DB": label.text() if label is not None else "",
            "PORTFOLIO": error.text() if error.isVisible() and error.text() else "ok",
        }
        for key, text in now.items():
            if seen.get(key) != text:
                print(key, text, flush=True)
        seen = now
        await asyncio.sleep(0.05)


async def session(settings: Settings) -> int:
    watcher = asyncio.ensure_future(report(settings.data_dir))
    try:
        return await main_async(settings)
    finally:
        watcher.cancel()


def main(data_dir: Path) -> int:
    keyring.set_keyring(MemoryKeyring())
    settings = Settings(data_dir=data_dir, database_url=None)
    db = open_database(settings)
    try:
        accounts = AccountService(db.session_factory)
        accounts.sign_up("driver@example.com", "driver", PASSWORD)
        KeyringTokenStore(db.display_url).save(accounts.log_in("driver", PASSWORD).token)
    finally:
        db.close()
    QApplication(["stratforge"])
    return asyncio.run(session(settings), loop_factory=qasync.QEventLoop)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
