"""Every broker's protocol surface: the Broker type, the account, positions after a fill, the clock, the asset."""

from __future__ import annotations

from decimal import Decimal

from core.broker.protocol import Broker
from core.domain.orders import OrderEventType
from tests.broker_conformance.conftest import Place
from tests.broker_conformance.events import EventLog
from tests.broker_conformance.harness import BrokerHarness


def held(harness: BrokerHarness) -> Decimal:
    return sum((p.qty for p in harness.broker.get_positions() if p.symbol == harness.symbol), Decimal("0"))


def test_the_broker_is_a_broker_named_as_its_orders_are_stored(harness: BrokerHarness) -> None:
    assert isinstance(harness.broker, Broker)
    assert harness.broker.name == harness.name


def test_the_account_reads_back_in_decimal_money(harness: BrokerHarness) -> None:
    account = harness.broker.get_account()

    assert account.id and account.status
    for money in (account.cash, account.buying_power, account.equity):
        assert isinstance(money, Decimal) and money.is_finite()
    assert account.buying_power > 0


def test_a_filled_buy_shows_in_the_positions(harness: BrokerHarness, place: Place, events: EventLog) -> None:
    before = held(harness)
    order = place()

    harness.execute(order.id, harness.quantity, harness.fill_price)
    events.wait_for(order.id, OrderEventType.FILL)

    assert held(harness) == before + harness.quantity
    position = next(p for p in harness.broker.get_positions() if p.symbol == harness.symbol)
    assert isinstance(position.qty, Decimal) and isinstance(position.avg_entry_price, Decimal)
    assert position.avg_entry_price > 0


def test_the_clock_tells_aware_times(harness: BrokerHarness) -> None:
    clock = harness.broker.get_clock()

    assert isinstance(clock.is_open, bool)
    for moment in (clock.timestamp, clock.next_open, clock.next_close):
        assert moment.tzinfo is not None and moment.utcoffset() is not None


def test_the_traded_symbol_is_a_tradable_asset(harness: BrokerHarness) -> None:
    asset = harness.broker.get_asset(harness.symbol)

    assert asset.symbol == harness.symbol
    assert asset.tradable
