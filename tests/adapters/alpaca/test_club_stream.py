"""Stream leadership: exactly one leader among clients of one database, and handover on kill and stop.

(The club's trade stream and its router are elected with it: tests/club/test_service.py.)"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from core.adapters.alpaca.stream_leadership import StreamLeadership
from core.db.advisory import advisory_key
from core.db.database import Database

DEADLINE_S = 15.0
POLL_S = 0.2
PASSWORD = "Tr4ding-Pass-2026"


def wait_until(predicate: Callable[[], bool], timeout: float = DEADLINE_S, what: str = "condition") -> float:
    """Seconds it took for ``predicate`` to hold; fails the test after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def db_url(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


# ---- StreamLeadership alone ------------------------------------------------------------


@dataclass
class Votes:
    elected: int = 0
    demoted: int = 0


def test_exactly_one_leader_and_handover_on_kill_and_stop(db_url: str) -> None:
    key = advisory_key(f"test-leadership-{uuid.uuid4()}")
    votes = [Votes() for _ in range(3)]

    def make(v: Votes) -> StreamLeadership:
        def elected() -> None:
            v.elected += 1

        def demoted() -> None:
            v.demoted += 1

        return StreamLeadership(db_url, key=key, on_elected=elected, on_demoted=demoted, poll_s=POLL_S)

    members = [make(v) for v in votes]
    try:
        for m in members:
            m.start()
        wait_until(lambda: sum(m.is_leader for m in members) == 1, what="a leader")
        time.sleep(3 * POLL_S)  # the others kept polling and still lost
        assert sum(m.is_leader for m in members) == 1
        first = next(i for i, m in enumerate(members) if m.is_leader)

        members[first].kill()  # a crash: no callback, lock released by PostgreSQL
        assert not members[first].is_leader and votes[first].demoted == 0
        took = wait_until(lambda: sum(m.is_leader for m in members) == 1, what="a new leader after a kill")
        assert took < 3.0
        second = next(i for i, m in enumerate(members) if m.is_leader)
        assert second != first

        members[second].stop()
        assert votes[second].demoted == 1 and not members[second].is_leader
        wait_until(lambda: sum(m.is_leader for m in members) == 1, what="a new leader after a stop")
        third = next(i for i, m in enumerate(members) if m.is_leader)
        assert third not in (first, second)
        assert [v.elected for v in votes] == [1, 1, 1]
    finally:
        for m in members:
            m.stop()
    assert votes[third].demoted == 1
