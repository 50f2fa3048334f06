"""The club's omnibus router: every trader's virtual order reaches the one shared account netted, never raw.

Why: Alpaca judges each order against the whole account (ALPACA_PROTOCOL.md). Sent one by one, one trader's
resting take-profit makes another trader's market buy a "potential wash trade", two traders on opposite sides
are "opposite open orders", and a trader's sell can cross the account's position through zero. So the router:

* holds resting orders (limit, stop, stop-limit, bracket legs) itself and fills them from the feed with the
  backtester's fill model (core.broker.fill_model) on every closed bar that closed after the order was placed:
  limit buy when the bar's low reaches the limit (at the limit, or the open on a gap), stop buy when the high
  reaches the stop (at the stop or the worse open), sells mirrored, stop-limits trigger then rest as limits: the
  same fills a backtest of the same orders over the same bars makes. The filled quantity is then *followed* by
  the real account through the next step (the real price of following is the club's slippage, not a
  trader's: the trader was filled at the model's price);
* nets market orders and followed quantities per symbol in steps (core.club.netting): crosses the offsetting
  part internally, sends at most one market order per symbol and step for the rest; a later step on a symbol
  whose street order is still open goes out only on the same side and only if it does not take the position
  through zero with everything on its way filled (so never both sides open at once), and closes before it opens;
* books street fills to the virtual orders in time priority, per execution, in one transaction per execution
  together with the step's fill watermark (exactly once, even across a crash or a failover);
* books crossed quantities at the step's street average price, or when nothing went to the street at the
  reference price: the last price the feed gave for the symbol;
* treats a 429 or the budget's own refusal (NotPlaced) as certainly not placed: the step is closed as
  ``not_placed``, its orders return to the queue, and the symbol waits (1 s doubling to 30 s) before retrying;
* re-settles every unfinished step over REST by client order id after each stream reconnect, failover and
  start: fills missed while nobody listened are booked then.

One thread does all of it, in order; other threads only enqueue (street events, bars, wake-ups).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from sqlalchemy.orm import Session, sessionmaker

from core.broker.errors import BrokerError, BrokerRejected, NotPlaced, OrderNotFound
from core.broker.fill_model import BracketLeg, FillDecision, FillModel, WorkingOrder, evaluate_bracket_exit
from core.broker.protocol import Broker
from core.club.day_orders import DayCloses, UtcMidnightCloses
from core.club.netting import AllocationKind, Due, DueKind, StepPlan, allocate, plan_step
from core.club.virtual_orders import (
    Bookings,
    VirtualOrder,
    end_event,
    fill_event,
    lock_symbol,
    open_virtual_orders,
    parent_statuses,
    still_open,
)
from core.db.notifier import CoalescingNotifier
from core.db.raw import engine_of, raw_connection
from core.domain.bars import NormalizedBar
from core.domain.clock import utc_now
from core.domain.orders import (
    BrokerOrder,
    OrderEvent,
    OrderEventType,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from core.ledger.prices import PriceSource
from core.ledger.service import ledger_channel

log = logging.getLogger(__name__)

ROUTER_CHANNEL = "stratforge_club"  # a trader's app says "a virtual order changed" on it
BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 30.0
SENDERS = 8  # street orders of different symbols in flight at once
ZERO = Decimal(0)


@dataclass
class RouterStats:
    """What a benchmark or the service's log reports."""

    street_orders: int = 0
    not_placed: int = 0
    street_rejected: int = 0
    steps: int = 0
    crossed_qty: Decimal = ZERO
    resting_fills: int = 0
    route_latencies_s: list[float] = field(default_factory=list)  # virtual order placed -> its step sent
    resettled: int = 0
    pass_seconds: list[float] = field(default_factory=list)  # each routing pass, sends included
    send_seconds: list[float] = field(default_factory=list)  # each street order's round trip to the broker
    errors: list[str] = field(default_factory=list)


_WAKE = object()
_RESETTLE = object()


