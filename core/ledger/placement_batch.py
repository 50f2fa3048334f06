"""Order placements of many users in one transaction: group commit for the ledger.

Placing one order alone costs two statements and a commit, and the fixed part
of that (round trips, executor start-up, the commit, the driver's Python)
dwarfs the part that depends on the order. So callers hand their placement to
one thread, which takes everything waiting, locks those users' rows in one
statement, runs each order's risk check in Python against its own user's
snapshot, inserts every accepted order in one more statement and commits once.

Nothing waits for a batch to fill: a lone order goes at once, and orders that
arrive while a batch is in the database form the next one, so batches grow
only when the ledger is busy.

A batch holds at most one order per user, so every check sees its user's books
with all of that user's earlier orders in them; a user's later orders wait for
the next batch, in the order they came. Row locks are taken in user id order
(``lock_accounts``), so batches of different clients cannot deadlock.

A batch does not wait for a user's row that a fill booking holds: it skips
that user (``SKIP LOCKED``), whose order goes first into the next batch.
Waiting would hold every other user of the batch behind that one booking, and
their bookings behind the batch. An order skipped twice is placed alone, with
a lock that waits, so it cannot be passed over for ever.

If the batch's transaction fails, nothing of it is written; each of its orders
is then tried again alone, so one bad order never takes the others down with
it, and each caller gets its own order's answer.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from core.db.raw import raw_connection
from core.ledger.errors import LedgerError
from core.ledger.placement import AccountSnapshot, OrderRecord, lock_accounts, record_orders, use_generic_plans

log = logging.getLogger(__name__)

# Decides one order from its user's locked books at the batch's time: the record to insert, or an exception
# (a risk rejection) for the caller.
Decide = Callable[[AccountSnapshot, datetime], OrderRecord]

MAX_BATCH = 64
WORKERS = 2  # one batch's Python runs while another's statements run in the database
SKIPS_BEFORE_WAITING = 2


@dataclass(eq=False)
class _Placement:
    user_id: uuid.UUID
    symbol: str
    decide: Decide
    done: threading.Event = field(default_factory=threading.Event)
    record: OrderRecord | None = None
    error: BaseException | None = None
    skips: int = 0  # batches that passed it over because its user's row was locked

    def succeed(self, record: OrderRecord) -> None:
        self.record = record
        self.done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()


class PlacementBatcher:
    """``place`` blocks until the caller's order is committed (or refused). ``workers`` threads, which exist
    only while there are placements, run the batches; a user is in at most one batch at a time, so a user's
    orders are placed in the order they came whichever thread takes them."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        *,
        workers: int = WORKERS,
        max_batch: int = MAX_BATCH,
        idle_exit_s: float = 5.0,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._workers = workers
        self._max_batch = max_batch
        self._idle_exit_s = idle_exit_s
        self._waiting: list[_Placement] = []
        self._busy: set[uuid.UUID] = set()  # users of the batches in the database now
        self._cond = threading.Condition()
        self._running = 0

    def place(self, user_id: uuid.UUID, symbol: str, decide: Decide) -> OrderRecord:
        """Lock ``user_id``'s books (read for ``symbol``), let ``decide`` judge the order against them and
        commit the record it returns. Raises what ``decide`` raised, or the database's error."""
        placement = _Placement(user_id, symbol, decide)
        with self._cond:
            self._waiting.append(placement)
            if self._running < self._workers:
                self._running += 1
                threading.Thread(target=self._run, name="ledger-placements", daemon=True).start()
            self._cond.notify()
        placement.done.wait()
        if placement.error is not None:
            raise placement.error
        assert placement.record is not None
        return placement.record

    def _run(self) -> None:
        while True:
            with self._cond:
                batch = self._take()
                if not batch and not self._cond.wait(self._idle_exit_s):
                    batch = self._take()
                    if not batch:
                        self._running -= 1
                        return
                if not batch:
                    continue
            skipped: list[_Placement] = []
            try:
                skipped = self._place_batch(batch)
            except BaseException as exc:  # a bug here must not leave callers waiting forever
                log.exception("placement batch failed")
                for placement in batch:
                    if not placement.done.is_set():
                        placement.fail(exc)
            finally:
                with self._cond:
                    for placement in skipped:  # first in line again, in their order
                        placement.skips += 1
                    self._waiting[:0] = skipped
                    self._busy.difference_update(p.user_id for p in batch)
                    self._cond.notify_all()

    def _take(self) -> list[_Placement]:
        """The next batch: the oldest waiting placement of each user not in another batch, up to ``max_batch``;
        or a placement skipped too often, alone. Caller holds the lock."""
        batch: list[_Placement] = []
        for i, placement in enumerate(self._waiting):
            if placement.skips >= SKIPS_BEFORE_WAITING and placement.user_id not in self._busy:
                batch = [self._waiting.pop(i)]
                break
        else:
            later: list[_Placement] = []
            taken: set[uuid.UUID] = set()
            for placement in self._waiting:
                user_id = placement.user_id
                if user_id in self._busy or user_id in taken or len(batch) >= self._max_batch:
                    later.append(placement)
                else:
                    taken.add(user_id)
                    batch.append(placement)
            self._waiting = later
        self._busy.update(p.user_id for p in batch)
        return batch

    def _place_batch(self, batch: list[_Placement]) -> list[_Placement]:
        """Place ``batch``; returns the placements skipped because their user's row was locked."""
        decided: list[tuple[_Placement, OrderRecord]] = []
        skipped: list[_Placement] = []
        alone = len(batch) == 1
        try:
            with raw_connection(self._engine) as conn:
                use_generic_plans(conn)
                now = self._clock()
                wanted = [(p.user_id, p.symbol) for p in batch]
                snapshots = lock_accounts(conn, wanted, now, skip_locked=not alone)
                for placement, snapshot in zip(batch, snapshots, strict=True):
                    if snapshot is None:
                        if alone:
                            placement.fail(LedgerError("That account no longer exists."))
                        else:
                            skipped.append(placement)
                        continue
                    try:
                        decided.append((placement, placement.decide(snapshot, now)))
                    except Exception as exc:  # the caller's rejection (or its bug): that order only
                        placement.fail(exc)
                record_orders(conn, [record for _, record in decided])
                conn.commit()
        except Exception as exc:
            if alone:
                batch[0].fail(exc)
                return []
            log.warning("a batch of %d placements failed (%s); placing them one by one", len(batch), exc)
            for placement in batch:
                if not placement.done.is_set():  # the refused ones already have their answer
                    self._place_batch([placement])
            return []
        for placement, record in decided:
            placement.succeed(record)
        return skipped
