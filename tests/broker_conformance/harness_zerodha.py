"""The conformance harness of the Zerodha adapter (core.adapters.zerodha) on the local Kite stand-in.

Updates reach the adapter by polling (see core/adapters/zerodha/order_updates.py), here every 0.2 s: ``execute``
fills in the stand-in's order and trade books and the next poll reports it. ``cut_updates`` makes the next
order-book or trade-book read lose its connection (the adapter backs off and reads again; the fill comes from the
trade book then). ``redeliver`` is how a polled broker gets an update twice: the adapter is asked to report the
order again from the books (``ZerodhaBroker.report_again``), and reports the same trades under the same execution
ids. Kite sends no update of its own accord that a poller could receive twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from core.adapters.zerodha.broker import ZerodhaBroker
from core.adapters.zerodha.client import KiteSession
from core.adapters.zerodha.order_updates import execution_id
from core.domain.orders import OrderRequest, OrderSide, OrderType
from tests.adapters.zerodha.standin import KiteStandIn
from tests.broker_conformance.harness import RejectCase

POLL_INTERVAL_S = 0.2
READY_WAIT_S = 5.0


class ZerodhaHarness:
    name = "zerodha"
    symbol = "NSE:INFY"
    quantity = Decimal("4")
    lot = Decimal("1")
    resting_limit = Decimal("1450.00")  # the stand-in's INFY trades at 1500; its circuit band is 1200-1800
    fill_price = Decimal("1449.50")
    unknown_order_id = "261208999999999"

    def __init__(self, kite: KiteStandIn, broker: ZerodhaBroker) -> None:
        self.kite = kite
        self.broker = broker

    def execute(self, order_id: str, quantity: Decimal, price: Decimal) -> str | None:
        return execution_id(order_id, self.kite.execute(order_id, quantity, price))

    def reject_cases(self) -> list[RejectCase]:
        def buy(limit: str, symbol: str = self.symbol) -> OrderRequest:
            return OrderRequest(f"rj{time.monotonic_ns()}", symbol, OrderSide.BUY, Decimal(1), OrderType.LIMIT,
                                limit_price=Decimal(limit))  # fmt: skip

        return [
            RejectCase("a limit below the day's lower circuit", buy("1000.00"), "InputException"),
            RejectCase("a limit above the day's upper circuit on BSE", buy("2000.00", "BSE:INFY"), "InputException"),
            # refused before sending, in the words of Kite's own refusal ("Tick size for this script is 0.05")
            RejectCase("a price off the 0.05 tick grid", buy("1450.03"), "tick size"),
        ]

    def cut_updates(self) -> None:
        self.kite.cut_order_book(reads=1)

    def redeliver(self, order_id: str) -> None:
        self.broker.report_again(order_id)

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_WAIT_S
        while self.kite.cuts_pending() or self.broker.poller.failures:
            if time.monotonic() > deadline:
                raise AssertionError("the Zerodha order poller did not recover from the previous cut within 5 s")
            time.sleep(0.02)


@contextmanager
def make_harness() -> Iterator[ZerodhaHarness]:
    with KiteStandIn() as kite:
        session = KiteSession(kite.api_key, kite.new_session(), kite.account.user_id)
        broker = ZerodhaBroker(session, api_root=kite.url, timeout_s=3.0, poll_interval_s=POLL_INTERVAL_S)
        broker.start_updates()
        try:
            yield ZerodhaHarness(kite, broker)
        finally:
            broker.close()
