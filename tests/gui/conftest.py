"""GUI test fixtures: offscreen Qt, a qasync loop that pytest-qt's event processing drives, and the
app's worker-thread runner."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import qasync
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.async_runner import BlockingRunner
from app.display_time import display_time
from app.gui_gc import GuiThreadGarbageCollector
from core.domain.display_time import DEFAULT_ZONE

STRONG_PASSWORD = "Tr4ding-Pass-2026"


@pytest.fixture(scope="package", autouse=True)
def gui_thread_garbage_collection(qapp: QApplication) -> Iterator[GuiThreadGarbageCollector]:
    """As in the app: reference cycles (many hold Qt objects) are collected on the GUI thread only, never on a
    worker that happens to allocate (which left Qt timers of freed objects registered: a segfault later)."""
    collector = GuiThreadGarbageCollector()
    collector.start()
    yield collector
    collector.stop()


@pytest.fixture(autouse=True)
def exchange_time(qapp: QApplication) -> Iterator[None]:
    """Every test starts and ends showing exchange (New York) time, the app's default: a test that switches the
    application's display zone must not change what the next one reads."""
    display_time().set_zone(DEFAULT_ZONE)
    yield
    display_time().set_zone(DEFAULT_ZONE)


@pytest.fixture
def qasync_loop(qapp: QApplication, qtbot: QtBot) -> Iterator[asyncio.AbstractEventLoop]:
    """An asyncio loop living on the Qt event loop, marked running so widgets can start tasks.

    Nothing calls loop.run_forever(): qtbot.wait/waitUntil process Qt events, and with them the
    loop's callbacks, exactly as the app's own event loop does.
    """
    loop = qasync.QEventLoop(qapp, already_running=True)
    try:
        yield loop
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            qtbot.waitUntil(lambda: all(t.done() for t in pending), timeout=5000)
        # Not loop.stop(): it calls QApplication.exit(), which in Qt 6 also sets the thread's quitNow flag
        # when no exec() is running, and every later nested event loop (qtbot.waitSignal) would then
        # return at once. Mark the loop stopped the way run_forever() does on its way out.
        asyncio.events._set_running_loop(None)
        loop._QEventLoop__is_running = False  # type: ignore[attr-defined]
        loop.close()


@pytest.fixture
def runner(qasync_loop: asyncio.AbstractEventLoop) -> Iterator[BlockingRunner]:
    r = BlockingRunner(max_workers=2)
    try:
        yield r
    finally:
        r.shutdown()


@pytest.fixture
def fresh_loop(qapp: QApplication) -> Iterator[Callable[..., list[Any]]]:
    """run(*coros): runs coroutines concurrently to completion on a new qasync loop (as asyncio.run
    does in the app) and returns their results as a list; leftover tasks are cancelled and top-level
    windows closed afterwards, so a failure cannot hang."""
    loop = qasync.QEventLoop(qapp)

    async def together(*coros: Coroutine[Any, Any, Any]) -> list[Any]:
        return await asyncio.gather(*coros)

    def run(*coros: Coroutine[Any, Any, Any]) -> list[Any]:
        return loop.run_until_complete(together(*coros))

    try:
        yield run
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        for widget in QApplication.topLevelWidgets():
            widget.close()


async def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> object:
    """Await until predicate() is truthy (returning its value); raises TimeoutError after `timeout` s.

    The coroutine counterpart of qtbot.waitUntil, for code already running inside the event loop
    (a nested qtbot wait there would re-enter the running task)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


@pytest.fixture
def workstation(qasync_loop: asyncio.AbstractEventLoop, qtbot: QtBot, runner: BlockingRunner, db: Any) -> Iterator[Any]:
    """A started simulated workstation on the test database at 600x (a simulated minute every 0.1 s), with a
    short backfill so preparing a symbol is quick; stopped and closed afterwards."""
    from datetime import timedelta

    from core.live.workstation import simulated
    from core.market.store import BarStore

    ws = simulated(BarStore(db.engine), db.session_factory, speed=600, seed=11, backfill=timedelta(hours=6))
    started = qasync_loop.create_task(ws.start())
    qtbot.waitUntil(started.done, timeout=10_000)
    started.result()
    try:
        yield ws
    finally:
        stopped = qasync_loop.create_task(ws.stop())
        qtbot.waitUntil(stopped.done, timeout=10_000)
        ws.close()
