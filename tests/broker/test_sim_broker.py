"""SimBroker: the Broker protocol over the fill model, as the ledger will see it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.broker.errors import BrokerRejected, OrderNotFound
from core.broker.fill_costs import FixedSlippage, PerShareCommission
from core.broker.fill_model import FillModel
from core.broker.protocol import Broker
from core.broker.sim import REJECT_AFTER_ACCEPT_REASON, SimBroker
from core.domain.bars import NormalizedBar
from core.domain.orders import (
    Asset,
    OrderClass,
    OrderEvent,
    OrderEventType,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # a Monday, 09:30 New York
MINUTE = timedelta(minutes=1)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Harness:
    """A broker, its clock, and every event it delivered."""

    def __init__(self, **kwargs: object) -> None:
        self.clock = FakeClock()
        self.broker = SimBroker(clock=self.clock, **kwargs)  # type: ignore[arg-type]
        self.events: list[OrderEvent] = []
        self.broker.add_event_handler(self.events.append)
        self.minute = 0

    def bar(self, o: float, h: float, lo: float, c: float, volume: float = 1e6, symbol: str = "AAPL") -> NormalizedBar:
        """Feed the next one-minute bar, advancing the clock to its close (as a live session would)."""
        b = NormalizedBar(symbol, "1Min", T0 + self.minute * MINUTE, o, h, lo, c, volume)
        self.minute += 1
        self.clock.now = b.end
        self.broker.on_bar(b)
        return b

    def flat(self, price: float = 100.0) -> NormalizedBar:
        return self.bar(price, price + 0.5, price - 0.5, price)

    def submit(self, client_id: str = "c1", side: OrderSide = BUY, qty: str = "10", **fields: object):
        return self.broker.submit_order(OrderRequest(client_id, "AAPL", side, D(qty), **fields))  # type: ignore[arg-type]

    def of(self, order_id: str, kind: OrderEventType | None = None) -> list[OrderEvent]:
        return [e for e in self.events if e.order.id == order_id and (kind is None or e.type is kind)]

    def types(self, order_id: str) -> list[OrderEventType]:
        return [e.type for e in self.of(order_id)]


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_simbroker_satisfies_the_protocol() -> None:
    broker = SimBroker()
    assert isinstance(broker, Broker) and broker.name == "sim"


# ----- fills ----------------------------------------------------------------------------------------


def test_market_order_fills_at_next_bar_open_plus_slippage_never_the_signal_bar() -> None:
    h = Harness(fill_model=FillModel(slippage=FixedSlippage(D("0.03"))))
    signal = h.bar(100.0, 101.0, 99.0, 100.8)
    order = h.submit()
    assert order.status is OrderStatus.NEW and h.types(order.id) == [OrderEventType.NEW]
    h.broker.on_bar(signal)  # the signal bar again (a replay): must not fill
    assert h.types(order.id) == [OrderEventType.NEW]
    h.bar(101.2, 101.5, 100.9, 101.0)
    fill = h.of(order.id, OrderEventType.FILL)[0]
    assert fill.price == D("101.23") and fill.qty == D("10")
    assert fill.order.status is OrderStatus.FILLED and fill.order.filled_avg_price == D("101.23")
    assert h.broker.get_order(order.id).filled_qty == D("10")


def test_order_before_any_bar_fills_on_the_first_bar(h: Harness) -> None:
    order = h.submit()
    h.bar(50.0, 51.0, 49.0, 50.5)
    assert h.of(order.id, OrderEventType.FILL)[0].price == D("50")


def test_limit_rests_until_reachable(h: Harness) -> None:
    h.flat(100.0)
    order = h.submit(type=OrderType.LIMIT, limit_price=D("98.50"), time_in_force=TimeInForce.GTC)
    h.bar(100.0, 100.5, 99.0, 99.5)
    h.bar(99.5, 99.8, 98.6, 99.0)
    assert h.broker.get_order(order.id).status is OrderStatus.NEW
    assert [o.id for o in h.broker.list_open_orders()] == [order.id]
    h.bar(99.0, 99.2, 98.0, 98.7)
    assert h.of(order.id, OrderEventType.FILL)[0].price == D("98.50")
    assert h.broker.list_open_orders() == []


def test_stop_gap_fills_at_open(h: Harness) -> None:
    h.flat(100.0)
    order = h.submit(side=SELL, type=OrderType.STOP, stop_price=D("98"), time_in_force=TimeInForce.GTC)
    h.bar(95.0, 96.0, 94.0, 95.5)
    assert h.of(order.id, OrderEventType.FILL)[0].price == D("95")


def test_stop_limit_triggered_without_fill_then_fills_as_limit(h: Harness) -> None:
    h.flat(100.0)
    order = h.submit(
        type=OrderType.STOP_LIMIT, stop_price=D("101"), limit_price=D("101.50"), time_in_force=TimeInForce.GTC
    )
    h.bar(102.0, 102.5, 101.0, 102.0)  # gaps over the limit: triggers, does not fill
    assert h.types(order.id) == [OrderEventType.NEW]
    h.bar(101.8, 102.0, 101.4, 101.6)  # now a plain limit at 101.50
    assert h.of(order.id, OrderEventType.FILL)[0].price == D("101.50")


def test_orders_of_other_symbols_are_untouched(h: Harness) -> None:
    h.flat(100.0)
    order = h.submit()
    h.bar(10.0, 11.0, 9.0, 10.0, symbol="MSFT")
    assert h.types(order.id) == [OrderEventType.NEW]


# ----- time in force --------------------------------------------------------------------------------


def test_day_order_expires_on_first_bar_of_a_later_utc_date_gtc_persists(h: Harness) -> None:
    h.flat(100.0)
    day = h.submit("day", type=OrderType.LIMIT, limit_price=D("90"))
    gtc = h.submit("gtc", type=OrderType.LIMIT, limit_price=D("90"), time_in_force=TimeInForce.GTC)
    h.flat(100.0)
    assert h.broker.get_order(day.id).status is OrderStatus.NEW
    h.minute += 24 * 60  # next day
    h.bar(89.0, 90.0, 88.0, 89.0)  # would fill both limits, but the DAY order is gone first
    assert h.types(day.id) == [OrderEventType.NEW, OrderEventType.EXPIRED]
    assert h.of(gtc.id, OrderEventType.FILL)[0].price == D("89")


def test_ioc_unreachable_is_canceled_on_next_bar(h: Harness) -> None:
    h.flat(100.0)
    order = h.submit(type=OrderType.LIMIT, limit_price=D("90"), time_in_force=TimeInForce.IOC)
    h.flat(100.0)
    assert h.types(order.id) == [OrderEventType.NEW, OrderEventType.CANCELED]
    assert h.of(order.id, OrderEventType.CANCELED)[0].reason


def test_ioc_partial_fill_cancels_remainder_fok_cancels_all() -> None:
    h = Harness(fill_model=FillModel(max_volume_fraction=D("0.1")))
    h.flat(100.0)
    ioc = h.submit("ioc", qty="800", time_in_force=TimeInForce.IOC)
    fok = h.submit("fok", qty="800", time_in_force=TimeInForce.FOK)
    h.bar(100.0, 100.5, 99.5, 100.0, volume=5000)
    assert h.types(ioc.id) == [OrderEventType.NEW, OrderEventType.PARTIAL_FILL, OrderEventType.CANCELED]
    assert h.broker.get_order(ioc.id).filled_qty == D("500")
    assert h.types(fok.id) == [OrderEventType.NEW, OrderEventType.CANCELED]
    assert h.broker.get_order(fok.id).filled_qty == 0


# ----- partial fills and event content --------------------------------------------------------------


def test_partial_fills_carry_cumulative_quantities_and_unique_execution_ids() -> None:
    h = Harness(fill_model=FillModel(max_volume_fraction=D("0.1")))
    h.flat(100.0)
    order = h.submit(qty="250", time_in_force=TimeInForce.GTC)
    h.bar(100.0, 100.5, 99.5, 100.0, volume=1000)  # 100 @ 100
    h.bar(102.0, 102.5, 101.5, 102.0, volume=1000)  # 100 @ 102
    h.bar(104.0, 104.5, 103.5, 104.0, volume=1000)  # 50 @ 104
    fills = h.of(order.id, OrderEventType.PARTIAL_FILL) + h.of(order.id, OrderEventType.FILL)
    assert [e.type for e in fills] == [OrderEventType.PARTIAL_FILL] * 2 + [OrderEventType.FILL]
    assert [e.qty for e in fills] == [D("100"), D("100"), D("50")]
    assert [e.order.filled_qty for e in fills] == [D("100"), D("200"), D("250")]
    assert fills[1].order.filled_avg_price == D("101")
    assert fills[2].order.filled_avg_price == (D("100") * 100 + D("102") * 100 + D("104") * 50) / 250
    assert len({e.execution_id for e in fills}) == 3 and all(e.execution_id for e in fills)


def test_fill_events_carry_fees_and_account_pays_them() -> None:
    h = Harness(fill_model=FillModel(commission=PerShareCommission(D("0.01"), D("1.00"))), initial_cash=D("10000"))
    h.flat(100.0)
    order = h.submit(qty="10")
    h.bar(50.0, 51.0, 49.0, 50.0)
    assert h.of(order.id, OrderEventType.FILL)[0].fee == D("1.00")
    assert h.broker.get_account().cash == D("10000") - D("500") - D("1.00")


def test_positions_and_account_move_with_fills(h: Harness) -> None:
    start = h.broker.get_account()
    assert start.cash == start.equity == D("1000000")
    h.flat(100.0)
    h.submit("b", qty="10")
    h.bar(100.0, 101.0, 99.0, 100.0)
    h.submit("s", side=SELL, qty="4")
    h.bar(110.0, 112.5, 109.0, 112.0)
    (position,) = h.broker.get_positions()
    assert (position.symbol, position.qty, position.avg_entry_price) == ("AAPL", D("6"), D("100"))
    assert position.market_value == D("6") * D("112")
    account = h.broker.get_account()
    assert account.cash == D("1000000") - 10 * D("100") + 4 * D("110")
    assert account.equity == account.cash + 6 * D("112")
    h.submit("s2", side=SELL, qty="6")
    h.flat(120.0)
    assert h.broker.get_positions() == []
    assert h.broker.get_account().cash == D("1000000") + 4 * D("10") + 6 * D("20")


# ----- brackets -------------------------------------------------------------------------------------


def bracket(h: Harness, tp: str = "105", sl: str = "95", **fields: object):
    return h.submit(
        "br",
        order_class=OrderClass.BRACKET,
        take_profit_limit_price=D(tp),
        stop_loss_stop_price=D(sl),
        time_in_force=TimeInForce.GTC,
        **fields,
    )


def legs_of(h: Harness, parent_id: str):
    parent = h.broker.get_order(parent_id)
    tp, sl = parent.legs
    assert tp.type is OrderType.LIMIT and sl.type is OrderType.STOP
    return tp, sl


def test_bracket_legs_held_until_entry_fills_then_not_eligible_on_the_fill_bar(h: Harness) -> None:
    h.flat(100.0)
    entry = bracket(h)
    tp, sl = legs_of(h, entry.id)
    assert tp.status is sl.status is OrderStatus.HELD and tp.parent_id == sl.parent_id == entry.id
    assert tp.side is sl.side is SELL
    h.bar(100.0, 106.0, 99.0, 104.0)  # entry fills at 100; the range crosses TP on the same bar
    assert h.of(entry.id, OrderEventType.FILL)[0].price == D("100")
    assert h.types(tp.id) == [OrderEventType.NEW] and h.types(sl.id) == [OrderEventType.NEW]
    tp, sl = legs_of(h, entry.id)
    assert tp.qty == sl.qty == D("10") and tp.status is OrderStatus.NEW


def test_bracket_take_profit_fill_cancels_stop_loss(h: Harness) -> None:
    h.flat(100.0)
    entry = bracket(h)
    h.flat(100.0)
    h.bar(104.0, 105.5, 103.0, 105.0)
    tp, sl = legs_of(h, entry.id)
    assert h.types(tp.id)[-1] is OrderEventType.FILL and h.of(tp.id, OrderEventType.FILL)[0].price == D("105")
    assert h.types(sl.id)[-1] is OrderEventType.CANCELED
    assert h.broker.get_positions() == []
    assert h.broker.list_open_orders() == []


def test_bracket_stop_loss_fill_cancels_take_profit(h: Harness) -> None:
    h.flat(100.0)
    entry = bracket(h)
    h.flat(100.0)
    h.bar(94.0, 96.0, 93.0, 95.0)  # gap below the stop: fills at the open
    tp, sl = legs_of(h, entry.id)
    assert h.of(sl.id, OrderEventType.FILL)[0].price == D("94")
    assert h.types(tp.id)[-1] is OrderEventType.CANCELED


def test_bracket_both_exits_in_one_bar_assumes_stop_loss(h: Harness) -> None:
    h.flat(100.0)
    entry = bracket(h)
    h.flat(100.0)
    h.bar(100.0, 106.0, 94.0, 105.0)
    tp, sl = legs_of(h, entry.id)
    assert h.of(sl.id, OrderEventType.FILL)[0].price == D("95")
    assert h.of(tp.id, OrderEventType.FILL) == []
    assert h.types(tp.id)[-1] is OrderEventType.CANCELED


def test_canceling_an_unfilled_bracket_cancels_its_legs(h: Harness) -> None:
    h.flat(100.0)
    entry = bracket(h, type=OrderType.LIMIT, limit_price=D("99"))
    h.broker.cancel_order(entry.id)
    tp, sl = legs_of(h, entry.id)
    assert tp.status is sl.status is OrderStatus.CANCELED
    assert h.types(entry.id)[-1] is OrderEventType.CANCELED


# ----- cancel and lookups ---------------------------------------------------------------------------


def test_cancel_working_terminal_and_unknown(h: Harness) -> None:
    h.flat(100.0)
    order = h.submit(type=OrderType.LIMIT, limit_price=D("90"))
    h.broker.cancel_order(order.id)
    assert h.types(order.id) == [OrderEventType.NEW, OrderEventType.CANCELED]
    assert h.broker.get_order(order.id).status is OrderStatus.CANCELED
    with pytest.raises(BrokerRejected, match="not cancelable"):
        h.broker.cancel_order(order.id)
    with pytest.raises(OrderNotFound):
        h.broker.cancel_order("no-such-id")
    with pytest.raises(OrderNotFound):
        h.broker.get_order("no-such-id")
    with pytest.raises(OrderNotFound):
        h.broker.get_order_by_client_id("nope")
    assert h.broker.get_order_by_client_id("c1").id == order.id


def test_duplicate_client_order_id_is_rejected(h: Harness) -> None:
    h.submit("same")
    with pytest.raises(BrokerRejected, match="unique"):
        h.submit("same")


INVALID: list[tuple[dict[str, object], str]] = [
    ({"qty": "0"}, "qty"),
    ({"qty": "-1"}, "qty"),
    ({"type": OrderType.LIMIT}, "limit_price"),
    ({"type": OrderType.STOP}, "stop_price"),
    ({"type": OrderType.STOP_LIMIT, "stop_price": D("10")}, "limit_price"),
    ({"type": OrderType.LIMIT, "limit_price": D("10.005")}, "tick"),
    ({"type": OrderType.LIMIT, "limit_price": D("-1")}, "limit_price"),
    ({"limit_price": D("10")}, "not allowed"),
    ({"take_profit_limit_price": D("10")}, "bracket"),
    (
        {"order_class": OrderClass.BRACKET, "take_profit_limit_price": D("95"), "stop_loss_stop_price": D("105")},
        "take-profit",
    ),
    (
        {
            "side": SELL,
            "order_class": OrderClass.BRACKET,
            "take_profit_limit_price": D("105"),
            "stop_loss_stop_price": D("95"),
        },
        "take-profit",
    ),
    ({"order_class": OrderClass.BRACKET, "take_profit_limit_price": D("105")}, "stop_loss"),
    (
        {
            "order_class": OrderClass.BRACKET,
            "take_profit_limit_price": D("105"),
            "stop_loss_stop_price": D("95"),
            "time_in_force": TimeInForce.IOC,
        },
        "DAY or GTC",
    ),
]


@pytest.mark.parametrize(("fields", "reason"), INVALID)
def test_invalid_orders_are_rejected_with_a_reason(h: Harness, fields: dict[str, object], reason: str) -> None:
    qty = str(fields.pop("qty", "10"))
    with pytest.raises(BrokerRejected, match=reason):
        h.submit(qty=qty, **fields)
    assert h.events == [] and h.broker.list_open_orders() == []


def test_assets_non_tradable_and_non_fractionable() -> None:
    h = Harness(assets={"AAPL": Asset("AAPL", tradable=True, fractionable=False)})
    with pytest.raises(BrokerRejected, match="fractionable"):
        h.submit(qty="0.5")
    h.broker.set_asset(Asset("AAPL", tradable=False))
    with pytest.raises(BrokerRejected, match="not tradable"):
        h.submit()
    unknown = h.broker.get_asset("ZZZZ")
    assert unknown.tradable and unknown.fractionable


def test_clock_comes_from_the_clock_function(h: Harness) -> None:
    clock = h.broker.get_clock()
    assert clock.timestamp == T0 and clock.is_open and clock.next_close > clock.timestamp


# ----- test knobs for the ledger --------------------------------------------------------------------


@pytest.mark.parametrize("rule", [{"doomed"}, lambda request: request.client_order_id == "doomed"])
def test_reject_after_accept(rule: object) -> None:
    h = Harness(reject_after_accept=rule)
    h.flat(100.0)
    doomed = h.submit("doomed")
    fine = h.submit("fine")
    assert doomed.status is OrderStatus.NEW
    h.flat(100.0)
    assert h.types(doomed.id) == [OrderEventType.NEW, OrderEventType.REJECTED]
    assert h.of(doomed.id, OrderEventType.REJECTED)[0].reason == REJECT_AFTER_ACCEPT_REASON
    assert h.types(fine.id) == [OrderEventType.NEW, OrderEventType.FILL]
    assert h.broker.get_positions()[0].qty == D("10")


def test_duplicate_events_delivers_every_event_twice() -> None:
    h = Harness(duplicate_events=True)
    h.flat(100.0)
    order = h.submit()
    h.flat(100.0)
    assert h.types(order.id) == [OrderEventType.NEW, OrderEventType.NEW, OrderEventType.FILL, OrderEventType.FILL]
    assert h.events[2] == h.events[3]  # same execution id: a true duplicate, not a second fill


def test_held_events_released_out_of_order(h: Harness) -> None:
    h.flat(100.0)
    with h.broker.hold_events("reversed"):
        order = h.submit()
        h.flat(100.0)
        assert h.events == []
    assert h.types(order.id) == [OrderEventType.FILL, OrderEventType.NEW]


def test_release_events_inside_hold_and_custom_order(h: Harness) -> None:
    h.flat(100.0)
    hold = h.broker.hold_events()
    a = h.submit("a")
    b = h.submit("b")
    h.broker.release_events(lambda events: [events[1], events[0]])
    assert [e.order.id for e in h.events] == [b.id, a.id]
    with hold:
        pass  # nothing left to release
    assert len(h.events) == 2
    h.flat(100.0)  # delivered immediately again
    assert len(h.events) == 4


def test_handler_may_call_back_into_the_broker(h: Harness) -> None:
    seen: list[OrderStatus] = []

    def reentrant(event: OrderEvent) -> None:
        seen.append(h.broker.get_order(event.order.id).status)
        if event.type is OrderEventType.FILL and event.order.client_order_id == "first":
            h.broker.submit_order(OrderRequest("second", "AAPL", SELL, D("10")))

    h.broker.add_event_handler(reentrant)
    h.flat(100.0)
    h.submit("first")
    h.flat(100.0)
    assert h.broker.get_order_by_client_id("second").status is OrderStatus.NEW
    assert seen == [OrderStatus.NEW, OrderStatus.FILLED, OrderStatus.NEW]
    h.broker.remove_event_handler(reentrant)


def test_a_failing_handler_does_not_stop_others(h: Harness) -> None:
    def broken(event: OrderEvent) -> None:
        raise RuntimeError("boom")

    h.broker.add_event_handler(broken)
    h.broker.add_event_handler(h.events.append)  # second registration of the recorder
    h.submit()
    assert len(h.events) == 2


def test_concurrent_submissions_get_unique_ids() -> None:
    h = Harness()
    errors: list[BaseException] = []

    def worker(n: int) -> Callable[[], None]:
        def run() -> None:
            try:
                for i in range(50):
                    h.submit(f"t{n}-{i}")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        return run

    threads = [threading.Thread(target=worker(n)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    open_orders = h.broker.list_open_orders()
    assert len(open_orders) == len({o.id for o in open_orders}) == 400
    h.flat(100.0)
    assert h.broker.get_positions()[0].qty == D("4000")


def test_partially_filled_bracket_entry_canceled_protects_the_filled_quantity() -> None:
    h = Harness(fill_model=FillModel(max_volume_fraction=D("0.1")))
    h.flat(100.0)
    entry = bracket(h, qty="100")
    h.bar(100.0, 100.5, 99.5, 100.0, volume=400)  # 40 of 100 fill
    h.broker.cancel_order(entry.id)
    tp, sl = legs_of(h, entry.id)
    assert tp.status is sl.status is OrderStatus.NEW and tp.qty == sl.qty == D("40")
    h.bar(96.0, 96.5, 94.0, 95.0, volume=10_000)
    assert h.of(sl.id, OrderEventType.FILL)[0].qty == D("40")
    assert h.broker.get_positions() == []


def test_sell_bracket_with_stop_limit_stop_loss(h: Harness) -> None:
    h.flat(100.0)
    entry = h.submit(
        "short",
        side=SELL,
        order_class=OrderClass.BRACKET,
        take_profit_limit_price=D("95"),
        stop_loss_stop_price=D("105"),
        stop_loss_limit_price=D("106"),
    )
    h.flat(100.0)
    tp, sl = h.broker.get_order(entry.id).legs
    assert tp.side is sl.side is BUY and sl.type is OrderType.STOP_LIMIT and sl.limit_price == D("106")
    h.bar(100.0, 105.5, 99.0, 105.0)
    assert h.of(sl.id, OrderEventType.FILL)[0].price == D("105")
    assert h.types(tp.id)[-1] is OrderEventType.CANCELED
    assert h.broker.get_positions() == []
