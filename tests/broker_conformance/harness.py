"""What the broker conformance suite needs from each broker under test.

One harness per broker: the adapter wired to its local stand-in (or the SimBroker itself), and the few levers a
test pulls on the venue side (fill an order, cut the update channel). Every harness module
``tests/broker_conformance/harness_<name>.py`` exposes ``make_harness() -> contextlib.AbstractContextManager[
BrokerHarness]``: entering starts the stand-in and connects the adapter, leaving stops both.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from core.broker.protocol import Broker
from core.domain.orders import OrderRequest


@dataclass(frozen=True)
class RejectCase:
    """An order the real service refuses, and its own code or message, which the BrokerRejected's str() carries."""

    why: str  # e.g. "price off the tick grid"
    request: OrderRequest
    code: str  # e.g. "InputException" (Kite), "AB1008" (Angel), "40010000" (Alpaca)


class BrokerHarness(Protocol):
    name: str  # "sim" | "alpaca" | "zerodha" | "angel" | "icici"
    broker: Broker
    symbol: str  # as OrderRequest.symbol takes it: "AAPL", "NSE:INFY"
    quantity: Decimal  # a valid order size of at least two lots, so it can fill in two parts
    lot: Decimal  # the smallest valid size (1 for cash equities)
    resting_limit: Decimal  # a BUY limit on the tick grid that does not fill by itself
    fill_price: Decimal  # a price on the tick grid at which ``execute`` fills

    def execute(self, order_id: str, quantity: Decimal, price: Decimal) -> None:
        """The venue fills ``quantity`` more of the open order at ``price`` (partial while less than what remains);
        the update reaches the adapter the way the real service delivers it (stream, postback or polling)."""
        ...

    def reject_cases(self) -> list[RejectCase]:
        """Orders the real service refuses, at least two, each with the service's own code."""
        ...

    def cut_updates(self) -> None:
        """The order-update channel drops as a network failure would (the server closes it); updates made while
        it is down must still reach the handlers, once, after the adapter reconnects or polls."""
        ...

    def redeliver(self, order_id: str) -> None:
        """The venue sends the latest update of ``order_id`` again (brokers may deliver an event twice)."""
        ...
