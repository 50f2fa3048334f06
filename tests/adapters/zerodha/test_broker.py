"""ZerodhaBroker against the Kite stand-in: what the conformance suite does not cover."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from core.adapters.zerodha.broker import ZerodhaBroker
from core.adapters.zerodha.order_updates import execution_id
from core.adapters.zerodha.tags import tag_for
from core.broker.errors import BrokerRejected, BrokerUnavailable, NotPlaced, RateLimited, SessionExpired
from core.domain.orders import OrderEvent, OrderEventType, OrderRequest, OrderSide, OrderStatus, OrderType, TimeInForce
from tests.adapters.zerodha.conftest import MakeBroker
from tests.adapters.zerodha.standin import KiteStandIn
from tests.broker_conformance.events import EventLog

_ids = iter(range(10**6))


def order(symbol: str = "NSE:INFY", qty: str = "2", limit: str | None = "1450.00", **changes: object) -> OrderRequest:
    values: dict[str, object] = {
        "client_order_id": f"sf-{next(_ids):032x}", "symbol": symbol, "side": OrderSide.BUY, "qty": Decimal(qty),
        "type": OrderType.LIMIT if limit else OrderType.MARKET, "limit_price": Decimal(limit) if limit else None,
    } | changes  # fmt: skip
    return OrderRequest(**values)  # type: ignore[arg-type]


def placed_orders(kite: KiteStandIn) -> int:
    return kite.count("POST", "/orders/regular")


@pytest.fixture
def events(broker: ZerodhaBroker) -> EventLog:
    log = EventLog()
    broker.add_event_handler(log)
    broker.start_updates()
    return log


def test_the_client_order_id_travels_in_kites_tag_and_finds_the_order_after_a_restart(
    kite: KiteStandIn, broker: ZerodhaBroker, make_broker: MakeBroker
) -> None:
    request = order()
    placed = broker.submit_order(request)

    row = next(o for o in kite.account.order_book() if o["order_id"] == placed.id)
    assert row["tag"] == tag_for(request.client_order_id) and len(row["tag"]) <= 20
    restarted = make_broker()
    assert restarted.get_order(placed.id).client_order_id == row["tag"], "a restarted adapter knows only the tag"
    assert restarted.get_order_by_client_id(request.client_order_id).id == placed.id
    assert restarted.get_order(placed.id).client_order_id == request.client_order_id, "and now it knows the id"
    broker.cancel_order(placed.id)


def test_nse_and_bse_symbols_reach_their_exchange(kite: KiteStandIn, broker: ZerodhaBroker) -> None:
    on_bse = broker.submit_order(order("BSE:INFY"))
    on_nse = broker.submit_order(order("infy"))

    assert (on_bse.symbol, on_nse.symbol) == ("BSE:INFY", "NSE:INFY")
    rows = {o["order_id"]: o for o in kite.account.order_book()}
    assert (rows[on_bse.id]["exchange"], rows[on_nse.id]["exchange"]) == ("BSE", "NSE")
    assert rows[on_bse.id]["instrument_token"] != rows[on_nse.id]["instrument_token"]
    for placed in (on_bse, on_nse):
        broker.cancel_order(placed.id)


@pytest.mark.parametrize(
    ("request_", "error", "words"),
    [
        (order(limit="1450.03"), BrokerRejected, "tick size 0.05; use 1450.05"),
        (order("NSE:IDEA", limit="7.505"), BrokerRejected, "tick size 0.01"),
        (order("NSE:NOSUCH"), BrokerRejected, "not in the broker's instrument list"),
        (order("NFO:INFY26DECFUT"), BrokerRejected, "exchange must be NSE or BSE"),
        (order(qty="2.5"), NotPlaced, "whole shares only"),
        (order(time_in_force=TimeInForce.GTC), NotPlaced, "day and IOC orders only"),
        (order(extended_hours=True), NotPlaced, "no extended hours"),
    ],
    ids=lambda value: value.client_order_id if isinstance(value, OrderRequest) else None,
)
def test_orders_kite_would_refuse_are_refused_before_sending(
    kite: KiteStandIn, broker: ZerodhaBroker, request_: OrderRequest, error: type, words: str
) -> None:
    broker.get_asset("NSE:INFY")  # the instrument master is loaded
    before = placed_orders(kite)

    with pytest.raises(error, match=words):
        broker.submit_order(request_)

    assert placed_orders(kite) == before


def test_a_modification_off_the_tick_grid_is_refused_before_sending(kite: KiteStandIn, broker: ZerodhaBroker) -> None:
    placed = broker.submit_order(order())
    before = kite.count("PUT", f"/orders/regular/{placed.id}")

    with pytest.raises(BrokerRejected, match="tick size"):
        broker.modify_order(placed.id, limit_price=Decimal("1450.01"))
    with pytest.raises(BrokerRejected, match="no trigger price"):
        broker.modify_order(placed.id, stop_price=Decimal("1460"))

    kite.execute(placed.id, Decimal(1), Decimal(1450))
    with pytest.raises(BrokerRejected, match="already filled 1"):
        broker.modify_order(placed.id, qty=Decimal(0))

    assert kite.count("PUT", f"/orders/regular/{placed.id}") == before
    broker.cancel_order(placed.id)


def test_an_order_short_of_funds_is_accepted_then_rejected_with_kites_reason(
    broker: ZerodhaBroker, events: EventLog
) -> None:
    placed = broker.submit_order(order(qty="1000", limit="1500.00"))  # 15 lakh against 10 lakh of cash

    rejected = events.wait_for(placed.id, OrderEventType.REJECTED)

    assert rejected.order.status is OrderStatus.REJECTED
    assert rejected.reason is not None and rejected.reason.startswith("Insufficient funds")
    assert not events.of(placed.id, OrderEventType.NEW), "an order Kite's risk check refused was never working"


def test_a_delivery_sale_without_holdings_is_rejected_and_an_intraday_one_is_not(
    broker: ZerodhaBroker, make_broker: MakeBroker, events: EventLog
) -> None:
    sale = order("NSE:RELIANCE", qty="1", limit=None, side=OrderSide.SELL)
    placed = broker.submit_order(sale)
    assert "Insufficient holdings" in (events.wait_for(placed.id, OrderEventType.REJECTED).reason or "")

    intraday = make_broker(product="MIS")
    assert intraday.get_asset("NSE:RELIANCE").shortable and not broker.get_asset("NSE:RELIANCE").shortable
    short = intraday.submit_order(order("NSE:RELIANCE", qty="1", limit=None, side=OrderSide.SELL))
    filled = events.wait_for(short.id, OrderEventType.FILL)
    assert (filled.price, filled.execution_id) == (Decimal(2500), filled.execution_id)


def test_a_market_order_fills_at_once_and_an_unmarketable_ioc_is_canceled(
    broker: ZerodhaBroker, events: EventLog
) -> None:
    market = broker.submit_order(order(limit=None))
    ioc = broker.submit_order(order(limit="1400.00", time_in_force=TimeInForce.IOC))

    fill = events.wait_for(market.id, OrderEventType.FILL)
    canceled = events.wait_for(ioc.id, OrderEventType.CANCELED)

    assert (fill.qty, fill.price, fill.order.status) == (Decimal(2), Decimal(1500), OrderStatus.FILLED)
    assert fill.execution_id is not None and fill.execution_id.startswith(f"zerodha:{market.id}:")
    assert canceled.order.time_in_force is TimeInForce.IOC


def test_a_partly_filled_order_canceled_reports_its_fills_before_the_cancel(
    kite: KiteStandIn, broker: ZerodhaBroker, events: EventLog
) -> None:
    placed = broker.submit_order(order(qty="5"))
    trade = kite.execute(placed.id, Decimal(2), Decimal("1449.95"))
    broker.cancel_order(placed.id)

    canceled = events.wait_for(placed.id, OrderEventType.CANCELED)

    kinds = [e.type for e in events.of(placed.id)]
    assert kinds == [OrderEventType.NEW, OrderEventType.PARTIAL_FILL, OrderEventType.CANCELED]
    partial = events.of(placed.id, OrderEventType.PARTIAL_FILL)[0]
    assert partial.execution_id == execution_id(placed.id, trade)
    assert (canceled.order.filled_qty, canceled.order.filled_avg_price) == (Decimal(2), Decimal("1449.95"))


def test_an_ended_session_is_session_expired_and_stops_the_poller(kite: KiteStandIn, make_broker: MakeBroker) -> None:
    ended = threading.Event()
    broker = make_broker(on_session_expired=lambda error: ended.set())
    broker.start_updates()
    broker.get_account()

    kite.expire_sessions()

    with pytest.raises(SessionExpired, match="log in to Zerodha again"):
        broker.submit_order(order())
    assert ended.wait(5), "the poller reported the ended session"
    assert not broker.poller.running


def test_a_call_kite_does_not_answer_in_time_is_broker_unavailable(kite: KiteStandIn, make_broker: MakeBroker) -> None:
    broker = make_broker(timeout_s=0.2)
    broker.get_asset("NSE:INFY")
    kite.stall(0.5)
    try:
        with pytest.raises(BrokerUnavailable, match="did not answer in time"):
            broker.submit_order(order())
        with pytest.raises(BrokerUnavailable):
            broker.get_account()
    finally:
        kite.stall(0)


def test_kites_429_is_rate_limited_with_nothing_placed(kite: KiteStandIn, broker: ZerodhaBroker) -> None:
    placed = broker.submit_order(order())
    kite.rate_limit = 1
    try:
        broker.get_order(placed.id)
        with pytest.raises(RateLimited) as limited:
            broker.get_order(placed.id)
    finally:
        kite.rate_limit = 10
    assert limited.value.retry_after_s and "Too many requests" in str(limited.value)
    broker.cancel_order(placed.id)


def test_the_poller_reads_the_trade_book_only_when_something_filled(kite: KiteStandIn, broker: ZerodhaBroker) -> None:
    placed = broker.submit_order(order())
    broker.poller.poll_once()  # catches up with the fills of the module's earlier tests
    before = kite.count("GET", "/trades")
    for _ in range(3):
        broker.poller.poll_once()
    assert kite.count("GET", "/trades") == before

    kite.execute(placed.id, Decimal(1), Decimal(1450))
    broker.poller.poll_once()
    assert kite.count("GET", "/trades") == before + 1
    broker.cancel_order(placed.id)


def test_an_order_can_be_reported_again_under_the_same_execution_ids(
    kite: KiteStandIn, broker: ZerodhaBroker, events: EventLog
) -> None:
    placed = broker.submit_order(order())
    kite.execute(placed.id, Decimal(2), Decimal(1450))
    first = events.wait_for(placed.id, OrderEventType.FILL)

    broker.report_again(placed.id)

    again = events.wait_for(placed.id, OrderEventType.FILL, count=2)
    assert again.execution_id == first.execution_id and again.qty == first.qty


def test_a_handler_that_fails_does_not_stop_the_others(kite: KiteStandIn, broker: ZerodhaBroker) -> None:
    def broken(event: OrderEvent) -> None:
        raise RuntimeError("handler bug")

    log = EventLog()
    broker.add_event_handler(broken)
    broker.add_event_handler(log)
    broker.start_updates()
    placed = broker.submit_order(order(limit=None))

    log.wait_for(placed.id, OrderEventType.FILL)
    assert broker.poller.running


def test_positions_merge_delivery_holdings_with_todays_trades(kite: KiteStandIn, broker: ZerodhaBroker) -> None:
    kite.account.hold("NSE", "SBIN", 10, Decimal(700), t1=2)
    broker.submit_order(order("NSE:SBIN", qty="4", limit=None, side=OrderSide.SELL))

    sbin = next(p for p in broker.get_positions() if p.symbol == "NSE:SBIN")

    assert (sbin.qty, sbin.avg_entry_price, sbin.market_value) == (Decimal(8), Decimal(700), Decimal(8 * 800))


def test_the_asset_carries_kites_tick_lot_and_token(broker: ZerodhaBroker) -> None:
    asset = broker.get_asset("NSE:IDEA")

    assert (asset.symbol, asset.tradable, asset.fractionable) == ("NSE:IDEA", True, False)
    assert asset.extra | {"name": ""} == {
        "exchange": "NSE", "instrument_token": "3677697", "tick_size": "0.01", "lot_size": "1", "name": "",
        "product": "CNC",
    }  # fmt: skip
    with pytest.raises(BrokerRejected, match="cannot trade"):
        broker.get_asset("NSE:NOSUCH")


def test_a_retried_submit_under_the_same_client_order_id_is_not_placed_twice(
    kite: KiteStandIn, broker: ZerodhaBroker, make_broker: MakeBroker
) -> None:
    request = order()
    placed = broker.submit_order(request)
    before = placed_orders(kite)

    with pytest.raises(BrokerRejected, match=f"already has order {placed.id}"):
        make_broker().submit_order(request)  # even from another process's adapter: the check is Kite's book

    assert placed_orders(kite) == before
    broker.cancel_order(placed.id)


def test_shares_bought_today_count_in_the_equity_they_were_paid_from(kite: KiteStandIn, broker: ZerodhaBroker) -> None:
    before = broker.get_account()

    broker.submit_order(order("NSE:RELIANCE", qty="2", limit=None))  # fills at once at 2500

    after = broker.get_account()
    assert after.buying_power == before.buying_power - 5000
    assert after.equity == before.equity, "cash became shares worth the same at the last price"


def test_the_days_events_wait_for_the_first_handler_and_a_closed_broker_stays_closed(
    kite: KiteStandIn, broker: ZerodhaBroker, make_broker: MakeBroker
) -> None:
    placed = broker.submit_order(order(limit=None))  # filled before anyone listens
    late = make_broker()
    log = EventLog()

    late.add_event_handler(log)

    assert log.wait_for(placed.id, OrderEventType.FILL).execution_id
    late.close()
    late.add_event_handler(EventLog())
    assert not late.poller.running
