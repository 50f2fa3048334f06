"""A trader's role trades only through order requests the club service answers (issue 26, item 1).

Against a migrated database with real roles: each trader logs in as its own login role (created by
``sf_admin_grant_login``, as approval does), the intake runs as the club's role. What comes back to the trader is
what the Ledger would have said: a PlacedOrder, or OrderRejected with the risk rule's reason.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from core.accounts import AccountService
from core.club.desk import ClubDesk
from core.club.order_intake import OrderIntake, RequestLedger
from core.club.order_requests import RequestedOrders, RequestNotAnswered
from core.db.club_roles import group_role, scram_verifier, trader_role
from core.db.database import Database
from core.db.engine import make_engine, make_session_factory
from core.db.models import Order, OrderRequest, TradeLog, TradingSession
from core.domain.clock import utc_now
from core.domain.orders import OrderSide, OrderType, TimeInForce
from core.domain.tickets import OrderTicket
from core.ledger.errors import LedgerError, OrderRejected
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.live.club_member import club_member
from core.market.store import BarStore
from core.paper.bars import ClosedBar
from core.paper.execution import PaperSessionContext, SignalExecutor
from core.paper.types import EXECUTED
from core.services.portfolio import Portfolio
from core.strategy.api import IntentKind, OrderIntent
from tests.pg import libpq_url

PASSWORD = "Tr4ding-Pass-2026"
D = Decimal
BUY = OrderSide.BUY


# ----- shared with test_order_intake.py ---------------------------------------------------------------------
def role_url(db: Database, role: str) -> str:
    """The database's URL for ``role`` (trust authentication on the test server: no password needed)."""
    return db.engine.url.set(username=role, password=None).render_as_string(hide_password=False)


@dataclass
class Trader:
    user_id: uuid.UUID
    role: str
    engine: Engine
    sessions: sessionmaker[Session]
    url: str

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(libpq_url(self.url), autocommit=True, connect_timeout=10)


class Roles:
    """Login roles made for one test, their engines disposed at its end."""

    def __init__(self, db: Database, accounts: AccountService) -> None:
        self.db, self.accounts = db, accounts
        self.engines: list[Engine] = []
        database = db.engine.url.database
        assert database is not None
        self.database = database

    def trader(self, name: str) -> Trader:
        username = f"{name}{uuid.uuid4().hex[:6]}"
        user = self.accounts.sign_up(f"{username}@example.com", username, PASSWORD)
        role = trader_role(self.database, username)
        with psycopg.connect(libpq_url(self.url_of(None)), autocommit=True, connect_timeout=10) as conn:
            granted = conn.execute(
                "SELECT sf_admin_grant_login(%s, %s)", (user.id, scram_verifier(conn, PASSWORD, role))
            ).fetchone()
        assert granted == (role,)
        engine, sessions = self.open(role)
        return Trader(user.id, role, engine, sessions, role_url(self.db, role))

    def club(self) -> tuple[sessionmaker[Session], str]:
        role = group_role(self.database, "club")
        return self.open(role)[1], role_url(self.db, role)

    def open(self, role: str) -> tuple[Engine, sessionmaker[Session]]:
        engine = make_engine(role_url(self.db, role), pool_size=4, max_overflow=4)
        self.engines.append(engine)
        return engine, make_session_factory(engine)

    def url_of(self, role: str | None) -> str:
        return self.db.engine.url.render_as_string(hide_password=False) if role is None else role_url(self.db, role)

    def close(self) -> None:
        for engine in self.engines:
            engine.dispose()


def club_ledger(club_sessions: sessionmaker[Session], prices: LastPrices) -> Ledger:
    """The club service's ledger: on the router's desk (no router here: orders stay virtual, which is enough)."""
    return Ledger(club_sessions, ClubDesk(club_sessions, lambda: None), prices)


def start_intake(club_sessions: sessionmaker[Session], ledger: RequestLedger, name: str = "intake") -> OrderIntake:
    intake = OrderIntake(club_sessions, ledger, poll_s=0.1, name=name)
    intake.start()
    return intake