class ClubRouter:
    """Routes the club's virtual orders to ``street`` (an Alpaca account, or the simulated broker in solo mode)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        street: Broker,
        prices: PriceSource,
        *,
        fill_model: FillModel | None = None,
        clock: Callable[[], datetime] = utc_now,
        window_s: float = 0.05,
        poll_s: float = 1.0,
        bar_length: timedelta = timedelta(minutes=1),
        day_closes: DayCloses | UtcMidnightCloses | None = None,
        market_from_bars: bool = False,
    ) -> None:
        self._engine = engine_of(session_factory)
        self._street = street
        self._prices = prices
        self._fill_model = fill_model or FillModel()
        self._now = clock
        self._window_s = window_s
        self._poll_s = poll_s
        self._bar_length = bar_length
        self._day_closes: DayCloses | UtcMidnightCloses = day_closes or DayCloses()
        # The simulated market: its prices ARE the fill model's, so market orders are filled from the next bar
        # like resting ones (the backtester's fill, slippage and commission by the trader's own side and size) and
        # the simulated account only follows. On a real account the street's executions price them.
        self._market_from_bars = market_from_bars
        self._changes = CoalescingNotifier(self._engine, ledger_channel)  # the ledger's own
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._positions: dict[str, Decimal] = {}
        self._backoff: dict[str, tuple[float, float]] = {}  # symbol -> (retry at monotonic, current delay)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._halted = False
        self._senders = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="club-send")
        self.stats = RouterStats()
        street.add_event_handler(self._on_street_event)

    # ----- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Load the account's positions, finish what a predecessor left, then route until ``stop``."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="club-router", daemon=True)
        self._thread.start()
        self._queue.put(_RESETTLE)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._queue.put(_WAKE)
        if self._thread is not None:
            self._thread.join(timeout)
        self._senders.shutdown(wait=False)
        self._thread = None
        self._street.remove_event_handler(self._on_street_event)
        self._changes.flush()

    def halt(self) -> None:
        """Stop at once, dropping whatever is queued (a process that dies does no more work)."""
        self._street.remove_event_handler(self._on_street_event)
        self._halted = True
        self._stop.set()
        self._queue.put(_WAKE)

    def wake(self) -> None:
        """A virtual order was placed or a cancel asked for: route soon (after the netting window)."""
        self._queue.put(_WAKE)

    def resettle(self) -> None:
        """The trade stream reconnected or this router just took over: read unfinished steps back over REST."""
        self._queue.put(_RESETTLE)

    def on_bar(self, symbol: str, bar: NormalizedBar) -> None:
        """A closed bar from the feed: resting orders may fill on it."""
        self._queue.put(("bar", symbol, bar))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until everything queued so far has been handled (tests and benchmarks)."""
        marker = threading.Event()
        self._queue.put(("marker", marker))
        return marker.wait(timeout)

    def _on_street_event(self, event: OrderEvent) -> object:
        if event.order.client_order_id.startswith("club-"):
            self._queue.put(("street", event))
        return None

    # ----- the loop --------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=self._poll_s)
            except queue.Empty:
                item = None
            items = [item] if item is not None else []
            waited = 0.0
            while True:
                # The netting window: orders placed meanwhile join this step. It is extended while orders keep
                # coming (a bar's decisions arrive as a burst), up to three windows.
                woken = any(it is _WAKE for it in items[-1:]) if waited == 0 else False
                while True:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    items.append(nxt)
                    woken = woken or nxt is _WAKE
                if not woken or self._window_s <= 0 or waited >= 3 * self._window_s:
                    break
                time.sleep(self._window_s)
                waited += self._window_s
            markers = []
            if self._halted:
                return
            try:
                for it in _latest_street_states(items):
                    if it is _RESETTLE:
                        self._resettle()
                    elif isinstance(it, tuple) and it[0] == "street":
                        self._apply_street(it[1])
                    elif isinstance(it, tuple) and it[0] == "bar":
                        self._apply_bar(it[1], it[2])
                    elif isinstance(it, tuple) and it[0] == "marker":
                        markers.append(it[1])
                if not self._stop.is_set():
                    started = time.perf_counter()
                    self._route_pass()
                    self.stats.pass_seconds.append(time.perf_counter() - started)
            except Exception as exc:  # the router must outlive one bad pass; the log says why
                log.exception("routing pass failed")
                self.stats.errors.append(f"{type(exc).__name__}: {exc}")
            for marker in markers:
                marker.set()

    # ----- routing ---------------------------------------------------------------------------
    def _route_pass(self) -> None:
        with raw_connection(self._engine) as conn:
            orders = open_virtual_orders(conn)
            in_flight: dict[str, tuple[OrderSide | None, Decimal]] = {}  # symbol -> (side on its way, signed qty)
            for symbol, side, remaining in conn.execute(
                "SELECT symbol, side, sum(street_qty - street_filled) FROM club_route_steps "
                "WHERE status IN ('planned', 'open') GROUP BY symbol, side"
            ).fetchall():
                signed = ZERO if side is None else (remaining if side == "buy" else -remaining)
                held_side, held = in_flight.get(symbol, (None, ZERO))
                in_flight[symbol] = (OrderSide(side) if side else held_side, held + signed)
            follows = conn.execute(
                """SELECT f.order_id, f.symbol, f.side, f.qty - f.settled - coalesce(
                          (SELECT sum(a.qty - a.filled) FROM club_route_allocations a
                             JOIN club_route_steps s ON s.id = a.step_id
                            WHERE a.order_id = f.order_id AND a.kind = 'follow' AND s.status IN ('planned', 'open')),
                          0), f.created_at
                     FROM club_follows f WHERE f.settled < f.qty"""
            ).fetchall()
            conn.commit()
            users = self._close_orders(conn, orders)
            dues: dict[str, list[Due]] = {}
            for o in orders:
                if (
                    o.type is OrderType.MARKET and not self._market_from_bars and o.status != "pending_cancel"
                    and o.due > 0 and o.parent_id is None
                ):  # fmt: skip
                    dues.setdefault(o.symbol, []).append(Due(o.id, o.side, o.due, o.created_at))
            for order_id, symbol, side, qty, created_at in follows:
                if qty > 0:
                    dues.setdefault(symbol, []).append(Due(order_id, OrderSide(side), qty, created_at, DueKind.FOLLOW))
            now_mono = time.monotonic()
            sends: list[tuple[tuple[uuid.UUID, str], StepPlan, dict[uuid.UUID, VirtualOrder]]] = []
            for symbol, symbol_dues in sorted(dues.items()):
                retry = self._backoff.get(symbol)
                if retry is not None and now_mono < retry[0]:
                    continue
                plan = self._plan(symbol, symbol_dues, in_flight.get(symbol))
                if plan is None:
                    continue
                symbol_orders = {o.id: o for o in orders if o.symbol == symbol}
                recorded, booked = self._take_step(conn, plan, symbol_orders)
                users |= booked
                if recorded is not None:
                    sends.append((recorded, plan, symbol_orders))
            # The street orders of different symbols go out together (each is one round trip to the broker);
            # what they answered is then written here, one at a time.
            submitted = list(self._senders.map(self._submit, [(step, plan) for step, plan, _ in sends]))
            for (step, plan, symbol_orders), outcome in zip(sends, submitted, strict=True):
                users |= self._after_send(conn, step, plan, symbol_orders, outcome)
        self._notify(users)

    def _plan(
        self, symbol: str, dues: list[Due], in_flight: tuple[OrderSide | None, Decimal] | None
    ) -> StepPlan | None:
        """The next step for ``symbol``. While a street order is still on its way, another may join it only on the
        same side (never both sides open at the account) and only if, with everything on its way filled, it
        still does not take the position through zero (Alpaca counts open orders against what can be closed)."""
        position = self._positions.get(symbol, ZERO)
        if in_flight is None or in_flight[0] is None:
            return plan_step(symbol, dues, position)
        side, signed = in_flight
        after = position + signed  # the position once the orders on their way are filled
        plan = plan_step(symbol, dues, after)
        if plan is None or not plan.sends:
            return plan
        if plan.side is not side:
            return None  # the other side waits until the account has no order open on this symbol
        if (position > 0 and after <= 0) or (position < 0 and after >= 0):
            return None  # the open orders already close the position: the opening part waits for them to fill
        return plan

    def _close_orders(self, conn: psycopg.Connection, orders: list[VirtualOrder]) -> set[uuid.UUID]:
        """Day orders past their close, cancels asked for (when nothing of the order is on its way), and bracket
        exits whose entry did not fill: booked as one set."""
        now = self._now()
        parents = parent_statuses(conn, {o.parent_id for o in orders if o.parent_id is not None})
        books = Bookings()
        for o in orders:
            expires = self._day_closes.close_after(o.created_at) if o.time_in_force is TimeInForce.DAY else None
            if expires is not None and now >= expires and o.in_flight == 0:
                books.add(end_event(o, OrderEventType.EXPIRED, "A day order, expired at the close.", now))
            elif o.status == "pending_cancel" and o.in_flight == 0:
                books.add(end_event(o, OrderEventType.CANCELED, "Canceled at the trader's request.", now))
            elif o.parent_id is not None:
                status, _filled, _at = parents.get(o.parent_id, ("missing", ZERO, None))
                if status in ("canceled", "rejected", "expired", "missing"):
                    books.add(end_event(o, OrderEventType.CANCELED, "Its entry order did not fill.", now))
        users = books.book(conn)
        conn.commit()
        return users

    def _take_step(
        self, conn: psycopg.Connection, plan: StepPlan, orders: dict[uuid.UUID, VirtualOrder]
    ) -> tuple[tuple[uuid.UUID, str] | None, set[uuid.UUID]]:
        """Write the step (and book it at once when it is all crosses); returns (step id, client id) when a street
        order is to be sent, and the users whose books changed."""
        step_id = uuid.uuid4()
        client_id = f"club-{step_id.hex}" if plan.sends else None
        reference = self._prices.last_price(plan.symbol)
        if not plan.sends and reference is None:
            return None, set()  # a pure cross needs a price to cross at; wait for the feed
        lock_symbol(conn, plan.symbol)
        market_ids = [a.order_id for a in plan.allocations if a.kind is not AllocationKind.FOLLOW]
        if market_ids and not still_open(conn, market_ids):
            conn.rollback()  # a trader canceled one of them meanwhile: plan again on the next pass
            self._queue.put(_WAKE)
            return None, set()
        status = "planned" if plan.sends else "done"
        conn.execute(
            """INSERT INTO club_route_steps (id, symbol, purpose, side, street_qty, client_order_id, status,
                                            reference_price)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
            (step_id, plan.symbol, plan.purpose.value, plan.side.value if plan.side else None, plan.street_qty,
             client_id, status, reference),
        )  # fmt: skip
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO club_route_allocations (step_id, order_id, kind, priority, qty, filled) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [(step_id, a.order_id, a.kind.value, a.priority, a.qty, a.filled) for a in plan.allocations],
            )
            settled = [(a.filled, a.order_id) for a in plan.allocations if a.kind is AllocationKind.FOLLOW and a.filled]
            if settled:
                cur.executemany("UPDATE club_follows SET settled = settled + %s WHERE order_id = %s", settled)
        users: set[uuid.UUID] = set()
        if not plan.sends:
            assert reference is not None
            users = self._book_crosses(conn, step_id, reference, orders)
        conn.commit()
        self.stats.steps += 1
        self.stats.crossed_qty += plan.crossed_qty
        return ((step_id, client_id) if client_id is not None else None), users

    def _submit(self, job: tuple[tuple[uuid.UUID, str], StepPlan]) -> BrokerOrder | BrokerError:
        """One street order (on a sender thread): the broker's answer, or the error it raised."""
        (_step_id, client_id), plan = job
        assert plan.side is not None
        request = OrderRequest(client_id, plan.symbol, plan.side, plan.street_qty, OrderType.MARKET, TimeInForce.DAY)
        started = time.perf_counter()
        try:
            return self._street.submit_order(request)
        except BrokerError as exc:
            return exc
        finally:
            self.stats.send_seconds.append(time.perf_counter() - started)  # list.append: safe across threads

    def _after_send(
        self, conn: psycopg.Connection, step: tuple[uuid.UUID, str], plan: StepPlan,
        orders: dict[uuid.UUID, VirtualOrder], outcome: BrokerOrder | BrokerError,
    ) -> set[uuid.UUID]:  # fmt: skip
        step_id, _client_id = step
        if isinstance(outcome, NotPlaced) or (isinstance(outcome, BrokerRejected) and _account_state(outcome)):
            # Certainly not placed (429, the budget), or refused for the account's state (another party traded
            # the account, or this router's view of a position was stale): nothing to reject; re-read the
            # account's positions and try again after a pause.
            self.stats.not_placed += 1
            retry_after = getattr(outcome, "retry_after_s", None)
            delay = min(self._backoff.get(plan.symbol, (0.0, BACKOFF_START_S / 2))[1] * 2, BACKOFF_MAX_S)
            delay = max(delay, retry_after or 0.0)
            self._backoff[plan.symbol] = (time.monotonic() + delay, delay)
            log.warning("street order for %s not placed (%s); retrying in %.1f s", plan.symbol, outcome, delay)
            self._finish_unsent(conn, step_id, str(outcome))
            if isinstance(outcome, BrokerRejected):
                self._refresh_positions()
            return set()
        if isinstance(outcome, BrokerRejected):
            self.stats.street_rejected += 1
            log.error("street order for %s refused: %s", plan.symbol, outcome)
            return self._reject_step(conn, step_id, str(outcome), plan.symbol)
        if isinstance(outcome, BrokerError):
            # Unknown outcome: the step stays planned; re-settlement asks the broker by client order id.
            log.warning("street order for %s unanswered (%s); re-settling", plan.symbol, outcome)
            self._queue.put(_RESETTLE)
            return set()
        placed = outcome
        self._backoff.pop(plan.symbol, None)
        sent = self._now()
        conn.execute(
            "UPDATE club_route_steps SET status = 'open', broker_order_id = %s, sent_at = %s WHERE id = %s",
            (placed.id, sent, step_id),
        )
        conn.commit()
        self.stats.street_orders += 1
        for a in plan.allocations:
            if a.kind is AllocationKind.STREET and a.order_id in orders:
                self.stats.route_latencies_s.append((sent - orders[a.order_id].created_at).total_seconds())
        if placed.filled_qty > 0 or placed.is_terminal:  # a broker that answers with the fill
            return self._apply_street_order(conn, placed, None)
        return set()

    def _finish_unsent(self, conn: psycopg.Connection, step_id: uuid.UUID, reason: str) -> None:
        """A step whose street order certainly never reached the broker: its quantities are due again."""
        conn.execute("UPDATE club_route_steps SET status = 'not_placed', error = %s WHERE id = %s", (reason, step_id))
        conn.execute(
            """UPDATE club_follows f SET settled = f.settled - a.filled
                 FROM club_route_allocations a
                WHERE a.step_id = %s AND a.kind = 'follow' AND a.order_id = f.order_id""",
            (step_id,),
        )
        conn.commit()

    def _reject_step(self, conn: psycopg.Connection, step_id: uuid.UUID, reason: str, symbol: str) -> set[uuid.UUID]:
        """The street refused the net: its market orders are refused too (crosses still happen at the reference)."""
        conn.execute("UPDATE club_route_steps SET status = 'done', error = %s WHERE id = %s", (reason, step_id))
        users = self._refuse_street_part(conn, step_id, symbol, reason)
        reference = self._prices.last_price(symbol)
        if reference is not None:
            users |= self._book_crosses(conn, step_id, reference, {o.id: o for o in open_virtual_orders(conn, symbol)})
        conn.commit()
        return users

    # ----- street fills ----------------------------------------------------------------------
    def _apply_street(self, event: OrderEvent) -> None:
        with raw_connection(self._engine) as conn:
            order = event.order
            if event.type is OrderEventType.REPLACED and event.replaced_by is not None:
                conn.execute(
                    "UPDATE club_route_steps SET broker_order_id = %s WHERE client_order_id = %s",
                    (event.replaced_by.id, order.client_order_id),
                )
                conn.commit()
                return
            users = self._apply_street_order(conn, order, event)
        self._notify(users)

    def _apply_street_order(
        self, conn: psycopg.Connection, order: BrokerOrder, event: OrderEvent | None
    ) -> set[uuid.UUID]:
        """Book what ``order`` (a street order's cumulative state) filled beyond the step's watermark."""
        row = conn.execute(
            """SELECT id, symbol, side, street_filled, street_notional, status, reference_price
                 FROM club_route_steps WHERE client_order_id = %s FOR UPDATE""",
            (order.client_order_id,),
        ).fetchone()
        if row is None or row[5] in ("done", "not_placed"):
            conn.rollback()
            return set()
        step_id, symbol, side, watermark, notional, _status, reference = row
        users: set[uuid.UUID] = set()
        delta = order.filled_qty - watermark
        if delta > 0:
            if event is not None and event.price is not None and event.qty == delta:
                price = event.price
            elif order.filled_avg_price is not None:
                price = (order.filled_qty * order.filled_avg_price - notional) / delta
            else:
                conn.rollback()
                log.error("street fill for %s carries no price; waiting for re-settlement", order.client_order_id)
                return set()
            conn.execute(
                """UPDATE club_route_steps SET street_filled = %s, street_notional = street_notional + %s,
                          status = 'open', broker_order_id = coalesce(broker_order_id, %s) WHERE id = %s""",
                (order.filled_qty, delta * price, order.id, step_id),
            )
            users |= self._allocate(conn, step_id, symbol, delta, price, f"{order.client_order_id}:{order.filled_qty}")
            signed = delta if side == "buy" else -delta
            self._positions[symbol] = self._positions.get(symbol, ZERO) + signed
        if order.is_terminal:
            conn.execute("UPDATE club_route_steps SET status = 'done' WHERE id = %s", (step_id,))
            filled = order.filled_qty
            avg = (notional + (delta * price if delta > 0 else ZERO)) / filled if filled > 0 else None
            cross_price = avg if avg is not None else reference
            if cross_price is not None:
                orders = {o.id: o for o in open_virtual_orders(conn, symbol)}
                users |= self._book_crosses(conn, step_id, cross_price, orders)
            if order.status is OrderStatus.REJECTED and filled == 0:
                # Refused after it was accepted: the traders' market orders in it are refused with the broker's
                # reason (unless it is about the account's state, which only delays them); followers wait.
                reason = (
                    event.reason if event is not None else None
                ) or "it refused it after accepting it (Alpaca gives no reason)"
                log.error("street order %s rejected after acceptance: %s", order.client_order_id, reason)
                if _account_state(BrokerRejected(reason)):
                    self._refresh_positions()
                else:
                    users |= self._refuse_street_part(conn, step_id, symbol, reason)
        conn.commit()
        return users

    def _refuse_street_part(
        self, conn: psycopg.Connection, step_id: uuid.UUID, symbol: str, reason: str
    ) -> set[uuid.UUID]:
        rows = conn.execute(
            "SELECT order_id FROM club_route_allocations WHERE step_id = %s AND kind = 'street'", (step_id,)
        ).fetchall()
        orders = {o.id: o for o in open_virtual_orders(conn, symbol)}
        books = Bookings()
        now = self._now()
        for (order_id,) in rows:
            if order_id in orders:
                books.add(
                    end_event(orders[order_id], OrderEventType.REJECTED, f"The broker refused the order: {reason}", now)
                )
        return books.book(conn)

    def _allocate(
        self, conn: psycopg.Connection, step_id: uuid.UUID, symbol: str, executed: Decimal, price: Decimal,
        execution_key: str,
    ) -> set[uuid.UUID]:  # fmt: skip
        rows = conn.execute(
            "SELECT order_id, kind, priority, qty, filled FROM club_route_allocations "
            "WHERE step_id = %s AND kind <> 'cross' FOR UPDATE",
            (step_id,),
        ).fetchall()
        shares = allocate([(r[0], AllocationKind(r[1]), r[2], r[3], r[4]) for r in rows], executed)
        orders = {o.id: o for o in open_virtual_orders(conn, symbol)}
        now = self._now()
        books = Bookings()
        for share in shares:
            conn.execute(
                "UPDATE club_route_allocations SET filled = filled + %s WHERE step_id = %s AND order_id = %s "
                "AND kind = %s",
                (share.qty, step_id, share.order_id, share.kind.value),
            )
            if share.kind is AllocationKind.FOLLOW:
                conn.execute(
                    "UPDATE club_follows SET settled = settled + %s WHERE order_id = %s", (share.qty, share.order_id)
                )
                continue
            order = orders.get(share.order_id)
            if order is None:
                continue  # closed meanwhile (it cannot be: in-flight orders are not canceled); nothing to book
            fee = self._fill_model.commission.fee(price, share.qty)  # each trader pays as if filled alone
            books.add(fill_event(order, order.filled, share.qty, price, f"{execution_key}:{order.id}", now, fee))
            orders[order.id] = _with_filled(order, order.filled + share.qty)
        return books.book(conn)

    def _book_crosses(
        self, conn: psycopg.Connection, step_id: uuid.UUID, price: Decimal, orders: dict[uuid.UUID, VirtualOrder]
    ) -> set[uuid.UUID]:
        rows = conn.execute(
            "SELECT order_id, qty FROM club_route_allocations WHERE step_id = %s AND kind = 'cross' AND filled < qty "
            "ORDER BY priority FOR UPDATE",
            (step_id,),
        ).fetchall()
        now = self._now()
        books = Bookings()
        price = price.quantize(Decimal("0.000001"))
        for order_id, qty in rows:
            order = orders.get(order_id)
            conn.execute(
                "UPDATE club_route_allocations SET filled = qty "
                "WHERE step_id = %s AND order_id = %s AND kind = 'cross'",
                (step_id, order_id),
            )
            if order is None:
                continue
            fee = self._fill_model.commission.fee(price, qty)
            books.add(fill_event(order, order.filled, qty, price, f"cross:{step_id.hex}:{order.id}", now, fee))
            orders[order_id] = _with_filled(order, order.filled + qty)
        return books.book(conn)

    # ----- resting orders --------------------------------------------------------------------
    def _apply_bar(self, symbol: str, bar: NormalizedBar) -> None:
        """Fill resting orders with the fill model on a bar that closed after they were placed (a bracket's exits:
        after its entry filled), as the backtester fills them: a bracket's two exits are judged together by
        ``evaluate_bracket_exit`` (the stop-loss first when the bar cannot tell), never both."""
        closes_at = bar.timestamp + self._bar_length
        books = Bookings()  # the bar's fills and one-cancels-other closes, booked as one set
        with raw_connection(self._engine) as conn:
            lock_symbol(conn, symbol)
            orders = [
                o for o in open_virtual_orders(conn, symbol)
                if (o.resting or self._market_from_bars) and o.status != "pending_cancel" and o.in_flight == 0
            ]  # fmt: skip
            parents = parent_statuses(conn, {o.parent_id for o in orders if o.parent_id is not None})
            now = self._now()
            exits: dict[uuid.UUID, list[VirtualOrder]] = {}
            for o in orders:
                if o.created_at >= closes_at or o.remaining <= 0 or self._expired_before(o, bar.timestamp):
                    continue
                if o.parent_id is None:
                    self._apply_decision(conn, o, self._fill_model.evaluate(_working(o), bar), bar, now, books)
                    continue
                status, _filled, filled_at = parents.get(o.parent_id, ("missing", ZERO, None))
                if status == "filled" and filled_at is not None and filled_at < closes_at:
                    exits.setdefault(o.parent_id, []).append(o)
            for legs in exits.values():
                self._apply_exits(conn, legs, bar, now, books)
            users = books.book(conn)
            conn.commit()
        self._notify(users)

    def _expired_before(self, order: VirtualOrder, when: datetime) -> bool:
        """A DAY order whose close came before ``when`` (the next routing pass books its expiry)."""
        if order.time_in_force is not TimeInForce.DAY:
            return False
        close = self._day_closes.close_after(order.created_at)
        return close is not None and close <= when

    def _apply_exits(
        self, conn: psycopg.Connection, legs: list[VirtualOrder], bar: NormalizedBar, now: datetime, books: Bookings
    ) -> None:
        take_profit = next((leg for leg in legs if leg.type is OrderType.LIMIT), None)
        stop_loss = next((leg for leg in legs if leg.type in (OrderType.STOP, OrderType.STOP_LIMIT)), None)
        if take_profit is None or stop_loss is None:  # one exit left (the other was canceled by its trader)
            leg = take_profit or stop_loss
            assert leg is not None
            self._apply_decision(conn, leg, self._fill_model.evaluate(_working(leg), bar), bar, now, books)
            return
        exit_ = evaluate_bracket_exit(self._fill_model, _working(take_profit), _working(stop_loss), bar)
        if exit_ is None:
            return
        leg, other = (take_profit, stop_loss) if exit_.leg is BracketLeg.TAKE_PROFIT else (stop_loss, take_profit)
        self._apply_decision(conn, leg, exit_.decision, bar, now, books)
        if exit_.decision.filled:  # one cancels the other
            books.add(end_event(other, OrderEventType.CANCELED, "The other exit of the bracket filled.", now))

    def _apply_decision(
        self, conn: psycopg.Connection, o: VirtualOrder, decision: FillDecision | None, bar: NormalizedBar,
        now: datetime, books: Bookings,
    ) -> None:  # fmt: skip
        if decision is None:
            return
        if decision.triggered and not o.stop_triggered and o.type is OrderType.STOP_LIMIT:
            conn.execute("INSERT INTO club_stop_triggers (order_id) VALUES (%s) ON CONFLICT DO NOTHING", (o.id,))
        if not decision.filled or decision.price is None:
            return
        execution = f"bar:{o.id.hex}:{bar.timestamp.isoformat()}"
        books.add(fill_event(o, o.filled, decision.qty, decision.price, execution, now, decision.fee))
        conn.execute(
            """INSERT INTO club_follows (order_id, symbol, side, qty, price) VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (order_id) DO UPDATE SET qty = club_follows.qty + excluded.qty""",
            (o.id, o.symbol, o.side.value, decision.qty, decision.price),
        )
        self.stats.resting_fills += 1

    # ----- re-settlement ---------------------------------------------------------------------
    def _refresh_positions(self) -> None:
        try:
            self._positions = {p.symbol: p.qty for p in self._street.get_positions()}
        except BrokerError as exc:
            log.warning("cannot read the account's positions (%s); keeping the router's own", exc)

    def _resettle(self) -> None:
        """Read every unfinished step back from the broker (reconnect, failover, start), then the account's
        positions: read after the steps, they already hold every fill those steps just booked."""
        users: set[uuid.UUID] = set()
        with raw_connection(self._engine) as conn:
            steps = conn.execute(
                "SELECT id, client_order_id, status FROM club_route_steps WHERE status IN ('planned', 'open')"
            ).fetchall()
            conn.commit()
            for step_id, client_id, status in steps:
                try:
                    remote = self._street.get_order_by_client_id(client_id)
                except OrderNotFound:
                    if status == "planned":
                        self._finish_unsent(conn, step_id, "never reached the broker")
                    continue
                except BrokerError as exc:
                    log.warning("re-settling %s failed (%s); will retry", client_id, exc)
                    continue
                self.stats.resettled += 1
                users |= self._apply_street_order(conn, remote, None)
                if status == "planned":
                    conn.execute(
                        "UPDATE club_route_steps SET status = 'open', broker_order_id = %s "
                        "WHERE id = %s AND status = 'planned'",
                        (remote.id, step_id),
                    )
                    conn.commit()
        self._refresh_positions()
        self._notify(users)

    def _notify(self, users: set[uuid.UUID]) -> None:
        for user in users:
            self._changes.notify(str(user))

    def street_positions(self) -> dict[str, Decimal]:
        return dict(self._positions)


_ACCOUNT_STATE_REFUSALS = (
    "insufficient qty available",
    "potential wash trade",
    "while a short sell order is open",
    "while a long buy order is open",
)


def _latest_street_states(items: list[Any]) -> list[Any]:
    """The queue's items with each street order's fill events reduced to its latest: every event carries the
    order's cumulative state and the step's watermark books the difference, so the last one books what all of
    them would (as one execution at their average price), in one transaction instead of one each."""
    last: dict[str, int] = {}
    for n, it in enumerate(items):
        if isinstance(it, tuple) and it[0] == "street" and it[1].type in _FILL_EVENTS:
            order = it[1].order
            kept = last.get(order.client_order_id)
            if kept is None or order.filled_qty >= items[kept][1].order.filled_qty:
                last[order.client_order_id] = n
    keep = set(last.values())
    return [
        it for n, it in enumerate(items)
        if not (isinstance(it, tuple) and it[0] == "street" and it[1].type in _FILL_EVENTS) or n in keep
    ]  # fmt: skip


_FILL_EVENTS = frozenset({OrderEventType.FILL, OrderEventType.PARTIAL_FILL})


def _account_state(exc: BrokerRejected) -> bool:
    """A refusal about the account's state (Alpaca's account-wide rules), not about the order itself."""
    text = str(exc).lower()
    return any(phrase in text for phrase in _ACCOUNT_STATE_REFUSALS)


def _working(order: VirtualOrder) -> WorkingOrder:
    return WorkingOrder(
        order.side, order.type, order.remaining, order.limit_price, order.stop_price, order.stop_triggered
    )


def _with_filled(order: VirtualOrder, filled: Decimal) -> VirtualOrder:
    return replace(order, filled=filled)
