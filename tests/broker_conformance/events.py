"""Collecting a broker's order events, which arrive on other threads, and waiting for them without sleeping."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from core.domain.orders import OrderEvent, OrderEventType

WAIT_S = 5.0  # the longest any conformance test waits for a venue's update


class EventLog:
    """An event handler that remembers every event in arrival order; ``wait`` blocks on a condition, not a sleep."""

    def __init__(self) -> None:
        self.events: list[OrderEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: OrderEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, order_id: str, *types: OrderEventType) -> list[OrderEvent]:
        """The events of order ``order_id`` so far (only those of ``types``, when given)."""
        with self._cond:
            return [e for e in self.events if e.order.id == order_id and (not types or e.type in types)]

    def wait(self, done: Callable[[list[OrderEvent]], bool], what: str, timeout: float = WAIT_S) -> list[OrderEvent]:
        """Every event so far, once ``done(events)`` holds; fails naming ``what`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not done(self.events):
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(e.type.value, e.order.id, e.execution_id) for e in self.events]
                    raise AssertionError(f"waited {timeout:g} s for {what}; events seen: {seen}")
                self._cond.wait(left)
            return list(self.events)

    def wait_for(self, order_id: str, kind: OrderEventType, count: int = 1, timeout: float = WAIT_S) -> OrderEvent:
        """The latest ``kind`` event of ``order_id``, once at least ``count`` of them arrived."""

        def enough(events: list[OrderEvent]) -> bool:
            return sum(1 for e in events if e.order.id == order_id and e.type is kind) >= count

        self.wait(enough, f"{count} {kind.value} event(s) of order {order_id}", timeout)
        return self.of(order_id, kind)[-1]
