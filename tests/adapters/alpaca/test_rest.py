"""AlpacaBroker's REST side, through the real alpaca-py TradingClient, against the local stand-in."""

from __future__ import annotations

import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal

import pytest

from core.adapters.alpaca.broker import AlpacaBroker
from core.broker.errors import BrokerRejected, BrokerUnavailable, OrderNotFound, RateLimited
from core.broker.protocol import Broker
from core.domain.orders import OrderClass, OrderRequest, OrderSide, OrderStatus, OrderType, TimeInForce
from tests.alpaca_standin import AlpacaStandIn


@pytest.fixture
def broker(alpaca: AlpacaStandIn) -> AlpacaBroker:
    return AlpacaBroker(alpaca.key_id, alpaca.secret_key, url_override=alpaca.rest_url, timeout_s=3)


def market(client_id: str | None = None, qty: str = "10", side: OrderSide = OrderSide.BUY) -> OrderRequest:
    return OrderRequest(client_order_id=client_id or str(uuid.uuid4()), symbol="AAPL", side=side, qty=Decimal(qty))


def test_is_a_broker(broker: AlpacaBroker) -> None:
    assert isinstance(broker, Broker)
    assert broker.name == "alpaca"


def test_market_order_round_trip(broker: AlpacaBroker) -> None:
    submitted = broker.submit_order(market("cid-1", qty="2.5"))
    assert submitted.status is OrderStatus.PENDING_NEW  # Alpaca answers "accepted"; "new" follows as a trade update
    assert submitted.qty == Decimal("2.5")
    assert submitted.filled_qty == 0
    assert submitted.submitted_at.utcoffset() is not None
    fetched = broker.get_order(submitted.id)
    assert fetched == replace(submitted, status=OrderStatus.NEW, updated_at=fetched.updated_at)
    assert broker.get_order_by_client_id("cid-1").id == submitted.id


def test_limit_order_keeps_decimal_price(broker: AlpacaBroker) -> None:
    request = OrderRequest(
        client_order_id="lim",
        symbol="MSFT",
        side=OrderSide.SELL,
        qty=Decimal("3"),
        type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        limit_price=Decimal("412.37"),
    )
    order = broker.submit_order(request)
    assert (order.type, order.time_in_force, order.limit_price) == (OrderType.LIMIT, TimeInForce.GTC, Decimal("412.37"))
    assert order.side is OrderSide.SELL


def test_bracket_order_has_held_legs(broker: AlpacaBroker) -> None:
    request = OrderRequest(
        client_order_id="br",
        symbol="AAPL",
        side=OrderSide.BUY,
        qty=Decimal("5"),
        time_in_force=TimeInForce.GTC,
        order_class=OrderClass.BRACKET,
        take_profit_limit_price=Decimal("120"),
        stop_loss_stop_price=Decimal("90"),
    )
    order = broker.submit_order(request)
    assert order.order_class is OrderClass.BRACKET
    take_profit, stop_loss = order.legs
    assert (take_profit.type, take_profit.limit_price, take_profit.side) == (
        OrderType.LIMIT,
        Decimal("120"),
        OrderSide.SELL,
    )
    assert (stop_loss.type, stop_loss.stop_price) == (OrderType.STOP, Decimal("90"))
    assert {leg.status for leg in order.legs} == {OrderStatus.HELD}
    assert {leg.parent_id for leg in order.legs} == {order.id}
    assert broker.get_order(order.id).legs == order.legs


def test_list_open_orders_and_cancel(broker: AlpacaBroker, alpaca: AlpacaStandIn) -> None:
    first = broker.submit_order(market())
    second = broker.submit_order(market())
    filled = broker.submit_order(market())
    alpaca.fill(filled.id, price="100")
    assert {o.id for o in broker.list_open_orders()} == {first.id, second.id}
    broker.cancel_order(first.id)
    assert broker.get_order(first.id).status is OrderStatus.CANCELED
    assert [o.id for o in broker.list_open_orders()] == [second.id]
    with pytest.raises(BrokerRejected, match="not cancelable"):
        broker.cancel_order(filled.id)


