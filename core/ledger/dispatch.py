"""Apply broker events on a few worker threads instead of the thread that received them.

A broker delivers events on one thread (SimBroker's bar thread, AlpacaBroker's
dispatch thread). Booking a fill takes a database transaction, so one slow
user's lock would hold up everyone's fills. Events are spread over workers by
order (all events of one order go to the same worker, keeping their order),
which is safe because the ledger applies them by cumulative quantity anyway.
"""

from __future__ import annotations

import logging
import queue
import threading
import zlib
from collections.abc import Callable

from core.domain.orders import OrderEvent

log = logging.getLogger(__name__)

_STOP = object()


class EventWorkers:
    def __init__(self, apply: Callable[[OrderEvent], object], workers: int = 4) -> None:
        self._apply = apply
        self._queues: list[queue.Queue[object]] = [queue.Queue() for _ in range(workers)]
        self._threads = [
            threading.Thread(target=self._work, args=(q,), name=f"ledger-events-{i}", daemon=True)
            for i, q in enumerate(self._queues)
        ]
        for t in self._threads:
            t.start()

    def __call__(self, event: OrderEvent) -> None:
        """The broker's event handler: queue and return at once."""
        key = zlib.crc32(event.order.client_order_id.encode())
        self._queues[key % len(self._queues)].put(event)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued event has been applied; False on timeout."""
        done = threading.Event()
        pending = [len(self._queues)]
        lock = threading.Lock()

        def mark() -> None:
            with lock:
                pending[0] -= 1
                if pending[0] == 0:
                    done.set()

        for q in self._queues:
            q.put(mark)
        return done.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        for q in self._queues:
            q.put(_STOP)
        for t in self._threads:
            t.join(timeout)

    def _work(self, q: queue.Queue[object]) -> None:
        while True:
            item = q.get()
            if item is _STOP:
                return
            if callable(item) and not isinstance(item, OrderEvent):
                item()
                continue
            try:
                self._apply(item)  # type: ignore[arg-type]
            except Exception:
                log.exception("could not apply %s", item)
