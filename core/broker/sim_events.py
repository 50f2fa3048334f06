"""Event delivery for SimBroker, with the misbehaviours tests need to provoke.

Real brokers deliver trade updates more than once and not always in order; the ledger must cope.
``duplicate`` delivers every event twice; ``hold()`` queues events until ``release()``, which can
deliver them reversed (or in any order a callable returns) to reproduce out-of-order streams.

Besides the Broker protocol's one-event handlers, a *batch handler* gets all events of one delivery
(a bar's fills, a submission's NEW, a release) in one call, in the order a one-event handler would see
them, duplicates included: the ledger books such a set in one database statement instead of one each.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Literal, Protocol, runtime_checkable

from core.broker.protocol import EventHandler
from core.domain.orders import OrderEvent

log = logging.getLogger(__name__)

ReleaseOrder = Literal["fifo", "reversed"] | Callable[[list[OrderEvent]], Sequence[OrderEvent]]
# What a batch handler returns is ignored, as for an EventHandler.
BatchHandler = Callable[[Sequence[OrderEvent]], object]


@runtime_checkable
class BatchEventSource(Protocol):
    """A broker that can deliver each set of events it produces together (SimBroker)."""

    def add_batch_handler(self, handler: BatchHandler) -> None: ...

    def remove_batch_handler(self, handler: BatchHandler) -> None: ...


class EventHold:
    """Returned by ``EventDispatcher.hold``; as a context manager it releases (FIFO) on exit
    whatever a ``release`` call inside the block has not already delivered."""

    def __init__(self, dispatcher: EventDispatcher, order: ReleaseOrder) -> None:
        self._dispatcher = dispatcher
        self._order = order

    def __enter__(self) -> EventHold:
        return self

    def __exit__(self, *exc: object) -> None:
        self._dispatcher.release(self._order)


class EventDispatcher:
    """Calls handlers synchronously in the calling thread; the caller must not hold its state lock."""

    def __init__(self, duplicate: bool = False) -> None:
        self.duplicate = duplicate
        self._lock = threading.Lock()
        self._handlers: list[EventHandler] = []
        self._batch_handlers: list[BatchHandler] = []
        self._held: list[OrderEvent] | None = None

    def add(self, handler: EventHandler) -> None:
        with self._lock:
            self._handlers.append(handler)

    def remove(self, handler: EventHandler) -> None:
        with self._lock:
            if handler in self._handlers:
                self._handlers.remove(handler)

    def add_batch(self, handler: BatchHandler) -> None:
        with self._lock:
            self._batch_handlers.append(handler)

    def remove_batch(self, handler: BatchHandler) -> None:
        with self._lock:
            if handler in self._batch_handlers:
                self._batch_handlers.remove(handler)

    def hold(self, release_order: ReleaseOrder = "fifo") -> EventHold:
        """Start queuing events (now, not at ``__enter__``)."""
        with self._lock:
            if self._held is None:
                self._held = []
        return EventHold(self, release_order)

    def release(self, order: ReleaseOrder = "fifo") -> None:
        """Stop holding and deliver the queued events in ``order``; a no-op when not holding."""
        with self._lock:
            held, self._held = self._held, None
        if not held:
            return
        if order == "fifo":
            events: Sequence[OrderEvent] = held
        elif order == "reversed":
            events = list(reversed(held))
        elif callable(order):
            events = order(list(held))
        else:
            raise ValueError(f"unknown release order {order!r}")
        self.deliver(events)

    def deliver(self, events: Sequence[OrderEvent]) -> None:
        with self._lock:
            if self._held is not None:
                self._held.extend(events)
                return
            handlers = list(self._handlers)
            batch_handlers = list(self._batch_handlers)
            times = 2 if self.duplicate else 1
        if batch_handlers and events:
            batch = [event for event in events for _ in range(times)]
            for batch_handler in batch_handlers:
                try:
                    batch_handler(batch)
                except Exception:
                    log.exception("order event batch handler %r failed on %d events", batch_handler, len(batch))
        for event in events:
            for _ in range(times):
                for handler in handlers:
                    try:
                        handler(event)
                    except Exception:
                        # One broken handler must not stop the others or corrupt the broker.
                        log.exception("order event handler %r failed on %s", handler, event.type)
