"""SimBroker's own account sells short as Alpaca's does: signed positions, and the same asset checks."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from core.broker.errors import BrokerRejected
from core.broker.sim import DEFAULT_INITIAL_CASH
from core.domain.orders import Asset, BrokerPosition, OrderEventType, OrderSide, OrderType, TimeInForce
from tests.broker.test_sim_broker import Harness

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
CASH = DEFAULT_INITIAL_CASH


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_unknown_symbols_are_shortable_and_easy_to_borrow(h: Harness) -> None:
    asset = h.broker.get_asset("ANYTHING")
    assert asset.shortable and asset.easy_to_borrow and asset.tradable and asset.fractionable


def test_a_sell_from_flat_opens_a_short_credited_to_cash_and_held_against_buying_power(h: Harness) -> None:
    h.flat(100.0)
    order = h.submit("s1", side=SELL, qty="10")
    h.bar(100.0, 100.5, 99.5, 100.0)
    assert h.of(order.id, OrderEventType.FILL)[0].qty == D("10")
    assert h.broker.get_positions() == [BrokerPosition("AAPL", D("-10"), D("100"), D("-1000.0"))]
    account = h.broker.get_account()
    assert (account.cash, account.equity) == (CASH + D("1000"), CASH)
    assert account.buying_power == CASH + D("1000") - D("1500")  # 150% of the short's value held

    h.bar(110.0, 110.5, 109.5, 110.0)  # marked at the new close: the short lost 100 and holds 1,650
    account = h.broker.get_account()
    assert (account.equity, account.buying_power) == (CASH - D("100"), CASH + D("1000") - D("1650"))


def test_adding_covering_and_flipping_keep_a_signed_position_and_its_entry_price(h: Harness) -> None:
    h.flat(100.0)
    steps = [(SELL, "10", 100.0), (SELL, "10", 110.0), (BUY, "5", 90.0), (BUY, "25", 95.0), (SELL, "20", 96.0)]
    expected = [(D("-10"), D("100")), (D("-20"), D("105")), (D("-15"), D("105")), (D("10"), D("95")),
                (D("-10"), D("96"))]  # fmt: skip
    for i, ((side, qty, price), (position, entry)) in enumerate(zip(steps, expected, strict=True)):
        h.submit(f"o{i}", side=side, qty=qty)
        h.bar(price, price + 0.5, price - 0.5, price)
        (held,) = h.broker.get_positions()
        assert (held.qty, held.avg_entry_price) == (position, entry)
    h.submit("close", side=BUY, qty="10")
    h.flat(97.0)
    assert h.broker.get_positions() == []
    # every sale (short or not) credited, every buy (cover or not) paid
    assert h.broker.get_account().cash == CASH + D("1000") + D("1100") - D("450") - D("2375") + D("1920") - D("970")


@pytest.mark.parametrize(
    ("asset", "qty", "reason"),
    [
        (Asset("AAPL", fractionable=True, shortable=False), "6", "AAPL is not shortable; cannot sell 1 short"),
        (Asset("AAPL", fractionable=True, easy_to_borrow=False), "6", "AAPL is hard to borrow; cannot sell 1 short"),
        (Asset("AAPL", fractionable=True), "7.5", "fractional orders cannot be sold short (qty 7.5)"),
        (Asset("AAPL", fractionable=True), "5.5", "fractional orders cannot be sold short (qty 5.5)"),
    ],
)
def test_a_short_sale_alpaca_would_refuse_is_refused_at_submit(h: Harness, asset, qty, reason) -> None:
    h.broker.set_asset(asset)
    h.flat(100.0)
    h.submit("long", qty="5")
    h.flat(100.0)  # holds 5: a sell of up to 5 closes, beyond it goes short
    with pytest.raises(BrokerRejected, match=re.escape(reason)):
        h.submit("short", side=SELL, qty=qty)
    assert h.broker.list_open_orders() == []
    h.submit("fractional close", side=SELL, qty="4.5")  # within the 5 held: no short, no check
    h.flat(100.0)
    assert [p.qty for p in h.broker.get_positions()] == [D("0.5")]


def test_selling_what_the_account_holds_needs_no_short_checks_but_working_sells_are_not_free(h: Harness) -> None:
    h.broker.set_asset(Asset("AAPL", fractionable=True, shortable=False, easy_to_borrow=False))
    h.flat(100.0)
    h.submit("long", qty="10")
    h.flat(100.0)
    h.submit("rest", side=SELL, qty="4", type=OrderType.LIMIT, limit_price=D("120"), time_in_force=TimeInForce.GTC)
    h.submit("close", side=SELL, qty="6")  # the 6 not promised to the resting sell: closes, no short
    with pytest.raises(BrokerRejected, match="AAPL is not shortable; cannot sell 1 short"):
        h.submit("beyond", side=SELL, qty="1")
    h.flat(100.0)
    (held,) = h.broker.get_positions()
    assert held.qty == D("4")
