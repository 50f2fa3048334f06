"""The club service's intake of order requests: one answer per request, exactly one order per accepted request,
whatever dies in between. The intake runs as the club's role, the traders' requests are filed as their roles."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

import pytest
from psycopg.types.json import Jsonb

from bench import order_requests as order_requests_bench
from core.club.order_requests import RequestedOrders, ticket_json
from core.club.service import ClubService
from core.db.database import Database
from core.db.models import User
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.ledger.views import PlacedOrder
from tests.alpaca_standin import AlpacaStandIn
from tests.club import test_order_requests
from tests.club.test_order_requests import (
    Roles,
    Trader,
    club_ledger,
    eventually,
    orders_of,
    request_rows,
    start_intake,
    trade_logs,
)
from tests.event_recorder import DEADLINE_S
from tests.ledger.helpers_alpaca import event_loop_thread, make_broker

D = Decimal
BUY = OrderSide.BUY
PRICES = {"AAPL": D("100")}

roles = test_order_requests.roles  # the fixture: login roles made for one test


def file_request(trader: Trader, ticket: dict[str, str | None]) -> uuid.UUID:
    """A request as a trader's app files it (raw SQL as the trader's role; the intake does the rest)."""
    with trader.connect() as conn:
        row = conn.execute(
            "INSERT INTO order_requests (user_id, kind, ticket) VALUES (%s, 'place', %s) RETURNING id",
            (trader.user_id, Jsonb(ticket)),
        ).fetchone()
    assert row is not None
    return row[0]


def status_of(db: Database, request_id: uuid.UUID) -> str:
    return next(r.status for r in request_rows(db) if r.id == request_id)


class Stalling:
    """The club's ledger, stalled at a chosen point of a placement until released: the moment to kill the service.

    ``before``: stalls before the ledger is called (the request is claimed, nothing placed); otherwise stalls
    after the ledger placed the order (placed, not yet answered)."""

    def __init__(self, ledger: Ledger, *, before: bool) -> None:
        self._ledger, self._before = ledger, before
        self.reached, self.release = threading.Event(), threading.Event()

    def place_order(self, user_id: uuid.UUID, ticket: OrderTicket, **ids: uuid.UUID | None) -> PlacedOrder:
        if self._before:
            self.reached.set()
            self.release.wait(10)
            raise RuntimeError("the process is gone")
        placed = self._ledger.place_order(user_id, ticket, **ids)
        self.reached.set()
        self.release.wait(10)
        return placed

    def cancel_order(self, user_id: uuid.UUID, order_id: uuid.UUID) -> None:
        self._ledger.cancel_order(user_id, order_id)


class LatePredecessor:
    """A predecessor presumed dead whose placement lands while its successor places the same request."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def place_order(self, user_id: uuid.UUID, ticket: OrderTicket, **ids: uuid.UUID | None) -> PlacedOrder:
        self._ledger.place_order(user_id, ticket, **ids)  # the dead one's commit...
        return self._ledger.place_order(user_id, ticket, **ids)  # ...then the successor's own attempt

    def cancel_order(self, user_id: uuid.UUID, order_id: uuid.UUID) -> None:
        self._ledger.cancel_order(user_id, order_id)


@pytest.mark.parametrize("placed_before_the_crash", [False, True], ids=["claimed", "placed"])
def test_a_service_killed_between_claim_and_answer_places_the_request_exactly_once_after_a_restart(
    db: Database, roles: Roles, placed_before_the_crash: bool
) -> None:
    alice = roles.trader("alice")
    club_sessions, _ = roles.club()
    ledger = club_ledger(club_sessions, LastPrices(PRICES))
    stalling = Stalling(ledger, before=not placed_before_the_crash)
    dying = start_intake(club_sessions, stalling, name="dying")
    request_id = file_request(alice, ticket_json(OrderTicket("AAPL", BUY, D("3"))))
    assert stalling.reached.wait(10)
    dying.halt()  # the process dies here...
    stalling.release.set()
    assert status_of(db, request_id) == "processing"
    assert len(orders_of(db, alice.user_id)) == int(placed_before_the_crash)

    successor = start_intake(club_sessions, ledger, name="successor")  # ...and the next one starts
    try:
        assert successor.wait_idle()
    finally:
        successor.stop()

    (order,) = orders_of(db, alice.user_id)
    (request,) = request_rows(db)
    assert (request.status, request.order_id, order.request_id) == ("accepted", order.id, request_id)
    assert order.quantity == D("3")
    assert len(trade_logs(db, order.id)) == 1


def test_a_late_commit_of_a_presumed_dead_service_is_answered_with_its_order_not_a_second_one(
    db: Database, roles: Roles
) -> None:
    alice = roles.trader("alice")
    club_sessions, _ = roles.club()
    ledger = club_ledger(club_sessions, LastPrices(PRICES))
    intake = start_intake(club_sessions, LatePredecessor(ledger))
    try:
        placed = RequestedOrders(alice.sessions).place_order(alice.user_id, OrderTicket("AAPL", BUY, D("2")))
    finally:
        intake.stop()

    (order,) = orders_of(db, alice.user_id)  # the unique request_id refused the second insert
    assert placed.id == order.id
    with db.session_factory() as s:
        user = s.get(User, alice.user_id)
        assert user is not None and user.reserved_balance == order.reserved_amount  # reserved once


