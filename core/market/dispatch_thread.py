"""One ordered delivery thread: items queued from an event loop, handled off it.

Live bars and broker trade updates arrive on the asyncio loop (qasync's, in the GUI); handlers touch the database,
so they run here, in arrival order, where a slow handler never stalls the socket and never blocks the GUI thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

_STOP = object()


class DispatchThread:
    """Calls ``deliver`` with each queued item, in order, on one daemon thread."""

    def __init__(self, deliver: Callable[[Any], None], name: str = "alpaca-dispatch") -> None:
        self._deliver = deliver
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def put(self, item: Any) -> None:
        self._queue.put(item)

    def close(self) -> None:
        """Finish what is queued, then end; does not wait (safe to call on the GUI thread)."""
        self._queue.put(_STOP)

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            try:
                self._deliver(item)
            except Exception:  # a failing handler must not stop later events
                log.exception("trade update handler failed")
