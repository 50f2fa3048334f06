"""The windowed background flush shared by the coalescing notifier and the acceptance writer."""

from __future__ import annotations

import threading
import time

from core.db.windowed import WindowedFlusher


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def flusher_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def test_work_poked_together_is_flushed_together_then_the_thread_leaves_and_comes_back():
    pending: list[int] = []
    batches: list[list[int]] = []
    lock = threading.Lock()

    def flush() -> None:
        with lock:
            batch, pending[:] = list(pending), []
        if batch:
            batches.append(batch)

    flusher = WindowedFlusher(flush, window_s=0.05, idle_exit_s=0.2, name="test-flusher-cycle")
    assert flusher_threads("test-flusher-cycle") == []  # nothing runs before there is work
    for item in (1, 2, 3):
        with lock:
            pending.append(item)
        flusher.poke()
    assert wait_for(lambda: batches == [[1, 2, 3]])  # one flush for the work of one window

    assert wait_for(lambda: flusher_threads("test-flusher-cycle") == [])  # idle: the thread is gone
    with lock:
        pending.append(4)
    flusher.poke()
    assert wait_for(lambda: batches == [[1, 2, 3], [4]])  # and started again by new work


def test_work_poked_while_a_flush_runs_gets_a_flush_of_its_own():
    started, release = threading.Event(), threading.Event()
    seen: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        batch, pending[:] = list(pending), []
        if batch == ["first"]:
            started.set()
            release.wait(5)
        seen.extend(batch)

    flusher = WindowedFlusher(flush, window_s=0.01, idle_exit_s=0.5, name="test-flusher-overlap")
    pending.append("first")
    flusher.poke()
    assert started.wait(5)
    pending.append("second")  # arrives while the first batch is being written
    flusher.poke()
    release.set()
    assert wait_for(lambda: seen == ["first", "second"])
