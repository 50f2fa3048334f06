"""The club's shared REST budget on one broker account, recorded in ``api_usage_logs``.

Alpaca allows 200 requests a minute per account, and every running client spends
from that same allowance. Each REST call first takes a slot here: one short
transaction, serialised club-wide by a transaction-level advisory lock, counts
the service's rows in the last window and inserts one if the count is under
``int(limit * headroom)``. The headroom absorbs the delay between taking a slot
and the request reaching the broker (and the broker's fixed window versus our
sliding one).

Times in the table come from the database (``clock_timestamp()``), so clients on
machines with skewed clocks still share one timeline; ``clock``/``sleep`` only
drive this process's waiting and its timeout.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from core.broker.errors import RateLimited
from core.db.advisory import advisory_key

log = logging.getLogger(__name__)

MIN_WAIT_S = 0.01  # never spin: the oldest row may leave the window a hair later than computed


@dataclass(frozen=True)
class Slot:
    """One taken request slot: the ``api_usage_logs`` row that reserved it."""

    id: uuid.UUID
    endpoint: str
    method: str


_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
# A separate statement after the lock: under READ COMMITTED each statement takes a fresh
# snapshot, so this count sees every row committed by the previous lock holder.
_COUNT = text(
    """
    SELECT count(u.id) AS n,
           EXTRACT(EPOCH FROM (min(u.created_at) + make_interval(secs => :window) - t.now)) AS wait_s
    FROM (SELECT clock_timestamp() AS now) AS t
    LEFT JOIN api_usage_logs AS u
      ON u.service = :service AND u.created_at > t.now - make_interval(secs => :window)
    GROUP BY t.now
    """
)
_INSERT = text(
    """
    INSERT INTO api_usage_logs (id, user_id, service, endpoint, method, created_at)
    VALUES (:id, :user_id, :service, :endpoint, :method, clock_timestamp())
    """
)


class RateBudget:
    """Thread-safe (every call opens its own session); share one per process or make one per client."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        service: str = "alpaca",
        limit: int = 200,
        window_s: float = 60.0,
        headroom: float = 0.9,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit <= 0 or window_s <= 0 or not 0 < headroom <= 1:
            raise ValueError("limit and window_s must be positive and headroom in (0, 1]")
        self._sessions = session_factory
        self.service = service
        self.window_s = window_s
        self.allowed = max(1, int(limit * headroom))  # requests the club may make per window
        self._key = advisory_key(f"stratforge.rate_budget.{service}")
        self._clock = clock
        self._sleep = sleep

    def acquire(self, endpoint: str, method: str, user_id: uuid.UUID | None = None, timeout: float = 30.0) -> Slot:
        """Take one slot, waiting while the club's window is full; RateLimited after ``timeout`` s.

        RateLimited is raised before anything is sent, so the caller may retry safely (a NotPlaced)."""
        deadline = self._clock() + timeout
        while True:
            slot, wait_s = self._try_take(endpoint, method, user_id)
            if slot is not None:
                return slot
            left = deadline - self._clock()
            if wait_s > left:
                raise RateLimited(
                    f"The shared {self.service} request budget ({self.allowed} per {self.window_s:g} s, "
                    f"for all clients together) is used up; the next slot frees in {wait_s:.1f} s, "
                    f"later than this call may wait ({timeout:g} s). Retry later.",
                    retry_after_s=wait_s,
                )
            self._sleep(max(wait_s, MIN_WAIT_S))  # outside the transaction: others may proceed

    def _try_take(self, endpoint: str, method: str, user_id: uuid.UUID | None) -> tuple[Slot | None, float]:
        params = {"service": self.service, "window": self.window_s}
        with self._sessions() as s:
            s.execute(_LOCK, {"key": self._key})
            used, wait_s = s.execute(_COUNT, params).one()
            if used >= self.allowed:
                s.rollback()  # releases the advisory lock
                return None, float(wait_s or 0)
            slot = Slot(uuid.uuid4(), endpoint[:255], method[:10])
            s.execute(
                _INSERT,
                {"id": slot.id, "user_id": user_id, "service": self.service, "endpoint": slot.endpoint,
                 "method": slot.method},
            )  # fmt: skip
            s.commit()
            return slot, 0.0

    def record(self, slot: Slot, status_code: int | None, duration_ms: int) -> None:
        """Note how the call went on its row (audit only; the budget counts rows, not outcomes)."""
        with self._sessions() as s:
            s.execute(
                text("UPDATE api_usage_logs SET status_code = :code, duration_ms = :ms WHERE id = :id"),
                {"code": status_code, "ms": duration_ms, "id": slot.id},
            )
            s.commit()

    def used(self) -> int:
        """Slots taken in the current window, club-wide (for status bars and tests)."""
        with self._sessions() as s:
            return int(
                s.execute(
                    text(
                        "SELECT count(*) FROM api_usage_logs WHERE service = :service"
                        " AND created_at > clock_timestamp() - make_interval(secs => :window)"
                    ),
                    {"service": self.service, "window": self.window_s},
                ).scalar_one()
            )
