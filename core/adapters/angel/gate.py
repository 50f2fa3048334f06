"""Angel One's per-API request limits, kept on our side so Angel's gateway never has to refuse us.

Angel limits each API per user per second (SmartAPI "Rate Limits"): the order and trade books, positions and
holdings once a second, the funds (RMS) twice, the profile three times, placing/modifying/cancelling 20 times.
Past a limit its gateway answers HTTP 403 "Access denied because of exceeding access rate" and does nothing.
``RouteGate.wait`` spaces each route's calls by ``1 / limit`` (with a small margin for network jitter); a caller
that would wait longer than its deadline gets RateLimited at once (nothing was sent).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from core.broker.errors import RateLimited

PER_SECOND: dict[str, float] = {
    "login": 1,
    "profile": 3,
    "logout": 1,
    "place": 20,
    "modify": 20,
    "cancel": 20,
    "orders": 1,
    "trades": 1,
    "rms": 2,
    "positions": 1,
    "holdings": 1,
}
MARGIN = 1.06  # space calls 6 % wider than the limit: a request's arrival at Angel jitters by a few ms


class RouteGate:
    """Thread-safe; ``clock``/``sleep`` are injectable for tests."""

    def __init__(
        self,
        per_second: Mapping[str, float] = PER_SECOND,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = {route: MARGIN / limit for route, limit in per_second.items()}
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def wait(self, route: str, deadline_s: float) -> None:
        """Reserve the route's next slot and sleep until it; RateLimited when it is further than ``deadline_s``."""
        interval = self._interval.get(route, 0.0)
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(route, now))
            delay = slot - now
            if delay > deadline_s:
                raise RateLimited(
                    f"Angel One allows this request {1 / interval * MARGIN:g} times a second; try again shortly",
                    retry_after_s=delay,
                )
            self._next[route] = slot + interval
        if delay > 0:
            self._sleep(delay)
