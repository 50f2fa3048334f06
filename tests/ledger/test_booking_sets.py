"""Booking a set of broker events in one statement (core.ledger.booking.book_events, Ledger.apply_events).

A set must book exactly what the same events booked one at a time book, to the cent; exactly once however often
an event comes; every good event even when one is refused; each order's events in their order; and sets booked
on several threads beside placements must neither deadlock nor break the invariant.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from core.broker.sim import SimBroker
from core.db.models import Fill, Order, Position, User
from core.db.raw import raw_connection
from core.domain.bars import NormalizedBar
from core.domain.orders import OPEN_LEDGER_STATUSES, OrderEvent, OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.ledger.booking import Outcome, book_events
from core.ledger.dispatch import EventWorkers
from core.ledger.errors import OrderRejected
from core.ledger.invariant import check_all
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from tests.ledger.helpers_books import assert_books_balance, fills_of

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def books_of(db, user_id: uuid.UUID) -> dict[str, object]:
    """Everything booking writes for a user, without ids and in a stable order."""
    with db.session_factory() as s:
        user = s.get(User, user_id)
        assert user is not None
        orders = s.scalars(select(Order).where(Order.user_id == user_id).order_by(Order.created_at, Order.symbol))
        fills = s.scalars(select(Fill).where(Fill.user_id == user_id))
        positions = s.scalars(select(Position).where(Position.user_id == user_id).order_by(Position.symbol))
        return {
            "cash": (user.virtual_balance, user.reserved_balance, user.realized_pnl, user.fees_paid,
                     user.realized_day_pnl),
            "orders": [(o.symbol, o.side, o.status, o.filled_quantity, o.filled_avg_price, o.reserved_amount, o.fees)
                       for o in orders],
            "fills": sorted((f.symbol, f.side, f.quantity, f.price, f.fees, f.realized_pnl) for f in fills),
            "positions": [(p.symbol, p.quantity, p.cost_basis, p.average_entry_price, p.realized_pnl, p.status)
                          for p in positions],
        }  # fmt: skip


def trade(ledger: Ledger, broker, user: uuid.UUID, tickets: list[OrderTicket]) -> list[str]:
    return [ledger.place_order(user, t).client_order_id for t in tickets]


def test_a_set_books_exactly_what_the_same_events_booked_one_by_one_book(db, ledger, broker, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    tickets = [
        OrderTicket("AAPL", BUY, D("10")),
        OrderTicket("MSFT", BUY, D("5"), OrderType.LIMIT, limit_price=D("390")),
        OrderTicket("AAPL", BUY, D("3"), OrderType.LIMIT, limit_price=D("99")),
    ]

    def first_events(ids: list[str]) -> list[OrderEvent]:
        aapl, msft, limit = ids
        return [
            broker.fill(aapl, "4", "100.13", fee="0.35", deliver=False),
            broker.fill(msft, "2", "389.517", fee="1.00", deliver=False),
            broker.fill(aapl, "6", "100.27", fee="0.35", deliver=False),
            broker.cancel(msft, deliver=False),
            broker.reject(limit, "no liquidity", deliver=False),
        ]

    one_by_one = first_events(trade(ledger, broker, alice, tickets))
    as_set = first_events(trade(ledger, broker, bob, tickets))
    assert [ledger.apply_event(e) for e in one_by_one] == [True] * 5
    assert ledger.apply_events(as_set) == 5

    (sale,) = trade(ledger, broker, alice, [OrderTicket("AAPL", SELL, D("4"))])
    ledger.apply_event(broker.fill(sale, "4", "101.555", fee="0.35", deliver=False))
    (sale,) = trade(ledger, broker, bob, [OrderTicket("AAPL", SELL, D("4"))])
    assert ledger.apply_events([broker.fill(sale, "4", "101.555", fee="0.35", deliver=False)]) == 1

    alices, bobs = books_of(db, alice), books_of(db, bob)
    assert bobs == alices
    assert len(bobs["fills"]) == 4 and bobs["cash"][2] != 0  # something was realized, fees were paid
    assert_books_balance(db, alice, bob)


def test_duplicates_inside_a_set_and_across_sets_are_booked_once(db, ledger, broker, make_user):
    carol = make_user("carol")
    (order,) = trade(ledger, broker, carol, [OrderTicket("AAPL", BUY, D("10"))])
    first = broker.fill(order, "4", "100", fee="0.35", deliver=False)
    rest = broker.fill(order, "6", "101", fee="0.35", deliver=False)
    with raw_connection(db.engine, autocommit=True) as conn:
        once = book_events(conn, [first, first, rest, rest])
        again = book_events(conn, [rest, first, first])
    assert [o for o, _ in once] == [Outcome.CHANGED, Outcome.UNCHANGED, Outcome.CHANGED, Outcome.UNCHANGED]
    assert {owner for _, owner in once} == {carol}
    assert [o for o, _ in again] == [Outcome.UNCHANGED] * 3
    assert ledger.apply_events([first, rest, rest]) == 0
    assert sorted((f.quantity, f.price) for f in fills_of(db, uuid.UUID(order[3:]))) == [(D(4), D(100)), (D(6), D(101))]
    assert_books_balance(db, carol)


def test_a_set_with_a_refused_event_books_the_others_and_reports_the_refused_one(db, ledger, broker, make_user):
    dave, erin = make_user("dave"), make_user("erin")
    good, bad = trade(ledger, broker, dave, [OrderTicket("AAPL", BUY, D("2")), OrderTicket("MSFT", BUY, D("1"))])
    (other,) = trade(ledger, broker, erin, [OrderTicket("AAPL", BUY, D("3"))])
    priceless = broker.fill(bad, "1", "400", deliver=False)
    priceless = replace(priceless, price=None, order=replace(priceless.order, filled_avg_price=None))  # SF001
    events = [broker.fill(good, "2", "100", deliver=False), priceless, broker.fill(other, "3", "100", deliver=False)]
    with raw_connection(db.engine, autocommit=True) as conn:
        outcomes = book_events(conn, events)
    assert outcomes == [(Outcome.CHANGED, dave), (Outcome.REFUSED, None), (Outcome.CHANGED, erin)]
    assert [f.quantity for f in fills_of(db, uuid.UUID(good[3:]))] == [D(2)]
    assert [f.quantity for f in fills_of(db, uuid.UUID(other[3:]))] == [D(3)]
    assert fills_of(db, uuid.UUID(bad[3:])) == []
    with db.session_factory() as s:
        refused = s.get(Order, uuid.UUID(bad[3:]))
        assert refused is not None and refused.status in OPEN_LEDGER_STATUSES and refused.reserved_amount > 0

    (later,) = trade(ledger, broker, erin, [OrderTicket("AAPL", BUY, D("1"))])
    assert ledger.apply_events([priceless, broker.fill(later, "1", "100", deliver=False)]) == 1
    assert_books_balance(db, dave, erin)


def test_the_events_of_one_order_keep_their_order_among_other_users_events(db, ledger, broker, make_user):
    """Booked the other way round, the cumulative fill of 10 would come first and be booked as one fill at the
    average price, and the partial fill of 3 after it would be stale."""
    users = [make_user(name) for name in ("fay", "gus", "hal", "ivy")]
    orders = [trade(ledger, broker, u, [OrderTicket("AAPL", BUY, D("10"))])[0] for u in users]
    events: list[OrderEvent] = []
    for order in reversed(orders):  # the set's order is not the users' order
        events.append(broker.fill(order, "3", "100.00", deliver=False))
    for order in orders:
        events.append(broker.fill(order, "7", "101.00", deliver=False))
    assert ledger.apply_events(events) == 8
    for order in orders:
        fills = sorted((f.quantity, f.price) for f in fills_of(db, uuid.UUID(order[3:])))
        assert fills == [(D(3), D("100.00")), (D(7), D("101.00"))]
    assert_books_balance(db, *users)


# ----- a SimBroker delivering sets ----------------------------------------------------------------------------

DAY = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def bar(symbol: str, at: timedelta, price: float) -> NormalizedBar:
    return NormalizedBar(symbol, "1Min", DAY + at, price, price + 0.5, price - 0.5, price, 1_000_000, source="test")


def test_a_simbroker_hands_a_bars_events_to_a_batch_handler_in_one_call(db, make_user):
    sim = SimBroker(clock=lambda: DAY + timedelta(seconds=30))
    prices = LastPrices({"AAPL": D("100")})
    calls: list[list[OrderEvent]] = []
    sim.add_batch_handler(lambda events: calls.append(list(events)))
    book = Ledger(db.session_factory, sim, prices, clock=lambda: DAY + timedelta(seconds=30))
    jan, kit = make_user("jan"), make_user("kit")
    sim.on_bar(bar("AAPL", timedelta(0), 100.0))
    placed = [book.place_order(u, OrderTicket("AAPL", BUY, D("2"))) for u in (jan, kit)]
    calls.clear()
    sim.duplicate_events = True
    sim.on_bar(bar("AAPL", timedelta(minutes=1), 101.0))
    assert len(calls) == 1  # the whole bar, duplicates included, in one delivery
    assert [e.order.client_order_id for e in calls[0]] == [p.client_order_id for p in placed for _ in range(2)]
    # The ledger subscribed as a batch handler too (it was registered on the SimBroker the same way).
    for p in placed:
        assert [(f.quantity, f.price) for f in fills_of(db, p.id)] == [(D(2), D("101.00"))]
    assert_books_balance(db, jan, kit)


def test_sets_booked_on_several_threads_beside_placements_neither_deadlock_nor_break_the_books(db, make_user):
    """Five traders place orders back to back while bars fill them every few milliseconds and three workers book
    the fills as sets (each set locks users in order and skips the busy ones first); acceptances are written in
    their own batches meanwhile. A few hundred orders, every one booked, the invariant holding for everyone."""
    users = [make_user(f"trader{i}", duplicate_window_seconds=0, max_open_orders=1000) for i in range(5)]
    sim = SimBroker(clock=lambda: DAY)  # the bars below stay on its day: day orders fill instead of expiring
    symbols = ("AAPL", "MSFT", "NVDA")
    prices = LastPrices({s: D("100") for s in symbols})
    ledger = Ledger(db.session_factory, sim, prices, subscribe=False)
    workers = EventWorkers(ledger.apply_event, workers=3, apply_batch=ledger.apply_events)
    sim.add_batch_handler(workers.batch)
    stop = threading.Event()
    failures: list[BaseException] = []

    def feed() -> None:
        step, rng = 0, random.Random(3)
        while not stop.is_set():
            step += 1
            for symbol in symbols:
                sim.on_bar(bar(symbol, timedelta(milliseconds=step), round(100 + rng.uniform(-1, 1), 2)))
            time.sleep(0.003)

    def trader(user: uuid.UUID, seed: int) -> None:
        rng = random.Random(seed)
        try:
            for i in range(60):
                side = SELL if i % 3 == 2 else BUY  # sells of what was bought (or short sales: the same rules)
                with contextlib.suppress(OrderRejected):
                    ledger.place_order(user, OrderTicket(rng.choice(symbols), side, D(rng.randint(1, 3))))
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    pump = threading.Thread(target=feed, daemon=True)
    traders = [threading.Thread(target=trader, args=(u, i), daemon=True) for i, u in enumerate(users)]
    pump.start()
    for t in traders:
        t.start()
    for t in traders:
        t.join(120)
    try:
        assert not any(t.is_alive() for t in traders), "placements stuck"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with db.session_factory() as s:
                open_orders = s.scalars(select(Order.id).where(Order.status.in_(OPEN_LEDGER_STATUSES))).all()
            if not open_orders:
                break
            time.sleep(0.05)
        assert open_orders == [], "bookings stuck"
    finally:
        stop.set()
        pump.join(10)
        assert workers.drain(30)
        workers.stop()
    ledger.flush_acceptances()
    assert failures == []
    with db.session_factory() as s:
        filled = s.scalars(select(Order.id).where(Order.status == "filled")).all()
        assert len(filled) >= 200
        assert all(r.holds for r in check_all(s))
