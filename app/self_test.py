"""`stratforge self-test` (or `--self-test`): does this installation work? Used by packaging/smoke on the frozen bundle.

One run of the real stack, without a display and without a person: open the data folder's embedded PostgreSQL
(initdb on a fresh folder) and migrate it, check the schema is at this build's head, read the server's version,
sign a user up and log them in, run a strategy in the sandbox (a child process of this executable), run a
two-worker parameter sweep (multiprocessing's fork server or spawn), show the main window on the simulated market
until it is exposed, open and close the About dialog, close the window, stop the workstation and the database.
Each step prints one line; the last line is ``SELF-TEST OK {json}`` (timings included) and the exit code 0, or
``SELF-TEST FAILED at <step>: <error>`` and exit code 1.

The data folder is ``--data-dir`` (or $STRATFORGE_DATA_DIR); without either, a fresh temporary one that is removed
afterwards. Nothing of Qt is imported at module level: sweep workers import this module to find its strategy class.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.strategy.api import BarData, Param, SignalStrategy
from core.strategy.indicators import rsi

SELF_TEST_EMAIL = "self-test@example.com"
SELF_TEST_USER = "selftest"
SELF_TEST_PASSWORD = "Quiet-Harbor-Lantern-2026"
EXIT_OK, EXIT_FAILED = 0, 1

SANDBOX_SOURCE = """\
import numpy as np
from core.strategy.indicators import sma


def check(n):
    x = np.arange(float(n))
    return float(np.nansum(sma(x, 3)))
"""


class SelfTestSignals(SignalStrategy):
    """A TA-Lib signal strategy on the numba fast path, for the sweep step (module level: workers unpickle it)."""

    period = Param(14, min=2, max=50)

    def signals(self, data: BarData) -> tuple[np.ndarray, np.ndarray]:
        r = rsi(data.close, self.period)
        with np.errstate(invalid="ignore"):
            return r < 30, r > 55


class SelfTestFailed(Exception):
    def __init__(self, step: str, error: BaseException | str) -> None:
        super().__init__(f"{step}: {error}")
        self.step, self.error = step, error


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="stratforge self-test",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  stratforge self-test                             # on a fresh temporary data folder, removed afterwards
  stratforge --self-test --data-dir ~/sf-data --no-workers --timeout 120

The last line is SELF-TEST OK {...} (exit 0) or SELF-TEST FAILED at <step>: <error> (exit 1).""",
    )
    parser.add_argument("--data-dir", type=Path, help="data folder (default: $STRATFORGE_DATA_DIR, else a temp one)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds the whole test may take")
    parser.add_argument("--no-workers", action="store_true", help="skip the sandbox and sweep steps")
    return parser.parse_args(list(argv))


def process_age_s() -> float | None:
    """Seconds since this process was created (so the figure includes the bundle's own start-up)."""
    try:
        import psutil

        return time.time() - psutil.Process().create_time()
    except Exception:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[2:] if argv is None else argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    # Never hang a smoke test: past the timeout (plus a margin for shutdown) dump every stack and leave.
    faulthandler.dump_traceback_later(args.timeout + 60, exit=True)
    data_dir, temporary = _data_dir(args.data_dir)
    print(f"self-test: data folder {data_dir}", flush=True)
    try:
        figures = _run_in_qt(args, data_dir)
    except SelfTestFailed as exc:
        print(f"SELF-TEST FAILED at {exc.step}: {exc.error}", flush=True)
        return EXIT_FAILED
    finally:
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)
    print("SELF-TEST OK " + json.dumps(figures, sort_keys=True), flush=True)
    return EXIT_OK


