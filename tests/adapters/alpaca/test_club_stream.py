"""Stream leadership and the club end to end: three clients, one database, one stand-in Alpaca account.

Each "client" has what a running app has: its own engine, its own asyncio loop on a
thread, its own AlpacaBroker on the shared account wrapped in a BudgetedBroker, its own
Ledger. Crashes are simulated with ``ClubClient.crash()`` (the leadership socket is cut
without unlocking, the stream is torn down, and the client books nothing more).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select, update

from core.accounts import AccountService
from core.adapters.alpaca.broker import AlpacaBroker
from core.adapters.alpaca.budgeted_broker import BudgetedBroker
from core.adapters.alpaca.rate_budget import RateBudget
from core.adapters.alpaca.stream_leadership import StreamLeadership
from core.db.advisory import advisory_key
from core.db.database import Database
from core.db.engine import make_engine, make_session_factory
from core.db.models import Fill, Order, RiskSettings
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.ledger.invariant import check_all
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.live.club_client import ClubClient
from tests.alpaca_standin import AlpacaStandIn

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


# ---- ClubClient ------------------------------------------------------------------------


@dataclass
class Member:
    """One running app in the club."""

    name: str
    engine: Engine
    loop: asyncio.AbstractEventLoop
    loop_thread: threading.Thread
    alpaca: AlpacaBroker
    ledger: Ledger
    client: ClubClient
    users: list[uuid.UUID] = field(default_factory=list)

    def close(self) -> None:
        self.client.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.loop_thread.join(5)
        self.engine.dispose()


@pytest.fixture
def club(db_url: str, alpaca: AlpacaStandIn) -> Iterator[list[Member]]:
    """Three members, not started yet."""
    key = advisory_key(f"test-club-stream-{uuid.uuid4()}")
    members: list[Member] = []
    for name in ("one", "two", "three"):
        engine = make_engine(db_url, pool_size=5, max_overflow=5)
        sessions = make_session_factory(engine)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=f"loop-{name}", daemon=True)
        thread.start()
        member_broker = AlpacaBroker(
            alpaca.key_id,
            alpaca.secret_key,
            url_override=alpaca.rest_url,
            stream_url_override=alpaca.stream_url,
            timeout_s=5.0,
        )
        broker = BudgetedBroker(member_broker, RateBudget(sessions, limit=200, window_s=60.0))
        ledger = Ledger(sessions, broker, LastPrices({"AAPL": Decimal("100"), "MSFT": Decimal("400")}))
        client = ClubClient(
            sessions, db_url, member_broker, ledger, loop, stream_key=key, poll_s=POLL_S, settle_after_s=0.5, name=name
        )
        members.append(Member(name, engine, loop, thread, member_broker, ledger, client))
    yield members
    for m in members:
        m.close()


def leaders(members: list[Member]) -> list[Member]:
    return [m for m in members if m.client.is_leader]


def test_one_stream_listener_and_handover(club: list[Member], alpaca: AlpacaStandIn) -> None:
    for m in club:
        m.client.start()
    wait_until(lambda: len(leaders(club)) == 1, what="a leader")
    assert alpaca.wait_for_listeners(1, DEADLINE_S)
    time.sleep(1.0)
    assert len(leaders(club)) == 1 and alpaca.listener_count == 1
    assert alpaca.connections_accepted == 1

    first = leaders(club)[0]
    crashed_at = time.monotonic()
    first.client.crash()
    assert alpaca.wait_for_listeners(1, DEADLINE_S, accepted_at_least=2)
    handover = time.monotonic() - crashed_at
    assert handover < 5.0
    (second,) = leaders(club)
    assert second is not first and alpaca.listener_count == 1

    stopped_at = time.monotonic()
    second.client.stop()
    assert alpaca.wait_for_listeners(1, DEADLINE_S, accepted_at_least=3)
    assert time.monotonic() - stopped_at < 5.0
    (third,) = leaders(club)
    assert third not in (first, second)
    time.sleep(0.5)
    assert alpaca.listener_count == 1
    print(f"handover after crash: {handover:.2f} s")


def _make_user(db: Database, accounts: AccountService, name: str) -> uuid.UUID:
    user = accounts.sign_up(f"{name}@example.com", name, PASSWORD)
    with db.session_factory() as s:  # many small orders in a row: no duplicate-window rejections
        s.execute(
            update(RiskSettings)
            .where(RiskSettings.user_id == user.id)
            .values(duplicate_window_seconds=0, max_open_orders=100)
        )
        s.commit()
    return user.id


def test_every_fill_booked_once_across_a_leader_crash(
    db: Database, accounts: AccountService, club: list[Member], alpaca: AlpacaStandIn
) -> None:
    for m in club:
        m.users = [_make_user(db, accounts, f"{m.name}{j}") for j in range(2)]
    for m in club:
        m.client.start()
    wait_until(lambda: len(leaders(club)) == 1, what="a leader")
    assert alpaca.wait_for_listeners(1, DEADLINE_S)

    placed: list[tuple[str, Decimal]] = []  # (broker order id, qty) of every order the market fills
    counter = iter(range(1, 10_000))

    def place_all(members: list[Member]) -> list[tuple[str, Decimal]]:
        batch = []
        for m in members:
            for user_id in m.users:
                qty = Decimal(next(counter) % 5 + 1)
                order = m.ledger.place_order(user_id, OrderTicket("AAPL", OrderSide.BUY, qty))
                assert order.broker_order_id is not None, order.message
                batch.append((order.broker_order_id, qty))
        placed.extend(batch)
        return batch

    def fill(batch: list[tuple[str, Decimal]]) -> None:
        for broker_id, _qty in batch:
            alpaca.fill(broker_id, price="101.25")

    # Before the crash: placed and filled while the first leader streams.
    fill(place_all(club))
    pending = place_all(club)  # placed now, filled while nobody leads

    first = leaders(club)[0]
    listening_before = alpaca.connections_accepted
    # The leader is dying: its stream still receives these fills but it never books them.
    first.alpaca.remove_event_handler(first.ledger.apply_event)
    fill(pending)
    first.client.crash()
    survivors = [m for m in club if m is not first]
    # During the handover (racing the election): maybe heard by the new leader, maybe settled.
    during = place_all(survivors)
    fill(during[: len(during) // 2])

    # After: a new leader streams and settles what the stream missed.
    assert alpaca.wait_for_listeners(1, DEADLINE_S, accepted_at_least=listening_before + 1)
    fill(during[len(during) // 2 :])
    fill(place_all(survivors))

    def all_booked() -> bool:
        with db.session_factory() as s:
            return s.scalar(select(func.count()).select_from(Order).where(Order.status != "filled")) == 0

    wait_until(all_booked, what="every order booked as filled")
    time.sleep(1.0)  # late duplicates (stream + settlement) would show up now

    with db.session_factory() as s:
        fills = s.execute(select(Fill.broker_order_id, Fill.quantity)).all()
        orders = s.execute(select(Order.broker_order_id, Order.filled_quantity, Order.quantity)).all()
        reports = check_all(s)
    assert len(fills) == len(placed)  # each order filled by one execution: booked exactly once
    assert sorted((f.broker_order_id, f.quantity) for f in fills) == sorted(placed)
    assert all(o.filled_quantity == o.quantity for o in orders)
    assert len(reports) == 6 and all(r.holds for r in reports), reports
    new_leader = leaders(club)
    assert len(new_leader) == 1 and new_leader[0] is not first
    # What the dying leader's stream missed came back over REST: mostly through the new leader's settlement, but
    # the dying leader's own settle thread may still retry a user (and settle one of them) before it is killed.
    assert sum(m.client.settled for m in club) >= len(pending)
    print(f"{len(placed)} fills, {new_leader[0].client.settled} orders settled by the new leader")


def test_settlement_leaves_a_placement_in_flight_alone(
    db: Database, accounts: AccountService, club: list[Member]
) -> None:
    """Another client's order still 'pending' (its submit in flight) is not closed as never sent."""
    member = club[0]
    user = _make_user(db, accounts, "ann")
    placed = member.ledger.place_order(user, OrderTicket("AAPL", OrderSide.BUY, Decimal("1")))
    with db.session_factory() as s:  # as if the submit had not come back yet (the broker does not know it)
        s.execute(update(Order).where(Order.id == placed.id).values(status="pending", client_order_id="sf-x"))
        s.commit()
    assert member.client.settle_all() == [user]
    with db.session_factory() as s:
        assert s.scalar(select(Order.status).where(Order.id == placed.id)) == "pending"

    later = ClubClient(
        make_session_factory(member.engine),
        db.engine.url.render_as_string(hide_password=False),
        member.alpaca,
        member.ledger,
        member.loop,
        clock=lambda: datetime.now(UTC) + timedelta(minutes=5),
    )
    assert later.settle_all() == []  # past the grace period it is settled: the broker never got it
    with db.session_factory() as s:
        assert s.scalar(select(Order.status).where(Order.id == placed.id)) == "rejected"
        assert all(r.holds for r in check_all(s))
