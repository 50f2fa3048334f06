"""An event handler for tests: remembers each broker event and the thread it arrived on, and waits for them."""

from __future__ import annotations

import threading
import time

from core.domain.orders import OrderEvent

DEADLINE_S = 10.0


class Recorder:
    """Registered after the ledger's handler, seeing an event also means the ledger has applied it."""

    def __init__(self) -> None:
        self.events: list[OrderEvent] = []
        self.threads: set[int] = set()
        self._cond = threading.Condition()

    def __call__(self, event: OrderEvent) -> None:
        with self._cond:
            self.events.append(event)
            self.threads.add(threading.get_ident())
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = DEADLINE_S) -> list[OrderEvent]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.events) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"expected {count} events, got {[e.type.value for e in self.events]}"
                self._cond.wait(left)
            return list(self.events)

    def kinds(self) -> list[str]:
        with self._cond:
            return [e.type.value for e in self.events]