def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def request_rows(db: Database) -> list[OrderRequest]:
    with db.session_factory() as s:
        return list(s.scalars(select(OrderRequest).order_by(OrderRequest.created_at)))


def orders_of(db: Database, user_id: uuid.UUID) -> list[Order]:
    with db.session_factory() as s:
        return list(s.scalars(select(Order).where(Order.user_id == user_id)))


def trade_logs(db: Database, order_id: uuid.UUID) -> list[TradeLog]:
    with db.session_factory() as s:
        return list(s.scalars(select(TradeLog).where(TradeLog.order_id == order_id).order_by(TradeLog.created_at)))


# ----- fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture
def roles(db: Database, accounts: AccountService) -> Iterator[Roles]:
    made = Roles(db, accounts)
    try:
        yield made
    finally:
        made.close()


@dataclass
class Desk:
    """A running intake (as the club's role) and two traders (each as its own role)."""

    alice: Trader
    bob: Trader
    intake: OrderIntake
    prices: LastPrices

    def requests(self, trader: Trader, **kw: float) -> RequestedOrders:
        return RequestedOrders(trader.sessions, listen_url=trader.url, **kw)


@pytest.fixture
def desk(roles: Roles) -> Iterator[Desk]:
    alice, bob = roles.trader("alice"), roles.trader("bob")
    club_sessions, _ = roles.club()
    prices = LastPrices({"AAPL": D("100"), "MSFT": D("400")})
    intake = start_intake(club_sessions, club_ledger(club_sessions, prices))
    try:
        yield Desk(alice, bob, intake, prices)
    finally:
        intake.stop()


# ----- tests ------------------------------------------------------------------------------------------------
def test_an_order_the_trader_requests_is_placed_for_that_trader_and_answered(db: Database, desk: Desk) -> None:
    orders = desk.requests(desk.alice)
    orders.start()
    try:
        placed = orders.place_order(desk.alice.user_id, OrderTicket("AAPL", BUY, D("10")))
    finally:
        orders.stop()

    (order,) = orders_of(db, desk.alice.user_id)
    assert placed.id == order.id and placed.client_order_id == order.client_order_id
    assert placed.reserved == order.reserved_amount > 0
    (request,) = request_rows(db)
    assert (request.status, request.order_id, request.user_id) == ("accepted", order.id, desk.alice.user_id)
    assert order.request_id == request.id and request.answered_at is not None
    assert order.session_id is None and orders_of(db, desk.bob.user_id) == []
    (log,) = trade_logs(db, order.id)
    assert (log.user_id, log.log_level) == (desk.alice.user_id, "INFO")
    assert log.data is not None and log.data["request_id"] == str(request.id) and log.data["answer"] == "accepted"
    assert log.data["ticket"]["qty"] == "10" and log.data["ticket"]["side"] == "buy"


def test_with_a_listener_the_answer_arrives_on_the_traders_own_channel(db: Database, desk: Desk) -> None:
    """The row is read once, then only when woken: the NOTIFY on the trader's own ledger channel brings the
    answer (the channel the intake notifies and the one the member listens on are the same)."""
    orders = desk.requests(desk.alice, poll_s=60.0, deadline_s=5.0)
    orders.start()
    try:
        placed = orders.place_order(desk.alice.user_id, OrderTicket("AAPL", BUY, D("1")))
    finally:
        orders.stop()
    (order,) = orders_of(db, desk.alice.user_id)
    assert placed.id == order.id and orders.heard >= 1


def test_without_a_listener_the_answer_is_polled(db: Database, desk: Desk) -> None:
    orders = RequestedOrders(desk.alice.sessions)  # no URL: no LISTEN, the row is read every 20 ms

    placed = orders.place_order(desk.alice.user_id, OrderTicket("MSFT", BUY, D("1"), OrderType.LIMIT,
                                                                TimeInForce.GTC, limit_price=D("390")))  # fmt: skip

    (order,) = orders_of(db, desk.alice.user_id)
    assert placed.id == order.id and order.limit_price == D("390") and order.time_in_force == "gtc"