def test_account_positions_clock_asset(broker: AlpacaBroker, alpaca: AlpacaStandIn) -> None:
    order = broker.submit_order(market(qty="10"))
    alpaca.fill(order.id, qty="4", price="101.25")
    account = broker.get_account()
    assert account.cash == Decimal("100000") - Decimal("405")
    assert account.status == "ACTIVE"
    (position,) = broker.get_positions()
    assert (position.symbol, position.qty, position.avg_entry_price) == ("AAPL", Decimal("4"), Decimal("101.25"))
    clock = broker.get_clock()
    assert clock.is_open and clock.next_close > clock.timestamp
    alpaca.add_asset("BRK.A", fractionable=False)
    asset = broker.get_asset("BRK.A")
    assert (asset.symbol, asset.tradable, asset.fractionable) == ("BRK.A", True, False)
    with pytest.raises(BrokerRejected):
        broker.get_asset("NOPE")


def test_duplicate_client_order_id_is_rejected(broker: AlpacaBroker) -> None:
    broker.submit_order(market("same"))
    with pytest.raises(BrokerRejected, match="client_order_id must be unique"):
        broker.submit_order(market("same"))


def test_insufficient_buying_power_is_rejected_with_alpacas_message(
    broker: AlpacaBroker, alpaca: AlpacaStandIn
) -> None:
    alpaca.inject_error(403, "insufficient buying power", code=40310000, route="POST /v2/orders")
    with pytest.raises(BrokerRejected, match="insufficient buying power"):
        broker.submit_order(market())


def test_unknown_orders_are_not_found(broker: AlpacaBroker) -> None:
    with pytest.raises(OrderNotFound):
        broker.get_order(str(uuid.uuid4()))
    with pytest.raises(OrderNotFound):
        broker.get_order("not-a-uuid")
    with pytest.raises(OrderNotFound):
        broker.get_order_by_client_id("never-sent")
    with pytest.raises(OrderNotFound):
        broker.cancel_order(str(uuid.uuid4()))


def test_rate_limit_maps_to_rate_limited_without_retrying(broker: AlpacaBroker, alpaca: AlpacaStandIn) -> None:
    alpaca.set_rate_limit(2)
    broker.get_clock()
    broker.get_clock()
    started = time.monotonic()
    with pytest.raises(RateLimited):
        broker.get_clock()
    assert time.monotonic() - started < 1.0  # alpaca-py's 3 x 3 s retry is off
    assert alpaca.request_count("GET /v2/clock") == 3


def test_server_errors_are_unavailable(broker: AlpacaBroker, alpaca: AlpacaStandIn) -> None:
    alpaca.inject_error(500, "internal error")
    with pytest.raises(BrokerUnavailable):
        broker.get_account()


def test_unreachable_server_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    broker = AlpacaBroker("k", "s", url_override=f"http://127.0.0.1:{port}", timeout_s=2)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        broker.get_account()
    assert time.monotonic() - started < 2.5


def test_slow_server_times_out(broker: AlpacaBroker, alpaca: AlpacaStandIn) -> None:
    slow = AlpacaBroker(alpaca.key_id, alpaca.secret_key, url_override=alpaca.rest_url, timeout_s=0.5)
    alpaca.set_response_delay(2)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="did not answer"):
        slow.get_clock()
    assert time.monotonic() - started < 1.5


def test_bad_credentials_are_rejected(alpaca: AlpacaStandIn) -> None:
    broker = AlpacaBroker("wrong", "keys", url_override=alpaca.rest_url, timeout_s=3)
    with pytest.raises(BrokerRejected, match="not authorized"):
        broker.get_account()


def test_concurrent_calls_from_worker_threads(broker: AlpacaBroker, alpaca: AlpacaStandIn) -> None:
    with ThreadPoolExecutor(max_workers=12) as pool:
        orders = list(pool.map(lambda i: broker.submit_order(market(f"c{i}")), range(24)))
    assert len({o.id for o in orders}) == 24
    assert alpaca.request_count("POST /v2/orders") == 24
    assert len(broker.list_open_orders()) == 24
