"""ICICI's order rate: at most 10 order requests (place, modify, cancel) a second for an account, combined.

Breeze enforces it since the 2025 regulatory changes (breeze-connect 1.0.69's notice); refusing the eleventh request
here, before it is sent, makes it a RateLimited (NotPlaced, safe to retry after ``retry_after_s``) instead of a
refusal from ICICI whose outcome the ledger would have to read back.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from core.broker.errors import RateLimited

ORDERS_PER_SECOND = 10


class OrderPacer:
    """A sliding one-second window of order requests. Thread-safe."""

    def __init__(self, limit: int = ORDERS_PER_SECOND, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def take(self, what: str) -> None:
        """Count one order request, or raise RateLimited when the last second already had ``limit`` of them."""
        now = self._clock()
        with self._lock:
            while self._sent and now - self._sent[0] >= 1.0:
                self._sent.popleft()
            if len(self._sent) >= self.limit:
                wait = max(0.0, 1.0 - (now - self._sent[0]))
                raise RateLimited(
                    f"ICICI Direct takes at most {self.limit} order requests a second; {what} was not sent.",
                    retry_after_s=round(wait, 3),
                )
            self._sent.append(now)
