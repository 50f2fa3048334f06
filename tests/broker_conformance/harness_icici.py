"""The ICICI Direct harness: IciciBroker (breeze_connect in its broker host) against the local Breeze stand-in.

The host's HTTPS goes through the stand-in's proxy (``tests/adapters/icici/standin.py``); fills reach the adapter
the way ICICI's do, through its order book and trade detail, polled every 0.2 s here (in production every 5 s, or
15 s while ICICI's order notifications are up), the socket.io notification waking the poller at once.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from core.adapters.icici.broker import IciciBroker
from core.adapters.icici.link import IciciLink
from core.broker.links import Endpoints
from core.domain.orders import OrderRequest, OrderSide, OrderType
from tests.adapters.icici.standin import BreezeStandIn, BreezeState
from tests.broker_conformance.harness import RejectCase

POLL_INTERVAL_S = 0.2


# Polling five times a second would spend Breeze's 100 calls a minute in 20 s; the stand-in's limit is raised for
# the suite (tests/adapters/icici holds the limit's own test).
def fast_polling() -> BreezeState:
    return BreezeState(rate_limit_per_minute=100_000)


READY_WAIT_S = 10.0


@dataclass
class IciciHarness:
    standin: BreezeStandIn
    broker: IciciBroker
    name: str = "icici"
    symbol: str = "NSE:INFY"
    quantity: Decimal = Decimal("2")
    lot: Decimal = Decimal("1")
    resting_limit: Decimal = Decimal("1400.05")
    fill_price: Decimal = Decimal("1399.95")

    def execute(self, order_id: str, quantity: Decimal, price: Decimal) -> str:
        """The fill; its execution id as the adapter must report it (``icici:<order id>:<trade id>``)."""
        trade = self.standin.execute(order_id, int(quantity), price)
        return f"icici:{order_id}:{trade.trade_id}"

    def reject_cases(self) -> list[RejectCase]:
        return [
            RejectCase(
                "a buy the account's funds do not cover",
                OrderRequest(
                    "icici-reject-funds",
                    self.symbol,
                    OrderSide.BUY,
                    Decimal("100000"),
                    OrderType.LIMIT,
                    limit_price=Decimal("1400.00"),
                ),
                "Insufficient Balance",
            ),
            RejectCase(
                "a delivery sale of shares the account does not hold",
                OrderRequest(
                    "icici-reject-holding",
                    "NSE:RELIANCE",
                    OrderSide.SELL,
                    Decimal("5"),
                    OrderType.LIMIT,
                    limit_price=Decimal("2900.00"),
                ),
                "Insufficient holding quantity",
            ),
        ]

    connects_at_cut: int | None = None

    def cut_updates(self) -> None:
        notifications = self.standin.notifications
        self.connects_at_cut = notifications.connects if notifications is not None else None
        self.standin.cut(0.6)

    def redeliver(self, order_id: str) -> None:
        self.wait_until_ready()
        self.standin.redeliver(order_id)

    def wait_until_ready(self) -> None:
        """After a cut, the SDK's socket.io channel is connected again (it retries within ~1.5 s): a notification
        pushed before that reaches no one, and a redelivery would be lost with it (seen once under load)."""
        notifications = self.standin.notifications
        if notifications is None or self.connects_at_cut is None:
            return
        deadline = time.monotonic() + READY_WAIT_S
        while notifications.connects <= self.connects_at_cut or notifications.order_clients == 0:
            assert time.monotonic() < deadline, "ICICI's order notifications did not reconnect"
            threading.Event().wait(0.02)
        self.connects_at_cut = None


@contextlib.contextmanager
def make_harness() -> Iterator[IciciHarness]:
    with (
        tempfile.TemporaryDirectory(prefix="icici-harness-") as folder,
        BreezeStandIn(Path(folder), fast_polling()) as standin,
    ):
        link = IciciLink(
            work_dir=Path(folder) / "data",
            env=standin.host_env(),
            poll_interval_s=POLL_INTERVAL_S,
            notified_poll_interval_s=POLL_INTERVAL_S,
        )
        credentials = {"api_key": standin.state.api_key, "api_secret": standin.state.api_secret}
        # The API session as the browser log-in returns it (tests/adapters/icici/test_link.py checks start_session;
        # skipping it here saves a host start per module).
        broker = link.open_broker(credentials, {"session_token": standin.issue_api_session()}, Endpoints())
        try:
            yield IciciHarness(standin, broker)
        finally:
            broker.close()
