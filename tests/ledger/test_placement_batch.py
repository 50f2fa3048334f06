"""PlacementBatcher against a real PostgreSQL: orders of several users share one transaction, a user's orders
never share one and keep their order, a bad order or a locked account never holds up the others.

To make placements meet in one batch, the test first holds a user's row lock in its own transaction and
places an order for that user: the (single) batch thread waits on the lock while the next placements queue.
Orders written by one transaction share its id, which PostgreSQL shows as the row's ``xmin``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import text

from core.broker.types import OrderSide
from core.db.database import Database
from core.db.raw import raw_connection
from core.ledger.errors import LedgerError, OrderRejected
from core.ledger.placement import _LOCK_ACCOUNTS, AccountSnapshot, OrderRecord, record_orders
from core.ledger.placement_batch import PlacementBatcher
from core.risk import OrderTicket

WAIT_S = 20.0
_LOCK_WAITS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
)
HELD = Decimal("100.50")


def _clock() -> datetime:
    return datetime.now(UTC)


def _approve(user_id: uuid.UUID, qty: str = "1", seen: list[AccountSnapshot] | None = None):
    """A decide that accepts the order and reserves HELD (recording the snapshot it was shown)."""

    def decide(snapshot: AccountSnapshot, now: datetime) -> OrderRecord:
        if seen is not None:
            seen.append(snapshot)
        order_id = uuid.uuid4()
        ticket = OrderTicket("AAPL", OrderSide.BUY, Decimal(qty))
        return OrderRecord(order_id, user_id, f"sf-{order_id.hex}", "test", ticket, HELD, now)

    return decide


@contextmanager
def _row_locked(db: Database, user_id: uuid.UUID) -> Iterator[Callable[[], None]]:
    """Hold ``user_id``'s row lock (as a fill booking would) until the yielded release() or the block's end."""
    with raw_connection(db.engine) as conn:
        conn.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", (user_id,))
        released = [False]

        def release() -> None:
            if not released[0]:
                released[0] = True
                conn.rollback()

        try:
            yield release
        finally:
            release()


def _wait_until_blocked(db: Database, timeout_s: float = WAIT_S) -> None:
    """Until some session of this database waits for a row lock."""
    deadline = time.monotonic() + timeout_s
    with db.engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(_LOCK_WAITS).scalar_one()
            conn.rollback()  # pg_stat_activity is read once per transaction
            if waiting:
                return
            time.sleep(0.01)
    raise AssertionError("no placement came to wait on the lock")


def _xmin_of(db: Database, record: OrderRecord) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(text("SELECT xmin::text::bigint FROM orders WHERE id = :id"), {"id": record.id}).scalar_one()
        )


def _balances(db: Database, user_id: uuid.UUID) -> tuple[Decimal, Decimal]:
    with db.engine.connect() as conn:
        row = conn.execute(
            text("SELECT virtual_balance, reserved_balance FROM users WHERE id = :id"), {"id": user_id}
        ).one()
    return row[0], row[1]


@pytest.fixture
def batcher(db: Database) -> PlacementBatcher:
    return PlacementBatcher(db.engine, _clock, workers=1)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=8) as executor:
        yield executor


def _place(pool: ThreadPoolExecutor, batcher: PlacementBatcher, user_id: uuid.UUID, decide) -> Future[OrderRecord]:
    return pool.submit(batcher.place, user_id, "AAPL", decide)


def _queue_behind_a_lock(db, batcher, pool, blocker: uuid.UUID, placements) -> list[Future[OrderRecord]]:
    """Block the batch thread on ``blocker``'s row, queue ``placements`` (user, decide) behind it, release."""
    with _row_locked(db, blocker):
        first = _place(pool, batcher, blocker, _approve(blocker))
        _wait_until_blocked(db)
        futures = []
        for user_id, decide in placements:
            futures.append(_place(pool, batcher, user_id, decide))
        time.sleep(0.2)  # every placement is queued
    first.result(WAIT_S)
    return futures


def test_orders_of_several_users_commit_in_one_transaction(db, make_user, batcher, pool) -> None:
    blocker, *users = (make_user(f"batch{i}") for i in range(5))
    before = {u: _balances(db, u) for u in users}

    futures = _queue_behind_a_lock(db, batcher, pool, blocker, [(u, _approve(u)) for u in users])

    records = [f.result(WAIT_S) for f in futures]
    assert len({_xmin_of(db, r) for r in records}) == 1
    for user_id in users:
        cash, reserved = before[user_id]
        assert _balances(db, user_id) == (cash - HELD, reserved + HELD)


def test_a_users_orders_go_in_separate_batches_in_the_order_they_came(db, make_user, batcher, pool) -> None:
    blocker, ann = make_user("blocker"), make_user("ann")
    seen: list[AccountSnapshot] = []

    futures = _queue_behind_a_lock(
        db, batcher, pool, blocker, [(ann, _approve(ann, "1", seen)), (ann, _approve(ann, "2", seen))]
    )

    first, second = (f.result(WAIT_S) for f in futures)
    assert (first.ticket.qty, second.ticket.qty) == (Decimal(1), Decimal(2))
    assert _xmin_of(db, first) < _xmin_of(db, second)
    # The second order's checks saw the first one's reservation and open order.
    assert seen[1].reserved == seen[0].reserved + HELD
    assert seen[1].open_orders == seen[0].open_orders + 1


