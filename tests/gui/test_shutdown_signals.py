"""The real app in a child process: SIGTERM and SIGINT end it as cleanly as Quit (exit code 0, the embedded
PostgreSQL stopped), and a kill -9 of its database server is survived (restarted, the status bar says so).

The child is tests/gui/app_driver.py: offscreen, a fresh data folder, a remembered login so the main window opens
without a person; it prints what the trader sees, line by line.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import psutil
import pytest

from app.shutdown_signals import ShutdownSignals

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180  # a cold start: initdb, migrations, the simulated market's backfill, on a busy machine


class RunningApp:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
        env.pop("STRATFORGE_DATABASE_URL", None)
        self._errors: IO[str] = (data_dir.parent / f"{data_dir.name}-stderr.txt").open("w+")  # a file: a full
        self.child = subprocess.Popen(  # pipe would block the app
            [sys.executable, "-m", "tests.gui.app_driver", str(data_dir)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=self._errors, text=True,
        )  # fmt: skip
        self.lines: list[str] = []

    def read_until(self, prefix: str, timeout: float) -> str:
        """The next line starting with ``prefix`` (every line read is kept in ``lines``)."""
        assert self.child.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.child.poll() is None:
            line = self.child.stdout.readline().rstrip("\n")
            self.lines.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no {prefix!r} line; saw {self.lines}; stderr: {self.stderr()}")

    def stderr(self) -> str:
        self._errors.seek(0)
        return self._errors.read()[-4000:]

    def postmaster_pid(self) -> int:
        return int((self.data_dir / "db" / "postgres" / "postmaster.pid").read_text().split()[0])

    def close(self) -> None:
        if self.child.poll() is None:
            self.child.kill()
            self.child.wait(10)
        self._errors.close()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[RunningApp]:
    running = RunningApp(tmp_path / "data")
    yield running
    running.close()


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_closes_the_app_like_quit_and_stops_its_database(app: RunningApp, sig: signal.Signals) -> None:
    postmaster = int(app.read_until("READY", START_TIMEOUT_S).split()[1])
    assert alive(postmaster)

    app.child.send_signal(sig)
    code = app.child.wait(timeout=60)

    assert code == 0, app.stderr()
    assert not (app.data_dir / "db" / "postgres" / "postmaster.pid").exists()
    assert not alive(postmaster)


def test_a_killed_database_server_is_restarted_and_the_status_bar_says_so(app: RunningApp) -> None:
    postmaster = int(app.read_until("READY", START_TIMEOUT_S).split()[1])
    app.read_until("DB DB: embedded PostgreSQL — connected", 10)

    os.kill(postmaster, signal.SIGKILL)

    app.read_until("DB DB: restarting…", 30)
    app.read_until("DB DB: embedded PostgreSQL — reconnected", 60)
    restarted = app.postmaster_pid()
    assert restarted != postmaster and alive(restarted)
    assert not any(".s.PGSQL" in line or "OperationalError" in line for line in app.lines), app.lines

    app.child.send_signal(signal.SIGTERM)  # and the restarted server is still the app's to stop
    assert app.child.wait(timeout=60) == 0, app.stderr()
    assert not alive(restarted)


def test_each_signal_asks_again_and_is_remembered(qapp: object) -> None:
    """The handler itself: it records the signal and closes the windows every time (a window shown after the
    first signal is closed by the second)."""
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


def test_the_handlers_that_were_there_before_are_put_back(qapp: object) -> None:
    def before(_signum: int, _frame: object) -> None:
        pass

    previous = signal.signal(signal.SIGTERM, before)
    loop = asyncio.new_event_loop()
    try:
        handlers = ShutdownSignals(on_request=lambda: None)
        handlers.install(loop)
        assert signal.getsignal(signal.SIGTERM) is not before
        handlers.uninstall()
        assert signal.getsignal(signal.SIGTERM) is before
    finally:
        loop.close()
        signal.signal(signal.SIGTERM, previous)
