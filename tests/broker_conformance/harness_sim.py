"""The conformance harness of the simulated broker (core.broker.sim.SimBroker).

SimBroker fills on bars, not on demand, so ``execute`` plays the market: one bar of the order's symbol whose
open, high, low and close are all the asked price and whose volume is the asked quantity, with a fill model that
lets an order take at most the bar's whole volume (``max_volume_fraction=1``). A BUY limit at or above that price
then fills exactly ``quantity`` at exactly ``price``. The broker's clock stands on one fixed trading day and the
bars follow it a minute apart, so DAY orders never expire mid-module.

The update channel is in-process; ``cut_updates`` holds the broker's events (as a dropped connection would
withhold them) and the next ``execute`` takes what its bar produced out of the hold and hands it over from
another thread, as an adapter's reconnection would hand over what it missed.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.broker.fill_model import FillModel
from core.broker.sim import SimBroker
from core.domain.bars import NormalizedBar
from core.domain.orders import Asset, OrderEvent, OrderRequest, OrderSide, OrderType
from tests.broker_conformance.harness import BrokerHarness, RejectCase

TRADING_DAY = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
HALTED = "HALTD"  # an asset the simulated market lists as not tradable


class ReplayingSimBroker(SimBroker):
    """SimBroker with the one venue lever it lacks: deliver an event again (its ``latest`` of an order, or a replay).

    A subclass rather than a wrapper: the tests must hold the SimBroker itself, and only the broker's own
    dispatcher can deliver an event to the handlers registered with it."""

    def __init__(self, fill_model: FillModel) -> None:
        super().__init__(fill_model, clock=lambda: TRADING_DAY)
        self._latest: dict[str, OrderEvent] = {}
        self._latest_lock = threading.Lock()
        self.add_event_handler(self._remember)

    def _remember(self, event: OrderEvent) -> None:
        with self._latest_lock:
            self._latest[event.order.id] = event

    def latest(self, order_id: str) -> OrderEvent:
        with self._latest_lock:
            return self._latest[order_id]

    def deliver(self, events: list[OrderEvent]) -> None:
        """Hand ``events`` to the handlers (again): the venue resending, or an adapter replaying what it missed."""
        self._events.deliver(events)


class SimHarness:
    name = "sim"
    symbol = "AAPL"
    quantity = Decimal("3")
    lot = Decimal("1")
    resting_limit = Decimal("100.00")
    fill_price = Decimal("99.50")

    def __init__(self) -> None:
        self.broker = ReplayingSimBroker(FillModel(max_volume_fraction=Decimal(1)))
        self.broker.set_asset(Asset(HALTED, tradable=False))
        self._bars = 0
        self._cut = False
        self._lock = threading.Lock()
        self._reconnections: list[threading.Thread] = []

    def execute(self, order_id: str, quantity: Decimal, price: Decimal) -> str | None:
        symbol = self.broker.get_order(order_id).symbol
        with self._lock:
            self._bars += 1
            opened = TRADING_DAY + timedelta(minutes=self._bars)
            cut, self._cut = self._cut, False
        p = float(price)
        self.broker.on_bar(NormalizedBar(symbol, "1Min", opened, p, p, p, p, float(quantity), source="conformance"))
        if not cut:
            return self.broker.latest(order_id).execution_id
        # What the outage withheld is taken out of the broker's hold undelivered, and handed over by the adapter's
        # "reconnection", on its own thread.
        missed: list[OrderEvent] = []

        def take(held: list[OrderEvent]) -> list[OrderEvent]:
            missed.extend(held)
            return []

        self.broker.release_events(take)
        reconnection = threading.Thread(target=self.broker.deliver, args=(missed,), name="sim-reconnect", daemon=True)
        self._reconnections.append(reconnection)
        reconnection.start()
        made = [e.execution_id for e in missed if e.order.id == order_id and e.execution_id]
        return made[-1] if made else None

    def reject_cases(self) -> list[RejectCase]:
        def buy(
            symbol: str = self.symbol, limit_price: Decimal = self.resting_limit, stop_price: Decimal | None = None
        ) -> OrderRequest:
            return OrderRequest(
                f"cf{uuid.uuid4().hex[:16]}", symbol, OrderSide.BUY, self.lot, OrderType.LIMIT,
                limit_price=limit_price, stop_price=stop_price,
            )  # fmt: skip

        return [
            RejectCase("price off the tick grid", buy(limit_price=Decimal("100.005")), "is not on a valid tick"),
            RejectCase("asset not tradable", buy(HALTED), "is not tradable"),
            RejectCase(
                "stop price on a limit order", buy(stop_price=Decimal("101.00")), "is not allowed on a limit order"
            ),
        ]

    def cut_updates(self) -> None:
        with self._lock:
            self._cut = True
        self.broker.hold_events()

    def redeliver(self, order_id: str) -> None:
        self.broker.deliver([self.broker.latest(order_id)])

    def wait_until_ready(self) -> None:
        """A cut that no ``execute`` followed ends here; a reconnection still handing over finishes first."""
        with self._lock:
            cut, self._cut = self._cut, False
        if cut:
            self.broker.release_events()
        for reconnection in self._reconnections:
            reconnection.join(5)
        self._reconnections.clear()


@contextmanager
def make_harness() -> Iterator[BrokerHarness]:
    yield SimHarness()