def test_a_rejected_order_leaves_the_others_of_its_batch_placed(db, make_user, batcher, pool) -> None:
    blocker, ann, bob = make_user("blocker"), make_user("ann"), make_user("bob")

    def refuse(snapshot: AccountSnapshot, now: datetime) -> OrderRecord:
        raise OrderRejected("Not today.", "test_rule")

    refused, placed = _queue_behind_a_lock(db, batcher, pool, blocker, [(ann, refuse), (bob, _approve(bob))])

    with pytest.raises(OrderRejected, match="Not today"):
        refused.result(WAIT_S)
    assert placed.result(WAIT_S).user_id == bob
    assert _balances(db, ann)[1] == Decimal(0)  # nothing reserved for the refused order


def test_an_order_the_database_refuses_fails_alone(db, make_user, batcher, pool) -> None:
    blocker, ann, bob = make_user("blocker"), make_user("ann"), make_user("bob")
    ann_before = _balances(db, ann)

    # Quantity 0 passes no risk rule here but breaks ck_orders_quantity_positive: the batch's transaction fails.
    bad, good = _queue_behind_a_lock(db, batcher, pool, blocker, [(ann, _approve(ann, "0")), (bob, _approve(bob))])

    with pytest.raises(psycopg.errors.CheckViolation):
        bad.result(WAIT_S)
    assert good.result(WAIT_S).user_id == bob
    assert _balances(db, ann) == ann_before  # nothing half-written for ann
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM orders WHERE user_id = :u"), {"u": ann}).scalar_one() == 0


def test_a_locked_account_does_not_hold_up_the_others(db, make_user, batcher, pool) -> None:
    blocker, ann, bob, cat = (make_user(name) for name in ("blocker", "ann", "bob", "cat"))

    with _row_locked(db, ann) as release_ann:  # a booking of one of ann's fills, say
        ann_order, bob_order, cat_order = _queue_behind_a_lock(
            db, batcher, pool, blocker, [(ann, _approve(ann)), (bob, _approve(bob)), (cat, _approve(cat))]
        )
        assert bob_order.result(WAIT_S).user_id == bob
        assert cat_order.result(WAIT_S).user_id == cat
        assert not ann_order.done()  # passed over, then placed alone, waiting for the lock
        release_ann()
        assert ann_order.result(WAIT_S).user_id == ann


def test_an_account_that_does_not_exist_is_a_clear_error(db, batcher) -> None:
    with pytest.raises(LedgerError, match="no longer exists"):
        batcher.place(uuid.uuid4(), "AAPL", _approve(uuid.uuid4()))


def test_many_users_from_many_threads_each_get_their_own_order(db, make_user) -> None:
    users = [make_user(f"many{i}") for i in range(6)]
    batcher = PlacementBatcher(db.engine, _clock, workers=2)
    results: dict[uuid.UUID, list[OrderRecord]] = {u: [] for u in users}
    lock = threading.Lock()

    def trade(user_id: uuid.UUID) -> None:
        for _ in range(10):
            record = batcher.place(user_id, "AAPL", _approve(user_id))
            with lock:
                results[user_id].append(record)

    with ThreadPoolExecutor(max_workers=12) as executor:
        for future in [executor.submit(trade, u) for u in users for _ in range(2)]:
            future.result(WAIT_S * 3)

    for user_id, records in results.items():
        assert len(records) == 20 and {r.user_id for r in records} == {user_id}
        assert _balances(db, user_id)[1] == HELD * 20
    with db.engine.connect() as conn:
        per_user = conn.execute(text("SELECT user_id, count(*) FROM orders GROUP BY user_id")).all()
    assert {u: n for u, n in per_user if u in results} == dict.fromkeys(users, 20)


def test_the_day_pnl_read_looks_at_the_users_own_fills_only(db, make_user) -> None:
    """With other users' fills in the table, the locking read reaches this user's fills of the day through
    their own index (migration 0007), not by filtering every ledger fill (what the planner did before)."""
    ann, bob = make_user("ann"), make_user("bob")
    order = _approve(bob)(None, _clock())  # type: ignore[arg-type]
    with raw_connection(db.engine) as conn:
        record_orders(conn, [order])
        conn.execute(
            "INSERT INTO fills (user_id, order_id, execution_id, symbol, side, quantity, price, executed_at, source)"
            " SELECT %s, %s, 'bob-' || n, 'AAPL', 'buy', 1, 100, now() - n * interval '1 minute', 'ledger'"
            "   FROM generate_series(1, 500) AS n",
            (bob, order.id),
        )
        conn.commit()
        now = _clock()
        plan = conn.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + _LOCK_ACCOUNTS,
            {
                "user_ids": [ann], "symbols": ["AAPL"], "now": now, "default_window": 5,
                "day_start": now.replace(hour=0, minute=0, second=0, microsecond=0),
            },
        ).fetchone()[0]  # fmt: skip
        conn.rollback()
    scans = [node for node in _plan_nodes(plan[0]["Plan"]) if node.get("Relation Name") == "fills"]
    assert [node.get("Index Name") for node in scans] == ["ix_fills_ledger_user_id_executed_at"]
    assert all(node.get("Rows Removed by Filter", 0) == 0 for node in scans)


def _plan_nodes(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)