def test_a_risk_rejection_comes_back_as_the_ledgers_OrderRejected_with_its_reason(db: Database, desk: Desk) -> None:
    orders = desk.requests(desk.alice)

    with pytest.raises(OrderRejected) as refused:
        orders.place_order(desk.alice.user_id, OrderTicket("AAPL", BUY, D("1000000")))

    assert refused.value.reason.startswith("Insufficient virtual funds: this order needs $103,000,000.00")
    assert orders_of(db, desk.alice.user_id) == []
    (request,) = request_rows(db)
    assert (request.status, request.reason) == ("rejected", refused.value.reason)


def test_an_order_naming_another_traders_session_is_refused(db: Database, desk: Desk) -> None:
    with db.session_factory() as s:
        theirs = TradingSession(user_id=desk.bob.user_id, mode="MANUAL")
        s.add(theirs)
        s.commit()
    orders = desk.requests(desk.alice)

    with pytest.raises(OrderRejected) as refused:
        orders.place_order(desk.alice.user_id, OrderTicket("AAPL", BUY, D("1")), session_id=theirs.id)

    assert "session" in refused.value.reason.lower()
    assert orders_of(db, desk.alice.user_id) == [] and orders_of(db, desk.bob.user_id) == []


def test_a_cancel_request_cancels_the_traders_open_order(db: Database, desk: Desk) -> None:
    orders = desk.requests(desk.alice)
    ticket = OrderTicket("AAPL", BUY, D("5"), OrderType.LIMIT, TimeInForce.GTC, limit_price=D("90"))
    placed = orders.place_order(desk.alice.user_id, ticket)

    orders.cancel_order(desk.alice.user_id, placed.id)

    (order,) = orders_of(db, desk.alice.user_id)
    assert order.status == "canceled"
    cancel = request_rows(db)[-1]
    assert (cancel.kind, cancel.status, cancel.order_id) == ("cancel", "accepted", placed.id)
    assert [log.message for log in trade_logs(db, placed.id)][-1] == "Cancel requested by the trader: accepted."
    with pytest.raises(LedgerError, match="already canceled"):
        orders.cancel_order(desk.alice.user_id, placed.id)


def test_a_cancel_of_another_traders_order_is_refused_and_leaves_it_working(db: Database, desk: Desk) -> None:
    ticket = OrderTicket("AAPL", BUY, D("5"), OrderType.LIMIT, TimeInForce.GTC, limit_price=D("90"))
    bobs = desk.requests(desk.bob).place_order(desk.bob.user_id, ticket)

    with pytest.raises(LedgerError, match="No such order"):
        desk.requests(desk.alice).cancel_order(desk.alice.user_id, bobs.id)

    (order,) = orders_of(db, desk.bob.user_id)
    assert order.status == "accepted"
    assert len(trade_logs(db, bobs.id)) == 1  # bob's placement only: alice's attempt is not written under his order


def test_with_no_service_running_the_request_is_withdrawn_after_the_deadline(db: Database, roles: Roles) -> None:
    alice = roles.trader("alice")
    orders = RequestedOrders(alice.sessions, deadline_s=0.3)

    with pytest.raises(RequestNotAnswered, match=r"did not answer in 0\.3 s; nothing was placed"):
        orders.place_order(alice.user_id, OrderTicket("AAPL", BUY, D("1")))

    (request,) = request_rows(db)
    assert request.status == "withdrawn"
    club_sessions, _ = roles.club()
    late = start_intake(club_sessions, club_ledger(club_sessions, LastPrices({"AAPL": D("100")})))
    try:
        assert late.wait_idle()
    finally:
        late.stop()
    assert orders_of(db, alice.user_id) == []  # a service that starts later never places it
    assert request_rows(db)[0].status == "withdrawn"


