"""A club member's app without the account's keys: its orders reach the account through the club service."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import psycopg

from core.accounts import AccountService
from core.club.service import SERVICE_KEY, ClubService
from core.db.database import Database
from core.db.models import Order
from core.db.notify import libpq_url
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.ledger.prices import LastPrices
from core.live.club_member import RouterWatch, club_member
from core.market.store import BarStore
from tests.alpaca_standin import AlpacaStandIn
from tests.ledger.helpers_alpaca import make_broker
from tests.live.test_alpaca_workstation import until

PASSWORD = "Tr4ding-Pass-2026"


def test_the_router_watch_sees_whether_anyone_holds_the_club_routers_lock(db: Database):
    url = db.engine.url.render_as_string(hide_password=False)
    watch = RouterWatch(db.session_factory)
    assert watch.check() is False
    with psycopg.connect(libpq_url(url), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (SERVICE_KEY,))
        assert watch.check() is True
    assert watch.check() is False


def test_a_members_order_is_routed_by_the_club_service_and_the_status_bar_says_so(
    db: Database, accounts: AccountService, alpaca: AlpacaStandIn
):
    user = accounts.sign_up("member@example.com", "member", PASSWORD)
    url = db.engine.url.render_as_string(hide_password=False)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        ws = club_member(BarStore(db.engine), db.session_factory, url, loop)
        service: ClubService | None = None
        try:
            await ws.start()
            await until(lambda: "no club router is running" in ws.status().broker)
            assert not ws.status().broker_ok
            ws.prices.update("AAPL", Decimal("100"))  # as a bar from the club's data stream would
            placed = await asyncio.to_thread(
                ws.ledger.place_order, user.id, OrderTicket("AAPL", OrderSide.BUY, Decimal("4"))
            )
            assert alpaca.account.list_orders(status="all", limit=10) == []  # nobody routes yet: it waits, reserved

            service = ClubService(db.session_factory, url, make_broker(alpaca), LastPrices({"AAPL": Decimal(100)}),
                                  loop, poll_s=0.2, window_s=0.05, router_poll_s=0.2)  # fmt: skip
            await asyncio.to_thread(service.start)
            await until(lambda: len(alpaca.account.list_orders(status="open", limit=10)) == 1)
            (street,) = alpaca.account.list_orders(status="open", limit=10)
            alpaca.fill(street["id"], price="100.40")
            await until(lambda: any(p.symbol == "AAPL" for p in ws.ledger.portfolio(user.id).positions))
            (position,) = ws.ledger.portfolio(user.id).positions
            assert position.qty == 4 and position.avg_entry_price == Decimal("100.40")
            with db.session_factory() as s:
                row = s.get(Order, placed.id)
                assert row is not None and row.status == "filled" and row.filled_avg_price == Decimal("100.40")
            await until(lambda: ws.status().broker == "Broker: Alpaca paper through the club's router")
        finally:
            if service is not None:
                await asyncio.to_thread(service.stop)
            await ws.stop()
            await asyncio.to_thread(ws.close)

    asyncio.run(scenario())
