"""A background flush a short window after work arrives, on a thread that exists only while there is work.

The ledger collects writes that may be a few milliseconds late (NOTIFYs, order
acceptances) and sends each batch as one statement. Both need the same thread
life cycle: started by the first piece of work, woken by later ones, flushing
once per window, and gone after a few idle seconds so an idle client holds no
thread and no connection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class WindowedFlusher:
    """``poke()`` after adding work; ``flush`` then runs on the background thread ``window_s`` later (work poked
    meanwhile joins that flush). The owner keeps the work and its own lock; ``flush`` takes what is there."""

    def __init__(self, flush: Callable[[], None], *, window_s: float, idle_exit_s: float, name: str) -> None:
        self._flush = flush
        self._window_s = window_s
        self._idle_exit_s = idle_exit_s
        self._name = name
        self._lock = threading.Lock()
        self._poked = False  # work arrived since the last flush began
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        with self._lock:
            self._poked = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            if not self._wake.wait(self._idle_exit_s):
                with self._lock:
                    if not self._poked:
                        self._thread = None
                        return
                continue
            self._wake.clear()
            time.sleep(self._window_s)  # let the work of this moment join one flush
            with self._lock:
                self._poked = False
            self._flush()
