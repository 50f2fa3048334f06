"""Apply broker events on a few worker threads instead of the thread that received them.

A broker delivers events on one thread (SimBroker's bar thread, AlpacaBroker's
dispatch thread). Booking a fill takes a database transaction, so one slow
user's lock would hold up everyone's fills. Events are spread over workers by
order (all events of one order go to the same worker, keeping their order),
which is safe because the ledger applies them by cumulative quantity anyway.

Given ``apply_batch`` (``Ledger.apply_events``), a worker hands it everything
queued for it at that moment, in order: under load the sets grow by
themselves and are booked one statement each, and an idle system still books
each event as soon as it comes. ``batch`` is a handler for brokers that deliver
a set of events at once (SimBroker.add_batch_handler).
"""

from __future__ import annotations

import logging
import queue
import threading
import zlib
from collections.abc import Callable, Sequence

from core.domain.orders import OrderEvent

log = logging.getLogger(__name__)

_STOP = object()
MAX_BATCH = 500  # events handed to apply_batch at once


class EventWorkers:
    def __init__(
        self,
        apply: Callable[[OrderEvent], object],
        workers: int = 4,
        *,
        apply_batch: Callable[[Sequence[OrderEvent]], object] | None = None,
    ) -> None:
        self._apply = apply
        self._apply_batch = apply_batch
        self._queues: list[queue.Queue[object]] = [queue.Queue() for _ in range(workers)]
        self._threads = [
            threading.Thread(target=self._work, args=(q,), name=f"ledger-events-{i}", daemon=True)
            for i, q in enumerate(self._queues)
        ]
        for t in self._threads:
            t.start()

    def __call__(self, event: OrderEvent) -> None:
        """The broker's event handler: queue and return at once."""
        self._queues[self._index(event)].put(event)

    def batch(self, events: Sequence[OrderEvent]) -> None:
        """A batch handler: queue each worker's share of ``events`` (in their order) and return at once."""
        shares: dict[int, list[OrderEvent]] = {}
        for event in events:
            shares.setdefault(self._index(event), []).append(event)
        for index, share in shares.items():
            self._queues[index].put(share)

    def _index(self, event: OrderEvent) -> int:
        return zlib.crc32(event.order.client_order_id.encode()) % len(self._queues)

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
        carried: object = None  # an item taken while gathering a set: handled next, after the set
        while True:
            item, carried = (carried if carried is not None else q.get()), None
            if item is _STOP:
                return
            if not isinstance(item, (OrderEvent, list)):
                if callable(item):  # a drain mark
                    item()
                continue
            events: list[OrderEvent] = list(item) if isinstance(item, list) else [item]
            while self._apply_batch is not None and len(events) < MAX_BATCH:
                try:
                    more = q.get_nowait()
                except queue.Empty:
                    break
                if isinstance(more, OrderEvent):
                    events.append(more)
                elif isinstance(more, list):
                    events.extend(more)
                else:
                    carried = more
                    break
            self._run(events)

    def _run(self, events: list[OrderEvent]) -> None:
        if self._apply_batch is not None:
            try:
                self._apply_batch(events)
            except Exception:
                log.exception("could not apply %d events", len(events))
            return
        for event in events:
            try:
                self._apply(event)
            except Exception:
                log.exception("could not apply %s", event)
