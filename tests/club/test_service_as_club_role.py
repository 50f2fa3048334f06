"""The club service needs no more than its own role: it routes, books street fills and resettles as `<p>_club`,
the one role that may write fills, positions, cash and order status (migration 0012)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from core.accounts import AccountService
from core.club.desk import ClubDesk
from core.club.service import ClubService, wake_by_notify
from core.db.club_roles import group_role
from core.db.database import Database
from core.db.engine import make_engine, make_session_factory
from core.db.models import Order
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


@pytest.fixture
def club_engine(db: Database) -> Iterator[Engine]:
    url = make_url(db.engine.url.render_as_string(hide_password=False))
    assert url.database is not None
    engine = make_engine(url.set(username=group_role(url.database, "club")).render_as_string(hide_password=False))
    yield engine
    engine.dispose()


def test_the_club_role_routes_books_and_resettles(
    db: Database, accounts: AccountService, alpaca: AlpacaStandIn, club_engine: Engine
) -> None:
    a, b = (accounts.sign_up(f"r{i}@example.com", f"role{i}", PASSWORD).id for i in range(2))
    prices = LastPrices({"AAPL": D("100")})
    desk = ClubDesk(db.session_factory, wake_by_notify(db.session_factory))
    ledger = Ledger(db.session_factory, desk, prices)
    orders = [ledger.place_order(u, OrderTicket("AAPL", OrderSide.BUY, D(q))) for u, q in ((a, "3"), (b, "4"))]
    club_sessions = make_session_factory(club_engine)
    with event_loop_thread() as loop:
        url = club_engine.url.render_as_string(hide_password=False)
        service = ClubService(
            club_sessions, url, make_broker(alpaca), prices, loop,
            poll_s=0.2, window_s=0.2, router_poll_s=0.2, name="as-club-role",
        )  # fmt: skip
        service.start()
        try:
            eventually(lambda: service.is_active, what="the service to be elected")
            eventually(lambda: len(alpaca.account.list_orders(status="open", limit=50)) == 1, what="the street order")
            (street,) = alpaca.account.list_orders(status="open", limit=50)
            assert D(street["qty"]) == 7
            alpaca.fill(street["id"], qty="3", price="100")
            alpaca.fill(street["id"], qty="4", price="101")

            def status(order_id: uuid.UUID) -> str:
                with db.session_factory() as s:
                    row = s.get(Order, order_id)
                    assert row is not None
                    return row.status

            for order in orders:
                eventually(lambda o=order: status(o.id) == "filled", timeout=DEADLINE_S * 2, what="fills booked")
            assert service.router is not None
            service.router.wait_idle()
        finally:
            service.stop()
    assert_books_balance(db, a, b)
    assert alpaca.positions() == {"AAPL": D("7")}
