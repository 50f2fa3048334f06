"""The virtualization proxy: one shared broker account, many virtual accounts.

Placement: lock the user's row, run the risk chain, reserve the worst-case
cost and insert the order in ONE transaction; then submit with the order's
``client_order_id``. Events: every broker event is applied exactly once
(see core.ledger.fills); any client may apply any user's event. Start-up:
``settle_user`` asks the broker about every open order by client order id.

Lock order is always user row, then order row, so concurrent placements and
fills of one user serialise instead of deadlocking.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.broker.errors import BrokerError, BrokerRejected, BrokerUnavailable, NotPlaced, OrderNotFound, RateLimited
from core.broker.protocol import Broker
from core.broker.sim_events import BatchEventSource
from core.db.models import Order, User
from core.db.notifier import CoalescingNotifier
from core.db.raw import engine_of, raw_connection
from core.domain.clock import utc_now
from core.domain.money import buying_power, money, reference_price, reservation
from core.domain.orders import (
    LEDGER_STATUS_RANK,
    OPEN_LEDGER_STATUSES,
    TERMINAL_LEDGER_STATUSES,
    Asset,
    BrokerOrder,
    LedgerOrderStatus,
    OrderEvent,
    OrderEventType,
    OrderRequest,
    OrderType,
)
from core.domain.symbols import normalize_symbol
from core.domain.tickets import OrderTicket
from core.ledger.acceptances import Acceptance, AcceptanceWriter
from core.ledger.booking import Outcome, book_event, book_events
from core.ledger.books import HeldPosition, read_books
from core.ledger.errors import LedgerError, OrderRejected, UnknownOrder
from core.ledger.input_checks import check_order_input
from core.ledger.placement import AccountSnapshot, OrderRecord, lock_account, record_order
from core.ledger.prices import PriceSource
from core.ledger.views import PlacedOrder, Portfolio, PositionView
from core.risk import RiskChain, RiskContext, default_chain, short_part

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "stratforge_ledger"  # the prefix of each user's channel: ledger_channel(user_id)
ASSET_CACHE_FOR = timedelta(minutes=10)


def ledger_channel(user_id: uuid.UUID | str) -> str:
    """The channel a user's book changes are NOTIFYed on (payload: the user's id). One per user: in a club any role
    may LISTEN on any channel, and a shared one told every member when, and whose, books changed."""
    return f"{NOTIFY_CHANNEL}_{uuid.UUID(str(user_id)).hex}"
# A set of events is booked in at most this many statements, BOOKING_RETRY_S apart and doubling: all but the last
# skip the users whose rows are locked (Ledger._book_set). bench.ledger's saturated phase, 2 booking workers, one
# run each on a loaded machine: one statement waiting for every user 420 orders/s (bookings 4,100 orders behind
# when the last placement returned); one skipping, one waiting 593; five as here 746 (283 behind).
BOOKING_PASSES = 5
BOOKING_RETRY_S = 0.001

# A submit the broker certainly did not process (core.broker.errors.NotPlaced) is tried at most this many times,
# within this many seconds, waiting what the refusal asked (else SUBMIT_BACKOFF_S doubling) between tries.
SUBMIT_ATTEMPTS = 3
SUBMIT_RETRY_WITHIN_S = 10.0
SUBMIT_BACKOFF_S = 0.5
SUBMIT_MIN_WAIT_S = 0.05
# An order filed under a session, signal or strategy that is not the trader's own (or no longer exists) is refused
# with these words; without the check another trader's session would list the order as its own and cancel it.
_NOT_OWN = {
    "session": "No such trading session: the order can only be placed for one of your own sessions.",
    "signal": "No such signal: the order can only be placed for a signal of your own sessions.",
    "strategy": "No such strategy: the order can only be placed for one of your own strategies.",
}
NOT_SENT_BUDGET = "Not sent: the club's Alpaca request budget is exhausted; try again in a minute."


class Ledger:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        broker: Broker,
        prices: PriceSource,
        risk: RiskChain | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        fee_estimate: Callable[[OrderTicket, Decimal], Decimal] = lambda ticket, price: Decimal(0),
        subscribe: bool = True,
        acceptance_window_s: float = 0.02,
    ) -> None:
        self._sessions = session_factory
        self._engine = engine_of(session_factory)
        # Every client LISTENs on this channel: portfolio views refresh without polling.
        self._changes = CoalescingNotifier(self._engine, ledger_channel)
        self._broker = broker
        self._prices = prices
        self._risk = risk or default_chain()
        self._now = clock
        self._fee_estimate = fee_estimate
        self._assets: dict[str, tuple[Asset, datetime]] = {}
        self._assets_lock = threading.Lock()
        # Acceptances are written in batches (core.ledger.acceptances). Orders this process placed are reported
        # accepted twice (the submit call's answer, the broker's NEW event): the first report queues the write,
        # the second is dropped. Client id -> True once the first report came.
        self._acceptances = AcceptanceWriter(self._engine, self._notify_users, window_s=acceptance_window_s)
        self._own: dict[str, bool] = {}
        self._own_lock = threading.Lock()
        if subscribe:
            if isinstance(broker, BatchEventSource):  # a bar's fills come together: book them in one statement
                broker.add_batch_handler(self.apply_events)
            else:
                broker.add_event_handler(self.apply_event)

    # ----- placement -------------------------------------------------------------------------
    def place_order(
        self,
        user_id: uuid.UUID,
        ticket: OrderTicket,
        *,
        session_id: uuid.UUID | None = None,
        signal_id: uuid.UUID | None = None,
        strategy_id: uuid.UUID | None = None,
        request_id: uuid.UUID | None = None,
    ) -> PlacedOrder:
        """Check, reserve, record, submit. Raises OrderRejected (nothing reserved, nothing sent).

        ``request_id`` is the club order request (core.db.models.OrderRequest) the order is placed for; the
        column is unique, so a club service that crashed between placing and answering a request cannot place it
        a second time (the insert fails, nothing is reserved).

        A quantity or price no order can have (0, negative, beyond MAX_ORDER_QTY / MAX_ORDER_PRICE) is refused
        first, before the broker is asked about the symbol (core.ledger.input_checks)."""
        check_order_input(ticket)
        symbol = ticket.symbol  # canonical already: the ticket normalised it when it was built
        asset = self._asset(symbol)
        last = self._prices.last_price(symbol)
        order_id = uuid.uuid4()
        client_order_id = f"sf-{order_id.hex}"
        now = self._now()
        # Plain round trips (BEGIN, the locking read, the insert, COMMIT), not pipeline mode: psycopg's pipeline
        # costs more CPU than the two round trips it saves (460 against 330 us of machine CPU for such a
        # transaction; bench.ledger: 20% less client CPU per order without it).
        with raw_connection(self._engine) as conn:
            snapshot = lock_account(
                conn, user_id, symbol, now, session_id=session_id, signal_id=signal_id, strategy_id=strategy_id
            )
            if snapshot is None:
                raise LedgerError("That account no longer exists.")
            if snapshot.not_own is not None:
                # The same words for another trader's row and a missing one: ids of others cannot be probed.
                raise OrderRejected(_NOT_OWN[snapshot.not_own], "ownership")
            ctx = self._risk_context(snapshot, ticket, asset, last, now)
            rejection = self._risk.check(ctx)
            if rejection is not None:
                raise OrderRejected(rejection.reason, rejection.rule)
            held = ctx.reservation
            record = OrderRecord(
                order_id, user_id, client_order_id, self._broker.name, ticket, held, now,
                session_id=session_id, signal_id=signal_id, strategy_id=strategy_id, request_id=request_id,
            )  # fmt: skip
            record_order(conn, record)
            conn.commit()
        self._changes.notify(str(user_id))
        with self._own_lock:
            if len(self._own) > 10_000:  # second reports that never come (the stream is another client's)
                self._own.clear()
            self._own[client_order_id] = False
        return self._submit(order_id, client_order_id, ticket, held)

    def _submit(self, order_id: uuid.UUID, client_order_id: str, ticket: OrderTicket, held: Decimal) -> PlacedOrder:
        request = OrderRequest(
            client_order_id=client_order_id,
            symbol=ticket.symbol,
            side=ticket.side,
            qty=ticket.qty,
            type=ticket.type,
            time_in_force=ticket.time_in_force,
            limit_price=ticket.limit_price,
            stop_price=ticket.stop_price,
            order_class=ticket.order_class,
            take_profit_limit_price=ticket.take_profit_price,
            stop_loss_stop_price=ticket.stop_loss_price,
        )
        # A definite non-placement (a 429, the club budget's own refusal) is retried while it may still succeed soon:
        # the same client order id, so a retry can never place the order twice. Whatever is still refused after
        # SUBMIT_ATTEMPTS tries or SUBMIT_RETRY_WITHIN_S seconds is closed at once: it certainly is not at the broker,
        # so holding its reservation "pending" until a settlement (as for an unanswered submit) would only block cash.
        gave_up_at = time.monotonic() + SUBMIT_RETRY_WITHIN_S
        attempt = 1
        while True:
            try:
                placed = self._broker.submit_order(request)
                break
            except NotPlaced as exc:
                wait_s = exc.retry_after_s if exc.retry_after_s is not None else SUBMIT_BACKOFF_S * 2 ** (attempt - 1)
                wait_s = max(wait_s, SUBMIT_MIN_WAIT_S)
                if attempt < SUBMIT_ATTEMPTS and time.monotonic() + wait_s <= gave_up_at:
                    log.info("submit of %s not placed (%s); retrying in %.1f s", client_order_id, exc, wait_s)
                    time.sleep(wait_s)
                    attempt += 1
                    continue
                self._forget_own(client_order_id)
                reason = NOT_SENT_BUDGET if isinstance(exc, RateLimited) else f"Not sent: {exc}"
                log.warning("submit of %s not placed after %d attempt(s): %s", client_order_id, attempt, exc)
                self._close_unsent(order_id, "rejected", reason)
                raise OrderRejected(reason) from exc
            except BrokerRejected as exc:
                self._forget_own(client_order_id)
                self._close_unsent(order_id, "rejected", str(exc))
                raise OrderRejected(f"The broker refused the order: {exc}") from exc
            except BrokerUnavailable as exc:
                self._forget_own(client_order_id)
                log.warning("submit of %s unanswered: %s", client_order_id, exc)
                return PlacedOrder(
                    order_id, client_order_id, "pending", held,
                    message=f"The broker did not answer ({exc}); the order will be settled when it does.",
                )  # fmt: skip
        if not placed.legs:
            if not self._accept_own(placed):  # not noted as ours any more (the note was cleared): book it now
                self._book(OrderEvent(OrderEventType.NEW, placed, self._now()))
            return PlacedOrder(order_id, client_order_id, "accepted", held, placed.id)
        self._forget_own(client_order_id)
        with self._sessions() as s:  # a bracket order: record the legs the broker created with it
            status = s.scalar(
                update(Order)
                .where(Order.id == order_id)
                .values(
                    broker_order_id=func.coalesce(Order.broker_order_id, placed.id),
                    status=case((Order.status == "pending", "accepted"), else_=Order.status),
                    submitted_at=placed.submitted_at,
                )
                .returning(Order.status)
            )
            if placed.legs:
                parent = s.get(Order, order_id)
                assert parent is not None
                for leg in placed.legs:
                    self._adopt_leg(s, leg, parent)
            s.commit()
        return PlacedOrder(order_id, client_order_id, status or "accepted", held, placed.id)

    def cancel_order(self, user_id: uuid.UUID, order_id: uuid.UUID) -> None:
        """Ask the broker to cancel; the canceled event releases the reservation."""
        order = self._open_order(user_id, order_id)
        if order.broker_order_id is None and self._acceptances.is_pending(order.client_order_id):
            self._acceptances.flush()  # its acceptance is still waiting to be written
            order = self._open_order(user_id, order_id)
        broker_id = order.broker_order_id
        if broker_id is None:  # no acceptance recorded: ask the broker whether it has the order
            try:
                broker_id = self._broker.get_order_by_client_id(order.client_order_id).id
            except OrderNotFound:
                self._close_unsent(order_id, "canceled", "Canceled before it reached the broker.")
                return
            except BrokerError as exc:
                raise LedgerError(f"Cannot reach the broker to cancel the order: {exc}") from exc
        try:
            self._broker.cancel_order(broker_id)
        except BrokerRejected as exc:
            raise LedgerError(f"The broker could not cancel the order: {exc}") from exc
        with self._sessions() as s:
            row = s.scalar(select(Order).where(Order.id == order_id).with_for_update())
            canceling = LEDGER_STATUS_RANK[LedgerOrderStatus.PENDING_CANCEL]
            if row is not None and row.status in OPEN_LEDGER_STATUSES and LEDGER_STATUS_RANK[row.status] < canceling:
                row.status = LedgerOrderStatus.PENDING_CANCEL
                s.commit()
                self._changes.notify(str(user_id))

    def _open_order(self, user_id: uuid.UUID, order_id: uuid.UUID) -> Order:
        with self._sessions() as s:
            order = s.scalar(select(Order).where(Order.id == order_id, Order.user_id == user_id))
        if order is None:
            raise UnknownOrder("No such order.")
        if order.status in TERMINAL_LEDGER_STATUSES:
            raise LedgerError(f"The order is already {order.status}.")
        return order

    def flush_acceptances(self) -> None:
        """Write the acceptances still waiting for their batch (at shutdown, or before reading orders back)."""
        self._acceptances.flush()

    # ----- events ----------------------------------------------------------------------------
    def apply_event(self, event: OrderEvent) -> bool:
        """Apply one broker event exactly once; True when it changed the books."""
        try:
            return self._apply_event(event)
        except (IntegrityError, psycopg.IntegrityError):
            # Another client applied the same event concurrently; it is booked once, by them.
            log.info("event for %s already applied elsewhere", event.order.client_order_id)
            return False

    def apply_events(self, events: Sequence[OrderEvent]) -> int:
        """Apply a set of broker events (a bar's fills, a stream's backlog) exactly once, in order; how many
        changed the books.

        ``apply_event``'s rules, in as few statements as they allow: consecutive fills, cancellations,
        rejections and expiries are booked by one statement (core.ledger.booking.book_events), and each user is
        notified once. A NEW of an order this process placed joins the batched acceptances, as in ``apply_event``;
        any other NEW or REPLACED event goes through ``apply_event`` at its place in the set (they are rare:
        bracket legs going live, settlement, other clients' orders)."""
        changed = 0
        users: set[uuid.UUID] = set()
        run: list[OrderEvent] = []
        for event in events:
            if event.type is OrderEventType.NEW and self._accept_own(event.order):
                continue  # no booking: it joins the batched acceptances (or was already queued by the submit)
            if event.type in (OrderEventType.NEW, OrderEventType.REPLACED):
                changed += self._book_set(run, users)
                run = []
                changed += self.apply_event(event)
            else:
                run.append(event)
        changed += self._book_set(run, users)
        self._notify_users(users)
        return changed

    def _book_set(self, events: list[OrderEvent], users: set[uuid.UUID]) -> int:
        """Book ``events`` together; adds the users whose books changed to ``users``.

        Each statement books the events of the users whose rows are free at that moment and leaves the others
        (an order of theirs is being placed) for the next, a moment later; the last one waits for them. A set
        that waited for each busy user in turn would hold every user it had locked meanwhile, and their
        placements with them (BOOKING_PASSES). An unknown order's events are booked again, in their order, once
        it is adopted as a bracket leg."""
        if not events:
            return 0
        outcomes: list[tuple[Outcome, uuid.UUID | None]] = [(Outcome.BUSY, None)] * len(events)
        busy = list(range(len(events)))
        with raw_connection(self._engine, autocommit=True) as conn:
            for attempt in range(BOOKING_PASSES):
                if attempt:
                    time.sleep(BOOKING_RETRY_S * 2 ** (attempt - 1))
                last = attempt == BOOKING_PASSES - 1
                results = book_events(conn, [events[i] for i in busy], skip_busy=not last)
                for i, result in zip(busy, results, strict=True):
                    outcomes[i] = result
                busy = [i for i in busy if outcomes[i][0] is Outcome.BUSY]
                if not busy:
                    break
        unknown = [event for event, (outcome, _) in zip(events, outcomes, strict=True) if outcome is Outcome.UNKNOWN]
        if unknown:
            adopted: dict[str, bool] = {}
            for event in unknown:
                client_id = event.order.client_order_id
                if client_id not in adopted:
                    adopted[client_id] = self._adopt_leg_of(event.order)
            retry = [event for event in unknown if adopted[event.order.client_order_id]]
            if retry:
                with raw_connection(self._engine, autocommit=True) as conn:
                    outcomes = [*outcomes, *book_events(conn, retry)]
        changed = 0
        for outcome, user_id in outcomes:
            if outcome in (Outcome.ACCEPTED, Outcome.CHANGED):
                changed += 1
                if user_id is not None:
                    users.add(user_id)
        return changed

    def _apply_event(self, event: OrderEvent) -> bool:
        if event.type is OrderEventType.REPLACED:
            return event.replaced_by is not None and self._follow_replacement(event.order, event.replaced_by)
        if event.type is OrderEventType.NEW and self._accept_own(event.order):
            return False  # queued for the next batch of acceptances (or already queued by the submit answer)
        outcome = self._book(event)
        if outcome is Outcome.UNKNOWN:
            if not self._adopt_leg_of(event.order):
                return False  # not a StratForge order (someone else on the shared account)
            outcome = self._book(event)
        if outcome is Outcome.UNCHANGED and event.type is OrderEventType.NEW:
            # Settlement reads an order by our client order id; a broker that replaced it answers with the
            # replacement under that id (AlpacaBroker.get_order_by_client_id), so a replaced event the stream missed
            # still moves the row onto the new broker order. Only settlement and duplicates get here.
            return self._follow_replacement(event.order, event.order)
        return outcome in (Outcome.ACCEPTED, Outcome.CHANGED)

    def _follow_replacement(self, old: BrokerOrder, new: BrokerOrder) -> bool:
        """The broker replaced ``old`` with ``new`` (same trade, new broker id, maybe new size or prices): the row
        keeps our client order id and takes the new broker id, so the new order's events (which carry the broker's
        own client order id) are booked against it by broker id. Nothing is released or canceled; the reservation
        stays as placed (a fill beyond it is paid from cash, as for any fill above the reserved price).

        One UPDATE of the order row alone (no user lock: no money moves); when nothing was replaced it matches no
        row, which costs one index lookup."""
        with self._sessions() as s:
            row = s.execute(
                update(Order)
                .where(
                    (Order.client_order_id == old.client_order_id) | (Order.broker_order_id == old.id),
                    Order.status.in_(OPEN_LEDGER_STATUSES),
                    Order.broker_order_id.is_distinct_from(new.id),
                )
                .values(
                    broker_order_id=new.id,
                    # a replacement smaller than what already filled cannot be: keep the size, fills still book
                    quantity=case((Order.filled_quantity <= new.qty, new.qty), else_=Order.quantity),
                    limit_price=new.limit_price,
                    stop_price=new.stop_price,
                )
                .returning(Order.id, Order.user_id)
            ).first()
            s.commit()
        if row is None:
            return False  # not ours, already followed, or no longer working
        log.info("order %s now follows broker order %s (replaced %s)", row.id, new.id, old.id)
        self._changes.notify(str(row.user_id))
        return True

    def _accept_own(self, order: BrokerOrder) -> bool:
        """For an order this process placed: queue its acceptance on the first report, drop the second.
        False for any other order (the caller books it)."""
        with self._own_lock:
            reported = self._own.get(order.client_order_id)
            if reported is None:
                return False
            if reported:
                del self._own[order.client_order_id]
                return True
            self._own[order.client_order_id] = True
        self._acceptances.add(Acceptance(order.client_order_id, order.id, order.submitted_at))
        return True

    def _forget_own(self, client_order_id: str) -> None:
        with self._own_lock:
            self._own.pop(client_order_id, None)

    def _notify_users(self, users: set[uuid.UUID]) -> None:
        for user_id in users:
            self._changes.notify(str(user_id))

    def _book(self, event: OrderEvent) -> Outcome:
        with raw_connection(self._engine, autocommit=True) as conn:
            outcome, user_id = book_event(conn, event)
        if outcome in (Outcome.ACCEPTED, Outcome.CHANGED):
            self._changes.notify(str(user_id))
        return outcome

    def _adopt_leg_of(self, broker_order: BrokerOrder) -> bool:
        """A bracket leg the broker created reports under its own ids: record it under its entry order."""
        with self._sessions() as s:
            leg = self._adopt_leg_by_parent(s, broker_order)
            if leg is None:
                return False
            s.commit()
            return True

    def _adopt_leg_by_parent(self, s: Session, broker_order: BrokerOrder) -> Order | None:
        if broker_order.parent_id is None:
            return None
        parent = s.scalar(select(Order).where(Order.broker_order_id == broker_order.parent_id))
        return self._adopt_leg(s, broker_order, parent) if parent is not None else None

    def _adopt_leg(self, s: Session, leg: BrokerOrder, parent: Order) -> Order:
        """Record a bracket leg the broker created, as a child of our entry order (once)."""
        existing = s.scalar(select(Order).where(Order.client_order_id == leg.client_order_id))
        if existing is not None:
            return existing
        child = Order(
            id=uuid.uuid4(),
            user_id=parent.user_id,
            session_id=parent.session_id,
            signal_id=parent.signal_id,
            strategy_id=parent.strategy_id,
            parent_order_id=parent.id,
            leg_role="take_profit" if leg.type is OrderType.LIMIT else "stop_loss",
            client_order_id=leg.client_order_id,
            broker_order_id=leg.id,
            broker=parent.broker,
            symbol=leg.symbol,
            side=leg.side.value,
            order_type=leg.type.value,
            time_in_force=leg.time_in_force.value,
            quantity=leg.qty,
            limit_price=leg.limit_price,
            stop_price=leg.stop_price,
            status="accepted",
            created_at=self._now(),
        )
        try:
            with s.begin_nested():
                s.add(child)
        except IntegrityError:
            adopted = s.scalar(select(Order).where(Order.client_order_id == leg.client_order_id))
            assert adopted is not None
            return adopted
        return child

    # ----- start-up settlement ---------------------------------------------------------------
    def settle_user(self, user_id: uuid.UUID, *, pending_grace: timedelta = timedelta(0)) -> int:
        """Bring this user's open orders up to date with the broker; returns how many changed.

        A ``pending`` order the broker does not know is closed as never sent, unless it is younger than
        ``pending_grace``: another running client may still be submitting it. At a client's own start-up
        the grace is zero (the process that was submitting is this one's dead predecessor)."""
        with self._sessions() as s:
            rows = s.execute(
                select(Order.id, Order.client_order_id, Order.status, Order.created_at).where(
                    Order.user_id == user_id, Order.status.in_(OPEN_LEDGER_STATUSES)
                )
            ).all()
        changed = 0
        now = self._now()
        for order_id, client_order_id, status, created_at in rows:
            try:
                remote = self._broker.get_order_by_client_id(client_order_id)
            except OrderNotFound:
                if status == "pending" and now - created_at >= pending_grace:
                    self._close_unsent(order_id, "rejected", "The order never reached the broker.")
                    changed += 1
                continue
            for broker_order in (remote, *remote.legs):
                changed += sum(self.apply_event(e) for e in self._settlement_events(broker_order))
        return changed

    def _settlement_events(self, order: BrokerOrder) -> list[OrderEvent]:
        now = self._now()
        events = [OrderEvent(OrderEventType.NEW, order, now)]
        if order.filled_qty > 0:
            kind = OrderEventType.FILL if order.filled_qty >= order.qty else OrderEventType.PARTIAL_FILL
            events.append(OrderEvent(kind, order, now, execution_id=f"settle:{order.id}:{order.filled_qty}"))
        terminal = {
            "canceled": OrderEventType.CANCELED,
            "rejected": OrderEventType.REJECTED,
            "expired": OrderEventType.EXPIRED,
        }
        if order.status.value in terminal:
            events.append(OrderEvent(terminal[order.status.value], order, now))
        return events

    def _close_unsent(self, order_id: uuid.UUID, status: str, reason: str) -> None:
        """An order the broker never accepted: release everything it held."""
        with self._sessions() as s:
            user_id = s.scalar(select(Order.user_id).where(Order.id == order_id))
            user = s.scalar(select(User).where(User.id == user_id).with_for_update())
            order = s.scalar(select(Order).where(Order.id == order_id).with_for_update())
            assert user is not None and order is not None
            if order.status in TERMINAL_LEDGER_STATUSES:
                return
            user.virtual_balance += order.reserved_amount
            user.reserved_balance -= order.reserved_amount
            order.reserved_amount = Decimal(0)
            order.status = status
            order.error_message = reason
            if status == "canceled":
                order.canceled_at = self._now()
            s.commit()
        self._changes.notify(str(user.id))

    # ----- views -----------------------------------------------------------------------------
    def last_price(self, symbol: str) -> Decimal | None:
        """The price this ledger judges a market order in ``symbol`` at (None before the first trade or bar)."""
        return self._prices.last_price(normalize_symbol(symbol))

    def portfolio(self, user_id: uuid.UUID) -> Portfolio:
        with raw_connection(self._engine, autocommit=True) as conn:
            books = read_books(conn, user_id)
        if books is None:
            raise LedgerError("That account no longer exists.")
        views = tuple(self._position_view(p) for p in books.positions)
        value = sum((v.market_value for v in views), Decimal(0))
        unrealized = sum((v.unrealized_pnl for v in views), Decimal(0))
        equity = books.cash + books.reserved + value  # a short's value is negative: what covering it would cost
        shorts = (v.market_value for v in views if v.qty < 0)
        return Portfolio(
            starting_balance=books.starting_balance,
            cash=books.cash,
            reserved=books.reserved,
            buying_power=max(buying_power(books.cash, shorts), Decimal(0)),  # margin rule: core.domain.money
            positions_value=value,
            equity=equity,
            realized_pnl=books.realized_pnl,
            unrealized_pnl=unrealized,
            fees=books.fees,
            total_pnl=equity - books.starting_balance,
            positions=views,
        )

    def _market_value(self, symbol: str, qty: Decimal, cost_basis: Decimal) -> tuple[Decimal | None, Decimal]:
        """(last price, value at it); a symbol with no price yet is valued at cost, so equity never jumps to 0.
        Signed like the quantity: a short's value is negative, and so is its cost basis."""
        last = self._prices.last_price(symbol)
        return last, money(qty * last) if last is not None else cost_basis

    def _position_view(self, p: HeldPosition) -> PositionView:
        # value - cost basis is the unrealized P&L of a short too (both negative: a falling price gains).
        last, value = self._market_value(p.symbol, p.qty, p.cost_basis)
        return PositionView(
            p.symbol, p.qty, p.avg_entry_price, p.cost_basis, last, value, value - p.cost_basis, p.realized_pnl
        )

    # ----- helpers ---------------------------------------------------------------------------
    def _asset(self, symbol: str) -> Asset:
        now = self._now()
        with self._assets_lock:
            cached = self._assets.get(symbol)
        if cached is not None and now - cached[1] < ASSET_CACHE_FOR:
            return cached[0]
        try:
            asset = self._broker.get_asset(symbol)
        except OrderNotFound:
            asset = Asset(symbol, tradable=False)
        except BrokerError as exc:
            raise OrderRejected(f"Cannot check {symbol} with the broker: {exc}", "broker") from exc
        with self._assets_lock:
            self._assets[symbol] = (asset, now)
        return asset

    def _risk_context(
        self, snapshot: AccountSnapshot, ticket: OrderTicket, asset: Asset, last: Decimal | None, now: datetime
    ) -> RiskContext:
        market: dict[str, Decimal] = {}
        held = Decimal(0)
        short_value = Decimal(0)
        for symbol, qty, cost in snapshot.positions:
            market[symbol] = self._market_value(symbol, qty, cost)[1]
            if qty < 0:
                short_value += abs(market[symbol])
            if symbol == ticket.symbol:
                held = qty
        ref = reference_price(ticket, last)
        fee = self._fee_estimate(ticket, ref) if ref is not None else Decimal(0)
        short = short_part(ticket, held, snapshot.open_sell_qty)
        return RiskContext(
            ticket=ticket,
            asset=asset,
            reference_price=ref,
            limits=snapshot.limits,
            cash=snapshot.cash,
            equity=snapshot.cash + snapshot.reserved + sum(market.values(), Decimal(0)),
            starting_balance=snapshot.starting_balance,
            position_qty=held,
            position_value=market.get(ticket.symbol, Decimal(0)),
            open_sell_qty=snapshot.open_sell_qty,
            open_orders=snapshot.open_orders,
            realized_today=snapshot.realized_today,
            reservation=reservation(ticket, ref, fee, short_qty=short),
            recent_orders=snapshot.recent_orders,
            now=now,
            open_buy_qty=snapshot.open_buy_qty,
            short_value=short_value,
        )