def test_the_traders_role_cannot_file_a_request_for_another_user(db: Database, roles: Roles) -> None:
    alice, bob = roles.trader("alice"), roles.trader("bob")

    with alice.connect() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        conn.execute(
            "INSERT INTO order_requests (user_id, kind, ticket) VALUES (%s, 'place', %s)",
            (bob.user_id, psycopg.types.json.Jsonb({"symbol": "AAPL", "side": "buy", "qty": "1"})),
        )
    with pytest.raises(LedgerError, match="may not trade for that account"):
        RequestedOrders(alice.sessions).place_order(bob.user_id, OrderTicket("AAPL", BUY, D("1")))
    assert request_rows(db) == []


def test_the_traders_role_can_neither_answer_its_own_request_nor_write_an_order(db: Database, roles: Roles) -> None:
    alice = roles.trader("alice")
    with alice.connect() as conn:
        (request_id,) = conn.execute(
            "INSERT INTO order_requests (kind, ticket) VALUES ('place', %s) RETURNING id",
            (psycopg.types.json.Jsonb({"symbol": "AAPL", "side": "buy", "qty": "1"}),),
        ).fetchone()  # the user is the role's own (sf_uid() by default)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE order_requests SET status = 'accepted' WHERE id = %s", (request_id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("INSERT INTO order_requests (kind, ticket, status) VALUES ('place', '{}', 'accepted')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO orders (user_id, client_order_id, symbol, side, order_type, quantity) "
                "VALUES (%s, 'sf-mine', 'AAPL', 'buy', 'market', 1)",
                (alice.user_id,),
            )
    (request,) = request_rows(db)
    assert (request.user_id, request.status) == (alice.user_id, "requested")


# ----- the seam: who places through requests ---------------------------------------------------------------
def test_a_club_members_workstation_logged_in_as_a_trader_places_and_cancels_through_requests(
    db: Database, desk: Desk
) -> None:
    loop = asyncio.new_event_loop()
    try:
        as_trader = club_member(BarStore(desk.alice.engine), desk.alice.sessions, desk.alice.url, loop)
        as_owner = club_member(BarStore(db.engine), db.session_factory, db.engine.url.render_as_string(False), loop)
        try:
            assert isinstance(as_trader.orders, RequestedOrders) and as_owner.orders is as_owner.ledger
            ticket = OrderTicket("AAPL", BUY, D("2"), OrderType.LIMIT, TimeInForce.GTC, limit_price=D("95"))
            placed = as_trader.orders.place_order(desk.alice.user_id, ticket)
            overview = Portfolio(as_trader.ledger, desk.alice.sessions, orders=as_trader.orders)
            overview.cancel(desk.alice.user_id, placed.id)
            assert as_trader.ledger.portfolio(desk.alice.user_id).reserved == 0  # the ledger still reads
            assert as_trader.settle(desk.alice.user_id) == 0  # the club service settles, not a trader's role
        finally:
            as_trader.close()
            as_owner.close()
    finally:
        loop.close()
    (order,) = orders_of(db, desk.alice.user_id)
    assert order.status == "canceled" and order.request_id is not None


def test_a_paper_session_of_a_traders_role_places_its_signals_orders_through_requests(db: Database, desk: Desk) -> None:
    with db.session_factory() as s:
        session = TradingSession(user_id=desk.alice.user_id, mode="MANUAL", initial_capital=D("10000"))
        s.add(session)
        s.commit()
    reading = Ledger(desk.alice.sessions, ClubDesk(desk.alice.sessions, lambda: None), desk.prices)
    context = PaperSessionContext(session.id, desk.alice.user_id, None, "Test")
    executor = SignalExecutor(desk.alice.sessions, reading, context, clock=utc_now, on_signal=lambda _s: None,
                              orders=desk.requests(desk.alice))  # fmt: skip
    bar = ClosedBar("AAPL", datetime(2026, 3, 2, 15, 0, tzinfo=UTC), 100.0, 100.0, 100.0, 100.0, 1000.0)

    (signal,) = executor.execute(bar, [OrderIntent(IntentKind.BUY, 0, shares=3)])

    (order,) = orders_of(db, desk.alice.user_id)
    assert signal.status == EXECUTED and signal.order_id == order.id
    assert (order.session_id, order.signal_id, order.quantity) == (session.id, signal.id, D("3"))
    assert request_rows(db)[0].session_id == session.id
