"""The conformance harness of Alpaca: AlpacaBroker (alpaca-py) against the strict local stand-in.

``execute`` is the stand-in's fill lever (a ``partial_fill`` or ``fill`` trade update on the stream, with a fresh
execution id); ``cut_updates`` aborts the stream's connections as a network failure would (alpaca-py reconnects on
its own, after about a second); ``redeliver`` sends an order's latest trade update again, as Alpaca may.

Rejections carry Alpaca's own message: AlpacaBroker's BrokerRejected says "Alpaca refused submit order: <Alpaca's
message>" and drops the numeric code (40310000, 42210000), so the messages are what a case can match.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from core.adapters.alpaca.broker import AlpacaBroker
from core.domain.orders import OrderRequest, OrderSide, OrderType
from tests.alpaca_standin import AlpacaStandIn
from tests.broker_conformance.events import WAIT_S
from tests.broker_conformance.harness import BrokerHarness, RejectCase
from tests.ledger.helpers_alpaca import event_loop_thread, make_broker, streaming

# Alpaca replays nothing after a reconnection, and AlpacaBroker hands over only what the stream delivers: a fill made
# while the stream was down never reaches the handlers (the ledger settles it later from the order's cumulative state
# over REST, without the execution id). A finding, not a difference to encode: see the suite's report.
RECONNECT_GAP = (
    "a fill made while the trade stream is down is lost: Alpaca replays nothing after a reconnect and AlpacaBroker "
    "does not recover the execution (e.g. from GET /v2/account/activities/FILL) when it reconnects"
)


class ReplayingStandIn(AlpacaStandIn):
    """The stand-in with one more lever: ``redeliver`` sends an order's latest trade update again."""

    def redeliver(self, order_id: str) -> None:
        with self._events_lock:
            latest = next(e for e in reversed(self.sent_events) if e["order"]["id"] == order_id)
            self._send(latest)


class AlpacaHarness:
    name = "alpaca"
    symbol = "AAPL"
    quantity = Decimal("3")
    lot = Decimal("1")
    resting_limit = Decimal("100.00")
    fill_price = Decimal("99.50")
    known_gaps = {
        "test_a_fill_made_while_updates_are_cut_arrives_after_the_reconnect": RECONNECT_GAP,
        "test_a_reconnect_replay_is_booked_once": RECONNECT_GAP,
    }

    def __init__(self, standin: ReplayingStandIn, broker: AlpacaBroker) -> None:
        self.standin = standin
        self.broker = broker
        self._lock = threading.Lock()
        self._cut = False
        self._reconnected_at: int | None = None  # the stream's handshake count that means "back after a cut"

    def execute(self, order_id: str, quantity: Decimal, price: Decimal) -> str | None:
        with self._lock:
            cut, self._cut = self._cut, False
        if not cut:
            self.wait_until_ready()
        return str(self.standin.fill(order_id, qty=quantity, price=price)["execution_id"])

    def reject_cases(self) -> list[RejectCase]:
        def buy(
            symbol: str = self.symbol, qty: Decimal = self.lot, limit: Decimal = self.resting_limit
        ) -> OrderRequest:
            return OrderRequest(
                f"cf{uuid.uuid4().hex[:16]}", symbol, OrderSide.BUY, qty, OrderType.LIMIT, limit_price=limit
            )

        return [
            RejectCase(
                "sub-penny limit price",
                buy(limit=Decimal("100.005")),
                "sub-penny increment does not fulfill minimum pricing criteria",
            ),
            RejectCase("unknown symbol", buy(symbol="ZZZZQ"), 'asset "ZZZZQ" not found'),
            RejectCase("more than the buying power", buy(qty=Decimal("5000")), "insufficient buying power"),
        ]

    def cut_updates(self) -> None:
        with self._lock:
            self._cut = True
            self._reconnected_at = self.standin.connections_accepted + 1
        self.standin.drop_connections()

    def redeliver(self, order_id: str) -> None:
        self.wait_until_ready()
        self.standin.redeliver(order_id)

    def wait_until_ready(self) -> None:
        """The stream listens again (after a cut: a new handshake); alpaca-py's first retry comes within ~2 s."""
        with self._lock:
            after_cut = self._reconnected_at or 0
        assert self.standin.wait_for_listeners(1, WAIT_S, accepted_at_least=after_cut), "trade stream is not back"


@contextmanager
def make_harness() -> Iterator[BrokerHarness]:
    with ReplayingStandIn() as standin, event_loop_thread() as loop:
        broker = make_broker(standin)
        with streaming(broker, standin, loop):
            yield AlpacaHarness(standin, broker)
