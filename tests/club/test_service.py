"""The club service: one active router per account, failover within seconds, re-settlement after every
stream reconnect, and a 429 storm that leaves nothing pending. On the strict stand-in, real alpaca-py client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest

from core.accounts import AccountService
from core.club.desk import ClubDesk
from core.club.router import ClubRouter
from core.club.service import ClubService, wake_by_notify
from core.db.database import Database
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from tests.alpaca_standin import AlpacaStandIn
from tests.club.conftest import PASSWORD, eventually
from tests.event_recorder import DEADLINE_S
from tests.ledger.helpers_alpaca import event_loop_thread, make_broker
from tests.ledger.helpers_books import assert_books_balance

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL


class Harness:
    def __init__(self, db: Database, alpaca: AlpacaStandIn, loop, users: list[uuid.UUID]) -> None:
        self.db, self.alpaca, self.loop, self.users = db, alpaca, loop, users
        self.prices = LastPrices({"AAPL": D("100")})
        # A trader's app that does not route: its desk wakes the club service through NOTIFY.
        self.ledger = Ledger(db.session_factory, ClubDesk(db.session_factory, wake_by_notify(db.session_factory)),
                             self.prices)  # fmt: skip
        self.services: list[ClubService] = []

    def service(self, name: str) -> ClubService:
        url = self.db.engine.url.render_as_string(hide_password=False)
        svc = ClubService(
            self.db.session_factory, url, make_broker(self.alpaca), self.prices, self.loop,
            poll_s=0.2, window_s=0.2, router_poll_s=0.2, name=name,
        )  # fmt: skip
        self.services.append(svc)
        svc.start()
        return svc

    def active(self) -> ClubService:
        eventually(lambda: any(s.is_active for s in self.services), what="an active club service")
        (svc,) = [s for s in self.services if s.is_active]
        return svc

    def street_orders(self, status: str = "open") -> list[dict]:
        return self.alpaca.account.list_orders(status=status, limit=500)

    def order_status(self, order_id: uuid.UUID) -> str:
        from core.db.models import Order

        with self.db.session_factory() as s:
            row = s.get(Order, order_id)
            assert row is not None
            return row.status

    def assert_invariants(self) -> None:
        from sqlalchemy import func, select

        from core.db.models import Position

        assert sum(self.alpaca.rule_rejections().values()) == 0
        assert_books_balance(self.db, *self.users)
        with self.db.session_factory() as s:
            rows = s.execute(select(Position.symbol, func.sum(Position.quantity)).group_by(Position.symbol)).all()
        virtual = {sym: q for sym, q in rows if q != 0}
        assert virtual == {s: q for s, q in self.alpaca.positions().items() if q != 0}


@pytest.fixture
def harness(db: Database, accounts: AccountService, alpaca: AlpacaStandIn) -> Iterator[Harness]:
    users = [accounts.sign_up(f"s{i}@example.com", f"svc{i}", PASSWORD).id for i in range(3)]
    with event_loop_thread() as loop:
        h = Harness(db, alpaca, loop, users)
        try:
            yield h
        finally:
            for svc in h.services:
                svc.stop()


def test_one_service_routes_and_a_standby_takes_over_a_step_the_first_left_half_done(harness: Harness):
    a, b, c = harness.users
    # Placed while no service runs: they wait, virtual and reserved, and the first pass nets them together.
    orders = [harness.ledger.place_order(u, OrderTicket("AAPL", BUY, D(q))) for u, q in ((a, "3"), (b, "4"), (c, "5"))]
    first = harness.service("first")
    assert harness.active() is first
    second = harness.service("second")
    eventually(lambda: len(harness.street_orders()) == 1, what="the netted street order")
    (street,) = harness.street_orders()
    assert D(street["qty"]) == 12
    harness.alpaca.fill(street["id"], qty="5", price="100")
    eventually(lambda: harness.order_status(orders[0].id) == "filled", what="first allocation booked")

    first.kill()  # dies mid-step: 7 shares still to fill
    harness.alpaca.fill(street["id"], qty="7", price="101")  # nobody is listening
    eventually(lambda: harness.active() is second, timeout=DEADLINE_S * 2, what="the standby to take over")
    for order in orders:
        eventually(lambda o=order: harness.order_status(o.id) == "filled", what="fills re-settled by the standby")
    assert second.router is not None and second.router.stats.resettled >= 1
    second.router.wait_idle()
    harness.assert_invariants()


def test_fills_during_a_stream_outage_are_booked_after_the_reconnect(harness: Harness):
    a, b, _ = harness.users
    one = harness.ledger.place_order(a, OrderTicket("AAPL", BUY, D("2")))
    two = harness.ledger.place_order(b, OrderTicket("AAPL", BUY, D("3")))
    svc = harness.service("only")
    harness.active()
    harness.alpaca.wait_for_listeners(1, DEADLINE_S)
    eventually(lambda: len(harness.street_orders()) == 1, what="the street order")
    (street,) = harness.street_orders()
    before = harness.alpaca.connections_accepted
    with harness.alpaca.stream_down():
        harness.alpaca.fill(street["id"], price="99.5")
    assert harness.alpaca.wait_for_listeners(1, DEADLINE_S * 3, accepted_at_least=before + 1)
    for order in (one, two):
        eventually(lambda o=order: harness.order_status(o.id) == "filled", what="fills booked after reconnect")
    assert svc.router is not None
    svc.router.wait_idle()
    harness.assert_invariants()


def test_a_429_storm_is_a_definite_non_placement_retried_until_the_order_goes_out(harness: Harness):
    svc = harness.service("only")
    harness.active()
    a, _, _ = harness.users
    harness.alpaca.rate_limit_storm(2.5)
    order = harness.ledger.place_order(a, OrderTicket("AAPL", BUY, D("2")))
    eventually(lambda: svc.router is not None and svc.router.stats.not_placed >= 1, what="a refused send")
    assert harness.order_status(order.id) in ("pending", "accepted")  # waiting in the router, not lost
    eventually(lambda: len(harness.street_orders()) == 1, timeout=DEADLINE_S * 3, what="the order sent after")
    (street,) = harness.street_orders()
    harness.alpaca.fill(street["id"], price="100")
    eventually(lambda: harness.order_status(order.id) == "filled", what="filled after the storm")
    harness.assert_invariants()


def test_a_step_planned_but_never_sent_is_closed_and_its_orders_routed_again(
    db: Database, accounts: AccountService, alpaca: AlpacaStandIn
):
    """A router that died between writing its plan and sending it: the next one finds no such order at the
    broker, closes the step as not placed, and routes the orders afresh (nothing is booked twice or lost)."""
    from sqlalchemy import text

    user = accounts.sign_up("p@example.com", "planner", PASSWORD).id
    prices = LastPrices({"AAPL": D("100")})
    street = make_broker(alpaca)
    ledger = Ledger(db.session_factory, ClubDesk(db.session_factory, lambda: None, street), prices)
    placed = ledger.place_order(user, OrderTicket("AAPL", BUY, D("6")))
    step = uuid.uuid4()
    with db.session_factory() as s:
        s.execute(
            text("INSERT INTO club_route_steps (id, symbol, purpose, side, street_qty, client_order_id, status) "
                 "VALUES (:id, 'AAPL', 'net', 'buy', 6, :cid, 'planned')"), {"id": step, "cid": f"club-{step.hex}"}
        )  # fmt: skip
        s.execute(
            text("INSERT INTO club_route_allocations (step_id, order_id, kind, priority, qty) "
                 "VALUES (:step, :order, 'street', 0, 6)"), {"step": step, "order": placed.id}
        )  # fmt: skip
        s.commit()
    router = ClubRouter(db.session_factory, street, prices, window_s=0.05, poll_s=0.2)
    router.start()
    try:
        eventually(lambda: len(alpaca.account.list_orders(status="open", limit=50)) == 1, what="routed again")
        (sent,) = alpaca.account.list_orders(status="open", limit=50)
        assert sent["client_order_id"] != f"club-{step.hex}" and D(sent["qty"]) == 6
        with db.session_factory() as s:
            assert s.execute(text("SELECT status FROM club_route_steps WHERE id = :id"), {"id": step}).scalar() == (
                "not_placed"
            )
    finally:
        router.stop()


def test_an_order_an_older_version_sent_directly_is_still_settled_when_the_service_takes_over(harness: Harness):
    """Before the router, each order went to the account as it was (``broker = 'alpaca'``). A club that upgrades
    with such an order open must not lose its fill: the elected service settles it by client order id."""
    a = harness.users[0]
    direct = Ledger(harness.db.session_factory, make_broker(harness.alpaca), harness.prices, subscribe=False)
    placed = direct.place_order(a, OrderTicket("AAPL", BUY, D("3")))
    direct.flush_acceptances()
    assert placed.broker_order_id is not None
    harness.alpaca.fill(placed.broker_order_id, price="100.5")  # nobody is listening yet
    harness.service("upgraded")
    harness.active()
    eventually(lambda: harness.order_status(placed.id) == "filled", what="the direct order settled")
    harness.assert_invariants()