def _data_dir(given: Path | None) -> tuple[Path, bool]:
    if given is not None:
        return given.expanduser().resolve(), False
    env = os.environ.get("STRATFORGE_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve(), False
    return Path(tempfile.mkdtemp(prefix="stratforge-self-test-")), True


def _run_in_qt(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    import qasync
    from PySide6.QtWidgets import QApplication

    from app.themes import apply_theme

    app = QApplication.instance() or QApplication(["stratforge-self-test"])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    app.setApplicationName("StratForge")
    apply_theme(app, "dark")

    async def bounded() -> dict[str, Any]:
        from app.gui_gc import GuiThreadGarbageCollector

        collector = GuiThreadGarbageCollector()  # as the app does: cycles holding Qt objects die on this thread
        collector.start()
        try:
            return await asyncio.wait_for(_steps(args, data_dir), args.timeout)
        except TimeoutError:
            raise SelfTestFailed("timeout", f"the self-test took more than {args.timeout:g} s") from None
        finally:
            collector.stop()

    return asyncio.run(bounded(), loop_factory=qasync.QEventLoop)


async def _steps(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    from app.async_runner import BlockingRunner
    from core.config import Settings
    from core.db import migrate
    from core.db.database import open_database
    from core.services.database_info import server_version

    figures: dict[str, Any] = {"frozen": bool(getattr(sys, "frozen", False))}
    runner = BlockingRunner()
    database = None
    try:
        started = time.perf_counter()
        database = await _step("database", runner.call(open_database, Settings(data_dir=data_dir, database_url=None)))
        figures.update(database_s=round(time.perf_counter() - started, 2), cold_start=database.cold_start)
        _say(f"database open ({database.mode}, initdb: {database.cold_start}) in {figures['database_s']} s")
        current = await _step("migrations", runner.call(migrate.current_revision, database.engine))
        head = await _step("migrations", runner.call(migrate.head_revision))
        if current != head:
            raise SelfTestFailed("migrations", f"schema at {current}, this build's head is {head}")
        figures["schema"] = head
        _say(f"schema at head {head}")
        figures["postgresql"] = await _step("server version", runner.call(server_version, database.engine))
        _say(f"PostgreSQL {figures['postgresql']}")
        user = await _step("sign-up", _sign_up(database, runner))
        _say(f"signed up and logged in as {user.username}")
        figures.update(await _step("window", _window(user, database, runner)))
        _say(f"main window shown {figures['window_shown_s']} s after the process started; closed")
        figures["keyring"] = await runner.call(_keyring_backend)
        _say(f"keyring backend: {figures['keyring']}")
        if not args.no_workers:
            figures["sandbox_s"] = await _step("sandbox", runner.call(_sandbox_check))
            _say(f"sandboxed strategy ran in {figures['sandbox_s']} s")
            figures["sweep_s"], figures["sweep_start_method"] = await _step("sweep", runner.call(_sweep_check))
            _say(f"sweep on 2 workers ({figures['sweep_start_method']}) in {figures['sweep_s']} s")
    finally:
        if database is not None:
            stopped = time.perf_counter()
            await _step("database close", runner.call(database.close))
            figures["database_close_s"] = round(time.perf_counter() - stopped, 2)
            _say("database closed")
        runner.shutdown()
    return figures


async def _step(name: str, awaitable: Any) -> Any:
    try:
        return await awaitable
    except SelfTestFailed:
        raise
    except BaseException as exc:
        import traceback

        traceback.print_exc()
        raise SelfTestFailed(name, f"{type(exc).__name__}: {exc}") from exc


def _say(text: str) -> None:
    print(f"self-test: {text}", flush=True)


async def _sign_up(database: Any, runner: Any) -> Any:
    from core.accounts import AccountService
    from core.accounts.errors import DuplicateAccount

    accounts = AccountService(database.session_factory)
    try:
        await runner.call(accounts.sign_up, SELF_TEST_EMAIL, SELF_TEST_USER, SELF_TEST_PASSWORD)
    except DuplicateAccount:  # a data folder an earlier self-test used: logging in is the test then
        _say("the self-test user exists already (not a fresh data folder)")
    login = await runner.call(accounts.log_in, SELF_TEST_USER, SELF_TEST_PASSWORD)
    return login.user


def _keyring_backend() -> str:
    import keyring

    backend = keyring.get_keyring()
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _sandbox_check() -> float:
    from core.strategy.sandbox import run_sandboxed

    started = time.perf_counter()
    result = run_sandboxed(SANDBOX_SOURCE, "check", (10,), cpu_seconds=20, wall_seconds=60)
    expected = float(np.nansum([1.0 * i for i in range(1, 9)]))  # sma(0..9, 3) = 1..8
    if abs(result.value - expected) > 1e-9:
        raise AssertionError(f"the sandboxed strategy returned {result.value!r}, expected {expected!r}")
    return round(time.perf_counter() - started, 2)


def _sweep_check() -> tuple[float, str]:
    from core.backtest import sweep

    rng = np.random.default_rng(7)
    close = 100 + np.cumsum(rng.normal(0, 1, 500))
    data = BarData.from_arrays("SELF", np.arange(500.0) * 60, close, close + 1, close - 1, close, np.full(500, 1e4))
    started = time.perf_counter()
    runs = sweep.run_sweep(SelfTestSignals, data, [{"period": p} for p in (5, 8, 13, 21)], workers=2)
    failed = [run for run in runs if run.error]
    if len(runs) != 4 or failed:
        raise AssertionError(f"sweep: {len(runs)} runs, failures: {[run.error for run in failed]}")
    return round(time.perf_counter() - started, 2), sweep._context().get_start_method()


async def _window(user: Any, database: Any, runner: Any) -> dict[str, Any]:
    from datetime import timedelta

    from app.views.about_dialog import AboutDialog
    from app.views.main_window import MainWindow
    from core.live.workstation import simulated
    from core.market.store import BarStore
    from core.services.database_info import server_version
    from core.strategy.sandbox.confinement import probe_confinement

    ws = simulated(BarStore(database.engine), database.session_factory, speed=60, seed=1, backfill=timedelta(hours=6))
    await ws.start()
    window = None
    try:
        window = MainWindow(user, database, runner, ws)
        window.show()
        await _until(lambda: window.windowHandle() is not None and window.windowHandle().isExposed(), 30, "exposed")
        shown = process_age_s()
        about = AboutDialog(server_version=lambda: server_version(database.engine), parent=window,
                            confinement=probe_confinement)  # fmt: skip
        about.show()
        await _until(lambda: about.postgres_version is not None, 30, "About: PostgreSQL version")
        await _until(lambda: about.confinement_text is not None, 30, "About: strategy confinement")
        if about.confinement is None:
            raise AssertionError(f"About: the confinement probe failed: {about.confinement_text}")
        versions = dict(about.versions())
        confinement = {"level": about.confinement.level.value, "missing": list(about.missing())}
        about.close()
        await _settle(runner)  # the window's first loads (chart, portfolio, journal) finish before it closes
        return {"window_shown_s": round(shown, 2) if shown is not None else None, "about": versions,
                "confinement": confinement}  # fmt: skip
    finally:
        if window is not None:
            window.close()
            await _settle(runner)  # ...and whatever closing it started, before the database goes
        await ws.stop()
        await runner.call(ws.close)


async def _settle(runner: Any, seconds: float = 10.0) -> None:
    """Until the runner has no background task left (at most ``seconds``; a slow poll may keep one going)."""
    deadline = time.monotonic() + seconds
    await asyncio.sleep(0.2)
    while runner.pending_tasks and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def _until(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not {what} after {seconds:g} s")
        await asyncio.sleep(0.02)
