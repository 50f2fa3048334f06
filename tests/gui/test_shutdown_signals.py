"""SIGTERM and SIGINT end the app as cleanly as Quit: exit code 0, and the embedded PostgreSQL is stopped.

The app runs in a child process (offscreen, a fresh data folder, a remembered login so the main window opens
without a person), the test waits for the window, sends the signal and checks what is left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from app.shutdown_signals import ShutdownSignals

REPO = Path(__file__).resolve().parents[2]

DRIVER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path

    import keyring
    import qasync
    from PySide6.QtWidgets import QApplication

    from app.application import main_async
    from app.views.main_window import MainWindow
    from core.accounts import AccountService
    from core.accounts.token_store import KeyringTokenStore
    from core.config import Settings
    from core.db.database import open_database
    from tests.keyrings import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())
    settings = Settings(data_dir=Path(sys.argv[1]), database_url=None)
    db = open_database(settings)  # a user and a remembered login, so the window opens without a person
    accounts = AccountService(db.session_factory)
    accounts.sign_up("sig@example.com", "sig", "Quiet-Harbor-Lantern-2026")
    KeyringTokenStore(db.display_url).save(accounts.log_in("sig", "Quiet-Harbor-Lantern-2026").token)
    db.close()

    async def session() -> int:
        async def announce() -> None:
            while not any(isinstance(w, MainWindow) and w.isVisible() for w in QApplication.topLevelWidgets()):
                await asyncio.sleep(0.1)
            pid = (Path(sys.argv[1]) / "db" / "postgres" / "postmaster.pid").read_text().split()[0]
            print("READY", pid, flush=True)

        watcher = asyncio.ensure_future(announce())
        try:
            return await main_async(settings)
        finally:
            watcher.cancel()

    app = QApplication(["stratforge"])
    sys.exit(asyncio.run(session(), loop_factory=qasync.QEventLoop))
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_closes_the_app_like_quit_and_stops_its_database(tmp_path: Path, sig: signal.Signals) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    env.pop("STRATFORGE_DATABASE_URL", None)
    errors = (tmp_path / "stderr.txt").open("w")  # a file, not a pipe: a full pipe would block the app
    child = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(tmp_path)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
    )
    log = tmp_path / "stderr.txt"
    try:
        assert child.stdout is not None
        line = ""
        deadline = time.monotonic() + 180
        while not line.startswith("READY") and time.monotonic() < deadline and child.poll() is None:
            line = child.stdout.readline()
        assert line.startswith("READY"), (
            f"the app never showed its window: {child.stderr.read() if child.stderr else ''}"
        )
        postmaster = int(line.split()[1])
        assert psutil.pid_exists(postmaster)

        child.send_signal(sig)
        code = child.wait(timeout=60)

        assert code == 0, log.read_text()
        assert not (tmp_path / "db" / "postgres" / "postmaster.pid").exists()
        assert not _running(postmaster)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        errors.close()


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_each_signal_asks_again_and_is_remembered(qapp: object) -> None:
    """The handler itself: it records the signal and closes the windows every time (a window shown after the
    first signal is closed by the second)."""
    import asyncio

    calls: list[str] = []
    handlers = ShutdownSignals(on_request=lambda: calls.append("close"))
    loop = asyncio.new_event_loop()
    try:
        handlers.install(loop)
        handlers._received(signal.SIGTERM)
        handlers._received(signal.SIGINT)
        handlers.uninstall()
    finally:
        loop.close()
    assert handlers.requested == signal.SIGINT
    assert calls == ["close", "close"]
