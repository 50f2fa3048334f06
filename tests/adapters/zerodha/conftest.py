"""One Kite stand-in per test module (starting one costs a thread and a port), and brokers wired to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from core.adapters.zerodha.broker import ZerodhaBroker
from core.adapters.zerodha.client import KiteCalls, KiteSession, RequestPacer
from core.adapters.zerodha.instruments import DailyInstrumentBook
from tests.adapters.zerodha.standin import KiteStandIn

MakeBroker = Callable[..., ZerodhaBroker]


@pytest.fixture(scope="module")
def kite() -> Iterator[KiteStandIn]:
    with KiteStandIn() as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def instruments(kite: KiteStandIn, pacer: RequestPacer) -> DailyInstrumentBook:
    """The stand-in's instrument master, downloaded once per module and shared by its brokers, as an app shares
    it (every broker downloading its own would meet the stand-in's 10-a-second limit on /instruments)."""
    calls = KiteCalls(KiteSession(kite.api_key, kite.new_session()), api_root=kite.url, timeout_s=2.0, pacer=pacer)
    return DailyInstrumentBook(
        lambda exchange: calls.run("download", "GET /instruments", lambda k: k.instruments(exchange.value)),
        lambda: datetime.now(UTC),
    )


@pytest.fixture(scope="module")
def pacer() -> RequestPacer:
    """One request budget for the module's brokers: they share the stand-in's per-endpoint limit."""
    return RequestPacer()


@pytest.fixture
def make_broker(kite: KiteStandIn, instruments: DailyInstrumentBook, pacer: RequestPacer) -> Iterator[MakeBroker]:
    """``make_broker(**options)``: a ZerodhaBroker on a fresh session of the stand-in (closed after the test)."""
    made: list[ZerodhaBroker] = []

    def make(**options: object) -> ZerodhaBroker:
        session = KiteSession(kite.api_key, kite.new_session(), kite.account.user_id)
        options = {"timeout_s": 2.0, "poll_interval_s": 0.1, "instruments": instruments, "pacer": pacer, **options}
        broker = ZerodhaBroker(session, api_root=kite.url, **options)  # type: ignore[arg-type]
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.close()


@pytest.fixture
def broker(make_broker: MakeBroker) -> ZerodhaBroker:
    return make_broker()
