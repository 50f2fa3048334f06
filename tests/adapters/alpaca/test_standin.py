"""The stand-in itself: alpaca-py's own models accept what it sends, and its knobs do what they say."""

from __future__ import annotations

import asyncio
import json

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass, OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.models import TradeUpdate
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
)
from websockets.asyncio.client import connect

from tests.alpaca_standin import AlpacaStandIn

TIMEOUT_S = 5.0


@pytest.fixture
def client(alpaca: AlpacaStandIn) -> TradingClient:
    """alpaca-py with its pydantic models on, to prove the JSON is shaped as Alpaca's."""
    client = TradingClient(alpaca.key_id, alpaca.secret_key, paper=True, url_override=alpaca.rest_url)
    client._retry = 0  # no 3 x 3 s sleeps on 429 in tests
    return client


def test_models_parse_orders_account_positions_clock_asset(client: TradingClient, alpaca: AlpacaStandIn) -> None:
    order = client.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    assert order.status is OrderStatus.ACCEPTED  # as Alpaca answers a new order; "new" follows on the stream
    alpaca.fill(str(order.id), qty="10", price="150.5")
    assert client.get_order_by_id(order.id).status is OrderStatus.FILLED
    assert client.get_account().cash == "98495"
    (position,) = client.get_all_positions()
    assert (position.symbol, position.qty, position.avg_entry_price) == ("AAPL", "10", "150.5")
    assert client.get_open_position("AAPL").qty == "10"
    assert client.get_clock().is_open
    assert client.get_asset("MSFT").fractionable
    client.submit_order(
        LimitOrderRequest(symbol="MSFT", qty=1, side=OrderSide.SELL, time_in_force=TimeInForce.GTC, limit_price=400)
    )
    assert len(client.cancel_orders()) == 1


def test_bracket_legs_nested_or_flat(client: TradingClient, alpaca: AlpacaStandIn) -> None:
    parent = client.submit_order(
        MarketOrderRequest(
            symbol="AAPL",
            qty=2,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            order_class=OrderClass.BRACKET,
            take_profit=TakeProfitRequest(limit_price=110),
            stop_loss=StopLossRequest(stop_price=95, limit_price=94.5),
        )
    )
    assert [leg.status for leg in parent.legs] == [OrderStatus.HELD, OrderStatus.HELD]
    assert parent.legs[1].limit_price == "94.5"
    nested = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN, nested=True))
    flat = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))
    assert [o.id for o in nested] == [parent.id]
    assert len(flat) == 3
    client.cancel_order_by_id(parent.id)
    assert {leg.status for leg in client.get_order_by_id(parent.id).legs} == {OrderStatus.CANCELED}


def test_rate_limit_answers_429_with_headers(alpaca: AlpacaStandIn) -> None:
    alpaca.set_rate_limit(1)
    headers = {"APCA-API-KEY-ID": alpaca.key_id, "APCA-API-SECRET-KEY": alpaca.secret_key}
    ok = requests.get(f"{alpaca.rest_url}/v2/clock", headers=headers, timeout=TIMEOUT_S)
    limited = requests.get(f"{alpaca.rest_url}/v2/clock", headers=headers, timeout=TIMEOUT_S)
    assert ok.status_code == 200 and ok.headers["X-RateLimit-Remaining"] == "0"
    assert limited.status_code == 429
    assert limited.json()["code"] == 42910000
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(limited.headers)
    assert alpaca.request_count("GET /v2/clock") == 2


def test_errors_are_alpaca_json(client: TradingClient, alpaca: AlpacaStandIn) -> None:
    request = MarketOrderRequest(
        symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, client_order_id="x"
    )
    client.submit_order(request)
    with pytest.raises(APIError) as duplicate:
        client.submit_order(request)
    assert duplicate.value.status_code == 422
    assert duplicate.value.message == "client_order_id must be unique"
    with pytest.raises(APIError) as missing:
        client.get_order_by_client_id("nope")
    assert missing.value.status_code == 404
    unauthorized = requests.get(f"{alpaca.rest_url}/v2/account", timeout=TIMEOUT_S)
    assert unauthorized.status_code == 401 and "message" in unauthorized.json()


def test_stream_handshake_and_trade_update_shape(alpaca: AlpacaStandIn) -> None:
    async def session() -> tuple[list[dict], dict]:
        async with connect(alpaca.stream_url, open_timeout=TIMEOUT_S) as ws:
            await ws.send(
                json.dumps(
                    {"action": "authenticate", "data": {"key_id": alpaca.key_id, "secret_key": alpaca.secret_key}}
                )
            )
            replies = [json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))]
            await ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
            replies.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S)))
            order = await asyncio.to_thread(
                alpaca.account.submit, {"symbol": "AAPL", "qty": 3, "side": "buy", "type": "market"}
            )
            await asyncio.to_thread(alpaca.fill, order["id"], "1", "10")
            await asyncio.wait_for(ws.recv(), TIMEOUT_S)  # "new"
            return replies, json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))

    replies, message = asyncio.run(session())
    assert replies[0] == {"stream": "authorization", "data": {"action": "authenticate", "status": "authorized"}}
    assert replies[1]["stream"] == "listening"
    assert message["stream"] == "trade_updates"
    update = TradeUpdate(**message["data"])
    assert (update.event, update.qty, update.price, update.position_qty) == ("partial_fill", 1.0, 10.0, 1.0)
    assert update.order.filled_qty == "1"


def test_stream_refuses_bad_keys(alpaca: AlpacaStandIn) -> None:
    async def session() -> dict:
        async with connect(alpaca.stream_url, open_timeout=TIMEOUT_S) as ws:
            await ws.send(json.dumps({"action": "authenticate", "data": {"key_id": "x", "secret_key": "y"}}))
            return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))

    assert asyncio.run(session())["data"]["status"] == "unauthorized"
    assert alpaca.listener_count == 0