def test_a_malformed_ticket_is_rejected_with_the_tickets_own_message(db: Database, roles: Roles) -> None:
    alice = roles.trader("alice")
    club_sessions, _ = roles.club()
    intake = start_intake(club_sessions, club_ledger(club_sessions, LastPrices(PRICES)))
    try:
        request_id = file_request(alice, {"symbol": "AAPL", "side": "buy", "qty": "lots"})
        missing = file_request(alice, {"symbol": "AAPL", "qty": "1"})
        assert intake.wait_idle()
    finally:
        intake.stop()

    answers = {r.id: (r.status, r.reason) for r in request_rows(db)}
    assert answers[request_id] == ("rejected", "The order is malformed: the quantity must be a number, not 'lots'.")
    assert answers[missing] == ("rejected", "The order is malformed: the request's ticket has no side.")
    assert orders_of(db, alice.user_id) == []


def test_requests_are_answered_oldest_first(db: Database, roles: Roles) -> None:
    alice = roles.trader("alice")
    ids = [file_request(alice, ticket_json(OrderTicket("AAPL", BUY, D(n)))) for n in ("1", "2", "3")]
    club_sessions, _ = roles.club()
    intake = start_intake(club_sessions, club_ledger(club_sessions, LastPrices(PRICES)))
    try:
        assert intake.wait_idle()
    finally:
        intake.stop()

    by_request = {o.request_id: o for o in orders_of(db, alice.user_id)}
    placed_at = [by_request[i].created_at for i in ids]
    assert placed_at == sorted(placed_at) and [by_request[i].quantity for i in ids] == [D(1), D(2), D(3)]


def test_the_elected_club_service_answers_requests_and_routes_the_order(
    db: Database, roles: Roles, alpaca: AlpacaStandIn
) -> None:
    alice = roles.trader("alice")
    club_sessions, club_url = roles.club()
    prices = LastPrices(PRICES)
    orders = RequestedOrders(alice.sessions, listen_url=alice.url)
    orders.start()
    with event_loop_thread() as loop:
        service = ClubService(club_sessions, club_url, make_broker(alpaca), prices, loop, poll_s=0.2, window_s=0.2,
                              router_poll_s=0.2, intake_poll_s=0.2, name="club")  # fmt: skip
        service.start()
        try:
            eventually(lambda: service.is_active and service.intake is not None, "an elected service")
            placed = orders.place_order(alice.user_id, OrderTicket("AAPL", BUY, D("4")))
            alpaca.wait_for_listeners(1, DEADLINE_S)
            eventually(lambda: len(alpaca.account.list_orders(status="open", limit=10)) == 1, "the street order")
            (street,) = alpaca.account.list_orders(status="open", limit=10)
            alpaca.fill(street["id"], price="100")
            eventually(lambda: orders_of(db, alice.user_id)[0].status == "filled", "the routed order filled")
        finally:
            orders.stop()
            service.stop()

    (order,) = orders_of(db, alice.user_id)
    assert order.id == placed.id and order.broker == "club" and order.filled_quantity == D("4")
    assert alpaca.positions().get("AAPL") == D("4")


def test_the_benchmark_runs_its_requests_through_a_real_intake(pg_admin_url: str) -> None:
    """bench.order_requests on a tiny run: every request answered, both latencies measured (no timings judged)."""
    result = order_requests_bench.run(pg_admin_url, 3)

    assert result.unanswered == 0
    assert len(result.requested_ms) == len(result.direct_ms) == 3
    assert result.request_p50_ms > 0 and result.direct_p50_ms > 0


def test_a_members_first_request_is_valued_at_the_stored_close_and_routed_once_live(
    db: Database, roles: Roles, alpaca: AlpacaStandIn
) -> None:
    """No live bar yet: the intake's ledger values the request at the last stored close (the member's ticket showed
    it), so it is accepted and routed; the router itself still knows no price of its own."""
    from core.ledger.stored_prices import StoredCloses
    from core.market.store import BarStore
    from tests.ledger.test_stored_prices import FRIDAY, bars

    store = BarStore(db.engine)
    try:
        store.insert("AAPL", "1Min", bars([100.0], FRIDAY.replace(hour=20, minute=59), "1min"), source="csv_import")
    finally:
        store.close()
    alice = roles.trader("alice")
    club_sessions, club_url = roles.club()
    live = LastPrices()  # the feed has priced nothing yet
    orders = RequestedOrders(alice.sessions, listen_url=alice.url)
    orders.start()
    with event_loop_thread() as loop:
        service = ClubService(club_sessions, club_url, make_broker(alpaca), live, loop,
                              ledger_prices=LastPrices(stored=StoredCloses(db.engine)), poll_s=0.2, window_s=0.2,
                              router_poll_s=0.2, intake_poll_s=0.2, name="club")  # fmt: skip
        service.start()
        try:
            eventually(lambda: service.is_active and service.intake is not None, "an elected service")
            placed = orders.place_order(alice.user_id, OrderTicket("AAPL", BUY, D("4")))
            eventually(lambda: len(alpaca.account.list_orders(status="open", limit=10)) == 1, "the street order")
        finally:
            orders.stop()
            service.stop()

    (order,) = orders_of(db, alice.user_id)
    assert order.id == placed.id and order.status != "rejected"
    assert live.last_price("AAPL") is None  # the stored close never became the router's price
