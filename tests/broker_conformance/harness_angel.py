"""The conformance harness of Angel One: AngelBroker (smartapi-python) against the strict local stand-in.

The session is opened the way the link service opens it (``AngelLink.start_session`` with the PIN and a TOTP from
the seed, then ``open_broker``). Updates come from polling the order and trade books within Angel's limits (once a
second each), so ``execute`` adds a trade-book row that the next poll reports; ``cut_updates`` drops the books'
connections for 1.5 s (the poller retries, and the next read still lists the fill); ``redeliver`` is
``AngelBroker.replay``: Angel itself pushes nothing twice, the duplicates a handler sees come from an adapter
reporting the day's books again (after a restart, or ``replay`` for a handler attached late).

Angel accepts most invalid orders and rejects them a moment later in the order book (the exchange's tick and lot
checks, the RMS's funds check): AngelBroker refuses off-grid prices and unknown symbols before sending, so those
are the synchronous refusals, with its trader messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from core.adapters.angel.broker import AngelBroker
from core.adapters.angel.gate import PER_SECOND
from core.adapters.angel.link import AngelLink
from core.adapters.angel.updates import POLL_INTERVAL_S
from core.broker.links import Endpoints
from core.domain.orders import OrderRequest, OrderSide, OrderType
from tests.adapters.angel.standin import AngelStandIn
from tests.broker_conformance.harness import BrokerHarness, RejectCase

# Angel's limits (one order-book read a second) made every conformance test wait ~2 s for a poll: 47 s for the
# suite. The stand-in and the adapter keep the same limits 10x faster here (5 s); Angel's own tests keep real time.
TIME_SCALE = 10.0


class AngelHarness:
    name = "angel"
    symbol = "NSE:INFY"
    quantity = Decimal("2")
    lot = Decimal("1")
    resting_limit = Decimal("1400.00")
    fill_price = Decimal("1399.95")
    unknown_order_id = "261208999999999"

    def __init__(self, standin: AngelStandIn, broker: AngelBroker) -> None:
        self.standin = standin
        self.broker = broker

    def execute(self, order_id: str, quantity: Decimal, price: Decimal) -> str:
        fill = self.standin.execute(order_id, quantity, price)
        return f"angel:{order_id}:{fill['fillid']}"

    def reject_cases(self) -> list[RejectCase]:
        def buy(symbol: str = self.symbol, limit: Decimal = self.resting_limit) -> OrderRequest:
            return OrderRequest(
                f"cf{uuid.uuid4().hex[:16]}", symbol, OrderSide.BUY, self.lot, OrderType.LIMIT, limit_price=limit
            )

        return [
            RejectCase("a limit off the 0.05 tick grid", buy(limit=Decimal("1400.03")), "tick size 0.05"),
            RejectCase("a symbol Angel does not list", buy(symbol="NSE:ZZZZQ"), "not in the broker's instrument list"),
        ]

    def cut_updates(self) -> None:
        self.standin.cut_updates(1.5 / TIME_SCALE * 2)

    def redeliver(self, order_id: str) -> None:
        self.broker.replay(order_id)


@contextmanager
def make_harness() -> Iterator[BrokerHarness]:
    with AngelStandIn(time_scale=TIME_SCALE) as standin:
        endpoints = Endpoints(api_root=standin.root)
        credentials = {
            "api_key": standin.api_key,
            "client_code": standin.client_code,
            "pin": standin.pin,
            "totp_seed": standin.totp_seed,
        }
        link = AngelLink(
            timeout_s=3.0,
            per_second={route: limit * TIME_SCALE for route, limit in PER_SECOND.items()},
            poll_interval_s=POLL_INTERVAL_S / TIME_SCALE,
        )
        session = link.start_session(credentials, {}, endpoints)
        broker = link.open_broker(credentials, session, endpoints)
        try:
            yield AngelHarness(standin, broker)
        finally:
            broker.close()
