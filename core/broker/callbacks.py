"""The callbacks a broker hands values to from its own threads (order events, connection and session news).

Every broker adapter keeps such lists: handlers are added and removed from any thread while a poller or a stream's
dispatch thread is calling them. So: adding and removing take a lock, each round of calls works on a copy taken
under it (a handler may remove itself), and one callback that raises never keeps the value from the others; its
traceback goes to the broker's log, named by ``what``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable


class Callbacks[T]:
    def __init__(self, what: str, log: logging.Logger) -> None:
        self._what = what
        self._log = log
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[T], object]] = []

    def add(self, callback: Callable[[T], object]) -> None:
        with self._lock:
            self._callbacks.append(callback)

    def remove(self, callback: Callable[[T], object]) -> None:
        """Forget ``callback``; one that was never added is ignored (a handler may be removed twice on close)."""
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def __len__(self) -> int:
        with self._lock:
            return len(self._callbacks)

    def call(self, value: T) -> None:
        self.call_each((value,))

    def call_each(self, values: Iterable[T]) -> None:
        """Hand each value, in order, to the callbacks registered when the call began."""
        with self._lock:
            callbacks = list(self._callbacks)
        for value in values:
            for callback in callbacks:
                try:
                    callback(value)
                except Exception:
                    self._log.exception("%s %r failed", self._what, callback)
