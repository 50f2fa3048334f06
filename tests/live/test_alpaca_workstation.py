"""The Alpaca workstation against the protocol stand-in: one client holds the club's streams, bars reach the
workstation's listeners and prices, and an order placed through its ledger is filled and booked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

from core.accounts import AccountService
from core.accounts.secrets import AlpacaKeys
from core.db.database import Database
from core.domain.bars import NormalizedBar
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.live import alpaca_workstation as alpaca_mode
from core.live.alpaca_workstation import AlpacaEndpoints
from core.live.workstation import ALPACA_PAPER
from core.market.store import BarStore
from tests.adapters.alpaca.test_bar_feed import DAY, minute_bars
from tests.alpaca_standin.server import AlpacaStandIn
from tests.market.test_history import ny

PASSWORD = "Tr4ding-Pass-2026"


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def test_bars_and_orders_flow_through_the_club(db: Database, accounts: AccountService, alpaca: AlpacaStandIn) -> None:
    user = accounts.sign_up("club@example.com", "club", PASSWORD)
    url = db.engine.url.render_as_string(hide_password=False)
    ends = AlpacaEndpoints(alpaca.rest_url, alpaca.stream_url, alpaca.rest_url, alpaca.data_stream_url)
    keys = AlpacaKeys(alpaca.key_id, alpaca.secret_key)
    seen: list[NormalizedBar] = []

    async def scenario() -> None:
        ws = alpaca_workstation(keys, db, url, ends)
        ws.add_bar_listener(seen.append)
        try:
            await ws.start()
            ws.want("chart", ["AAPL"])
            await ws.settled()
            assert await asyncio.to_thread(alpaca.wait_for_bar_subscribers, "AAPL", 1, 15)
            row = minute_bars(ny(DAY, 10), 1).iloc[0]
            alpaca.publish_bar("AAPL", row)
            await until(lambda: len(seen) == 1)
            assert ws.prices.last_price("AAPL") == Decimal(repr(float(row["close"])))
            await asyncio.to_thread(ws.ledger.place_order, user.id, OrderTicket("AAPL", OrderSide.BUY, Decimal("2")))
            await until(lambda: ws.status().broker.endswith("routing the club's orders"))
            assert await asyncio.to_thread(alpaca.wait_for_listeners, 1, 15)
            # The order is virtual until this app's router (it holds the trade stream) sends the club's net.
            await until(lambda: len(alpaca.account.list_orders(status="open", limit=10)) == 1)
            (street,) = alpaca.account.list_orders(status="open", limit=10)
            assert street["client_order_id"].startswith("club-") and Decimal(street["qty"]) == 2
            alpaca.fill(street["id"], price="101")
            await until(lambda: any(p.symbol == "AAPL" for p in ws.ledger.portfolio(user.id).positions))
            status = ws.status()
            assert status.mode == ALPACA_PAPER and "holding the club's data stream" in status.feed
            await ws.stop()
        finally:
            await asyncio.to_thread(ws.close)

    asyncio.run(scenario())


def alpaca_workstation(keys: AlpacaKeys, db: Database, url: str, ends: AlpacaEndpoints) -> alpaca_mode.Workstation:
    loop = asyncio.get_running_loop()
    return alpaca_mode.alpaca(keys, BarStore(db.engine), db.session_factory, url, loop, endpoints=ends, timeout_s=5.0)
