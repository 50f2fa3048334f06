"""Bridge between the Qt GUI thread and blocking core calls.

Core services are synchronous (SQLAlchemy, argon2, the embedded PostgreSQL). Widgets await them
through `BlockingRunner.call`, which runs them on the app's own thread pool so the GUI never
freezes. The pool is ours, not the event loop's default executor, because qasync's loop.close()
waits for the default executor and a blocking job still running would hang the exit (qasync #115);
ours is shut down without waiting.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from PySide6.QtWidgets import QDialog

log = logging.getLogger(__name__)

T = TypeVar("T")


class BlockingRunner:
    """Runs blocking functions off the GUI thread and keeps fire-and-forget tasks alive."""

    def __init__(self, max_workers: int = 4) -> None:
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="stratforge-worker")
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        # Called with (task name, exception) when a spawned task ends with an error nobody handled: the main
        # window shows it (app.error_reporting) instead of leaving it in the log.
        self.on_error: Callable[[str, BaseException], None] | None = None

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run `fn(*args, **kwargs)` on a worker thread and return (or raise) its result on this thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Start `coro` as a task from a Qt slot; the runner holds a reference until it finishes
        (asyncio keeps only weak ones) and logs any exception it ends with."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            if self.on_error is not None:
                self.on_error(task.get_name(), exc)
            else:
                log.error("background task %s failed", task.get_name(), exc_info=exc)

    @property
    def pending_tasks(self) -> int:
        return len(self._tasks)

    def shutdown(self) -> None:
        """Cancel our tasks and stop the pool without waiting for a job that is still running."""
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)


async def run_dialog(dialog: QDialog) -> int:
    """Show `dialog` and wait for it to finish without a nested event loop (QDialog.exec would
    block the coroutine that called it); returns the dialog's result code."""
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[int] = loop.create_future()

    def on_finished(result: int) -> None:
        if not finished.done():
            finished.set_result(result)

    dialog.finished.connect(on_finished)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    try:
        return await finished
    finally:
        dialog.finished.disconnect(on_finished)
