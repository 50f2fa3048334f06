"""The conformance suite's fixtures: one harness per broker per test module, and the orders a test leaves behind.

Every test runs once per broker in ``BROKERS``. A broker whose harness module is not written yet is skipped with
"harness not built yet"; an import error inside a harness that does exist fails the run. The harness is module-scoped
(one stand-in per broker per module: starting a stand-in and connecting an adapter costs more than most tests), so
each test cancels the orders it left open, and a harness's ``wait_until_ready`` (optional) runs before each test.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from core.broker.errors import BrokerError
from core.domain.orders import BrokerOrder, OrderRequest, OrderSide, OrderType, TimeInForce
from tests.broker_conformance.events import EventLog
from tests.broker_conformance.harness import BrokerHarness

BROKERS = ("sim", "alpaca", "zerodha", "angel", "icici")

Place = Callable[..., BrokerOrder]


@pytest.fixture(scope="module", params=BROKERS)
def harness(request: pytest.FixtureRequest) -> Iterator[BrokerHarness]:
    # Every broker StratForge trades through has its harness: a missing one is a failure, never a skip.
    module = importlib.import_module(f"tests.broker_conformance.harness_{request.param}")
    with module.make_harness() as built:
        yield built


@pytest.fixture(autouse=True)
def _conformance_test(request: pytest.FixtureRequest) -> None:
    """Mark a broker's known gap ``xfail(strict=True)``, and wait until its update channel is up."""
    if "harness" not in request.fixturenames:
        return
    harness: BrokerHarness = request.getfixturevalue("harness")
    gap = dict(getattr(harness, "known_gaps", {})).get(request.function.__name__)
    if gap is not None:
        request.node.add_marker(pytest.mark.xfail(reason=f"{harness.name}: {gap}", strict=True))
    ready = getattr(harness, "wait_until_ready", None)
    if ready is not None:
        ready()


def new_client_order_id(harness: BrokerHarness) -> str:
    """A fresh client order id the broker accepts (the harness's own shape if it says one)."""
    make = getattr(harness, "new_client_order_id", None)
    return make() if make is not None else f"cf{uuid.uuid4().hex[:16]}"


def resting_buy(harness: BrokerHarness, qty: Decimal | None = None, client_order_id: str | None = None) -> OrderRequest:
    """The suite's standard order: a DAY BUY LIMIT of ``harness.quantity`` at ``harness.resting_limit``."""
    return OrderRequest(
        client_order_id=client_order_id or new_client_order_id(harness),
        symbol=harness.symbol,
        side=OrderSide.BUY,
        qty=harness.quantity if qty is None else qty,
        type=OrderType.LIMIT,
        time_in_force=TimeInForce.DAY,
        limit_price=harness.resting_limit,
    )


@pytest.fixture
def events(harness: BrokerHarness) -> Iterator[EventLog]:
    """Every event the broker delivers during the test (registered before the test's first order)."""
    log = EventLog()
    harness.broker.add_event_handler(log)
    try:
        yield log
    finally:
        harness.broker.remove_event_handler(log)


@pytest.fixture
def place(harness: BrokerHarness) -> Iterator[Place]:
    """``place(request=None)`` submits (the standard resting buy by default); what is still open at the end of
    the test is canceled, so a module-scoped venue starts each test without another test's working orders."""
    placed: list[BrokerOrder] = []

    def submit(request: OrderRequest | None = None) -> BrokerOrder:
        order = harness.broker.submit_order(request or resting_buy(harness))
        placed.append(order)
        return order

    yield submit
    for order in placed:
        try:
            if not harness.broker.get_order(order.id).is_terminal:
                harness.broker.cancel_order(order.id)
        except BrokerError:
            pass  # filled or closed meanwhile: nothing left to clean
