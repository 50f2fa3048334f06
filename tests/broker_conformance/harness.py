"""What the broker conformance suite needs from each broker under test.

One harness per broker: the adapter wired to its local stand-in (or the SimBroker itself), and the few levers a
test pulls on the venue side (fill an order, cut the update channel). Every harness module
``tests/broker_conformance/harness_<name>.py`` exposes ``make_harness() -> contextlib.AbstractContextManager[
BrokerHarness]``: entering starts the stand-in and connects the adapter, leaving stops both.

Optional members a harness MAY have (the suite reads them with ``getattr``; none is part of the Protocol, so a
harness without them still conforms):

* ``known_gaps: Mapping[str, str]`` -- test function name -> why this broker fails it today. The suite marks such a
  test ``xfail(strict=True)``: it still runs, and passing it fails the run until the entry is removed. For a real
  shortfall of the adapter (a finding to fix), never for a legitimate difference (encode that in the harness).
* ``unknown_order_id: str`` -- an id of the broker's own shape that names no order (default: a fixed UUID).
* ``wait_until_ready() -> None`` -- called before each test: block (at most ~5 s) until the update channel is up
  again after a previous test's ``cut_updates``, so that test's outage does not leak into the next.
* ``new_client_order_id() -> str`` -- a fresh client order id the broker accepts (default: ``"cf"`` and 16 hex
  digits, 18 alphanumerics, which fits Kite's 20-character tag).
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

    @property
    def broker(self) -> Broker:
        """The broker under test (read-only here, so a harness may declare its own type: ``broker: KiteBroker``)."""
        ...

    symbol: str  # as OrderRequest.symbol takes it: "AAPL", "NSE:INFY"
    quantity: Decimal  # a valid order size of at least two lots, so it can fill in two parts
    lot: Decimal  # the smallest valid size (1 for cash equities)
    resting_limit: Decimal  # a BUY limit on the tick grid that does not fill by itself
    fill_price: Decimal  # a price on the tick grid at which ``execute`` fills

    def execute(self, order_id: str, quantity: Decimal, price: Decimal) -> str | None:
        """The venue fills ``quantity`` more of the open order at ``price`` (partial while less than what remains);
        the update reaches the adapter the way the real service delivers it (stream, postback or polling).

        Returns the execution (trade) id the venue made, when the harness can tell; None otherwise (a harness
        written as ``-> None`` still conforms). The reconnect test checks the delivered fill carries this id."""
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
