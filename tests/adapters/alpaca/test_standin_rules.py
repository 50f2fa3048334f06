"""The strict stand-in refuses what Alpaca refuses account-wide, and its faults behave as documented.

Every order goes through the real alpaca-py TradingClient; the stream side through AlpacaBroker's
trade-updates stream (alpaca-py's TradingStream underneath). Each rule is shown refusing with
Alpaca's exact status, code and message, next to the legal neighbour it must still accept.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass, OrderSide, OrderStatus, TimeInForce
from alpaca.trading.models import Order, TradeUpdate
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
    ReplaceOrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
)

from core.domain.orders import OrderEventType
from tests.alpaca_standin import AlpacaStandIn
from tests.event_recorder import DEADLINE_S, Recorder
from tests.ledger.helpers_alpaca import event_loop_thread, make_broker, streaming

FORBIDDEN = 403, 40310000
UNPROCESSABLE = 422, 42210000
WASH = "potential wash trade detected. use complex orders"
TIMEOUT_S = 5.0


@pytest.fixture
def client(alpaca: AlpacaStandIn) -> TradingClient:
    client = TradingClient(alpaca.key_id, alpaca.secret_key, paper=True, url_override=alpaca.rest_url)
    client._retry = 0  # a 429 must come back at once, not after 3 x 3 s of alpaca-py's retries
    return client


@pytest.fixture
def recorder(alpaca: AlpacaStandIn) -> Iterator[Recorder]:
    """Trade updates as AlpacaBroker's stream delivers them (connected before the test body runs)."""
    recorder = Recorder()
    broker = make_broker(alpaca)
    broker.add_event_handler(recorder)
    with event_loop_thread() as loop, streaming(broker, alpaca, loop):
        yield recorder


def market(side: OrderSide, qty: float = 10, symbol: str = "AAPL") -> MarketOrderRequest:
    return MarketOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force=TimeInForce.DAY)


def limit(side: OrderSide, price: float, qty: float = 10, symbol: str = "AAPL") -> LimitOrderRequest:
    return LimitOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force=TimeInForce.DAY, limit_price=price)


def refusal(client: TradingClient, request: OrderRequest) -> tuple[int, int, str]:
    with pytest.raises(APIError) as refused:
        client.submit_order(request)
    return refused.value.status_code, refused.value.code, refused.value.message


def holding(client: TradingClient, alpaca: AlpacaStandIn, qty: float, price: str = "100") -> None:
    """Open a position of ``qty`` (negative: short) AAPL shares, filled at ``price``."""
    order = client.submit_order(market(OrderSide.BUY if qty > 0 else OrderSide.SELL, abs(qty)))
    alpaca.fill(str(order.id), price=price)


# ---- what POST /v2/orders answers ----


def test_a_new_order_is_answered_accepted_with_an_empty_order_class_and_then_becomes_new(
    client: TradingClient, alpaca: AlpacaStandIn
) -> None:
    headers = {"APCA-API-KEY-ID": alpaca.key_id, "APCA-API-SECRET-KEY": alpaca.secret_key}
    body = {"symbol": "AAPL", "qty": "3", "side": "buy", "type": "market", "time_in_force": "day"}
    raw = requests.post(f"{alpaca.rest_url}/v2/orders", json=body, headers=headers, timeout=TIMEOUT_S).json()
    assert (raw["status"], raw["order_class"]) == ("accepted", "")
    parsed = Order(**raw)
    assert (parsed.status, parsed.order_class) == (OrderStatus.ACCEPTED, OrderClass.SIMPLE)
    assert client.get_order_by_id(parsed.id).status is OrderStatus.NEW
    assert [(e["event"], e["order"]["id"]) for e in alpaca.sent_events] == [("new", raw["id"])]


# ---- opposite-side opening orders ----


def test_an_opening_sell_is_refused_while_an_opening_buy_is_open(client: TradingClient) -> None:
    client.submit_order(limit(OrderSide.BUY, 99))
    assert refusal(client, limit(OrderSide.SELL, 101, qty=5)) == (
        *FORBIDDEN,
        "cannot open a short sell while a long buy order is open",
    )


def test_an_opening_buy_is_refused_while_an_opening_sell_is_open(client: TradingClient) -> None:
    client.submit_order(limit(OrderSide.SELL, 101))
    assert refusal(client, limit(OrderSide.BUY, 99)) == (
        *FORBIDDEN,
        "cannot open a long buy while a short sell order is open",
    )


def test_a_sell_that_only_closes_a_long_neither_blocks_nor_is_blocked_by_a_buy(
    client: TradingClient, alpaca: AlpacaStandIn
) -> None:
    holding(client, alpaca, 10)
    client.submit_order(limit(OrderSide.SELL, 110, qty=10))  # closes the long: opens nothing
    buy = client.submit_order(limit(OrderSide.BUY, 99, qty=5))  # adds to the long, below the sell: no wash
    assert buy.status is OrderStatus.ACCEPTED
    assert alpaca.rule_rejections()["opposite_side"] == 0


def test_a_buy_that_only_covers_a_short_is_accepted_while_a_short_sell_is_open(
    client: TradingClient, alpaca: AlpacaStandIn
) -> None:
    holding(client, alpaca, -10)
    client.submit_order(limit(OrderSide.SELL, 110, qty=5))  # adds to the short
    assert client.submit_order(limit(OrderSide.BUY, 99, qty=10)).status is OrderStatus.ACCEPTED


# ---- potential wash trades ----


def test_a_market_order_against_the_accounts_own_resting_limit_is_a_potential_wash_trade(
    client: TradingClient, alpaca: AlpacaStandIn
) -> None:
    holding(client, alpaca, 10)
    client.submit_order(limit(OrderSide.SELL, 110, qty=10))
    assert refusal(client, market(OrderSide.BUY, qty=1)) == (*FORBIDDEN, WASH)
    assert refusal(
        client,
        StopOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, stop_price=120),
    ) == (*FORBIDDEN, WASH)
    assert alpaca.rule_rejections()["wash_trade"] == 2


def test_limits_conflict_when_the_buy_is_at_or_above_the_sell(client: TradingClient, alpaca: AlpacaStandIn) -> None:
    holding(client, alpaca, 10)
    client.submit_order(limit(OrderSide.SELL, 110, qty=10))
    assert refusal(client, limit(OrderSide.BUY, 110, qty=1)) == (*FORBIDDEN, WASH)
    stop_limit = StopLimitOrderRequest(
        symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, stop_price=105, limit_price=110.5
    )
    assert refusal(client, stop_limit) == (*FORBIDDEN, WASH)  # a stop-limit is judged by its limit
    assert client.submit_order(limit(OrderSide.BUY, 109.99, qty=1)).status is OrderStatus.ACCEPTED


def test_a_resting_market_sell_conflicts_with_any_new_buy(client: TradingClient, alpaca: AlpacaStandIn) -> None:
    holding(client, alpaca, 10)
    client.submit_order(market(OrderSide.SELL, qty=4))
    assert refusal(client, limit(OrderSide.BUY, 1, qty=1)) == (*FORBIDDEN, WASH)


def test_a_bracket_order_and_a_brackets_resting_legs_are_exempt(client: TradingClient, alpaca: AlpacaStandIn) -> None:
    holding(client, alpaca, 10)
    client.submit_order(limit(OrderSide.SELL, 110, qty=10))
    bracket = client.submit_order(
        MarketOrderRequest(
            symbol="AAPL",
            qty=5,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            order_class=OrderClass.BRACKET,
            take_profit=TakeProfitRequest(limit_price=120),
            stop_loss=StopLossRequest(stop_price=90),
        )
    )
    assert bracket.status is OrderStatus.ACCEPTED
    alpaca.fill(str(bracket.id), price="100")  # its legs now work: a sell limit at 120 and a sell stop at 90
    assert {leg.status for leg in client.get_order_by_id(bracket.id).legs} == {OrderStatus.NEW}
    client.cancel_order_by_id(client.get_orders()[-1].id)  # the plain sell at 110 (oldest open order)
    assert client.submit_order(market(OrderSide.BUY, qty=1)).status is OrderStatus.ACCEPTED
    assert alpaca.rule_rejections()["wash_trade"] == 0


# ---- no crossing zero in one order ----


def test_a_sell_larger_than_the_long_is_refused_with_what_is_available(
    client: TradingClient, alpaca: AlpacaStandIn
) -> None:
    holding(client, alpaca, 10)
    assert refusal(client, market(OrderSide.SELL, qty=15)) == (
        *FORBIDDEN,
        "insufficient qty available for order (requested: 15, available: 10)",
    )
    client.submit_order(limit(OrderSide.SELL, 120, qty=4))
    assert refusal(client, limit(OrderSide.SELL, 121, qty=7)) == (
        *FORBIDDEN,
        "insufficient qty available for order (requested: 7, available: 6)",
    )
    assert client.submit_order(limit(OrderSide.SELL, 121, qty=6)).status is OrderStatus.ACCEPTED
    assert client.get_open_position("AAPL").qty_available == "0"
    assert alpaca.rule_rejections()["crossing_zero"] == 2


def test_a_buy_larger_than_the_short_is_refused(client: TradingClient, alpaca: AlpacaStandIn) -> None:
    holding(client, alpaca, -5)
    assert refusal(client, market(OrderSide.BUY, qty=8)) == (
        *FORBIDDEN,
        "insufficient qty available for order (requested: 8, available: 5)",
    )
    cover = client.submit_order(market(OrderSide.BUY, qty=5))
    alpaca.fill(str(cover.id), price="99")
    assert alpaca.positions() == {}


def test_a_bracket_legs_hold_the_position_they_protect(client: TradingClient, alpaca: AlpacaStandIn) -> None:
    bracket = client.submit_order(
        MarketOrderRequest(
            symbol="AAPL",
            qty=5,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            order_class=OrderClass.BRACKET,
            take_profit=TakeProfitRequest(limit_price=120),
            stop_loss=StopLossRequest(stop_price=90),
        )
    )
    alpaca.fill(str(bracket.id), price="100")
    assert refusal(client, market(OrderSide.SELL, qty=5)) == (
        *FORBIDDEN,
        "insufficient qty available for order (requested: 5, available: 0)",
    )


# ---- shorts ----


def test_whole_shares_of_a_shortable_easy_to_borrow_asset_can_be_sold_short(
    client: TradingClient, alpaca: AlpacaStandIn
) -> None:
    asset = client.get_asset("AAPL")
    assert asset.shortable and asset.easy_to_borrow
    short = client.submit_order(market(OrderSide.SELL, qty=5))
    alpaca.fill(str(short.id), price="100")
    position = client.get_open_position("AAPL")
    assert (position.qty, position.side.value) == ("-5", "short")
    assert alpaca.positions() == {"AAPL": Decimal("-5")}


def test_a_fractional_short_is_refused(client: TradingClient, alpaca: AlpacaStandIn) -> None:
    assert refusal(client, market(OrderSide.SELL, qty=1.5)) == (
        *FORBIDDEN,
        "fractional orders are not allowed to short",
    )
    assert alpaca.rule_rejections()["fractional_short"] == 1


def test_an_asset_that_is_not_shortable_or_not_easy_to_borrow_cannot_be_sold_short(
    client: TradingClient, alpaca: AlpacaStandIn
) -> None:
    alpaca.add_asset("NOSH", shortable=False, easy_to_borrow=False)
    alpaca.add_asset("HTB", easy_to_borrow=False)
    assert not client.get_asset("NOSH").shortable
    assert (client.get_asset("HTB").shortable, client.get_asset("HTB").easy_to_borrow) == (True, False)
    assert refusal(client, market(OrderSide.SELL, 1, "NOSH")) == (*FORBIDDEN, "asset NOSH cannot be sold short")
    assert refusal(client, market(OrderSide.SELL, 1, "HTB")) == (*FORBIDDEN, "asset HTB cannot be sold short")
    bought = client.submit_order(market(OrderSide.BUY, 2, "NOSH"))
    alpaca.fill(str(bought.id), price="10")
    assert client.submit_order(market(OrderSide.SELL, 2, "NOSH")).status is OrderStatus.ACCEPTED  # closes: allowed
    assert alpaca.rule_rejections()["short_not_allowed"] == 2


# ---- sub-penny prices ----


def test_prices_carry_pennies_at_or_above_one_dollar_and_hundredths_of_a_penny_below(
    client: TradingClient, alpaca: AlpacaStandIn
) -> None:
    assert client.submit_order(limit(OrderSide.BUY, 1.00, qty=1)).status is OrderStatus.ACCEPTED
    assert client.submit_order(limit(OrderSide.BUY, 1.23, qty=1)).status is OrderStatus.ACCEPTED
    assert client.submit_order(limit(OrderSide.BUY, 0.9999, qty=1)).status is OrderStatus.ACCEPTED
    assert refusal(client, limit(OrderSide.BUY, 1.234, qty=1)) == (
        *UNPROCESSABLE,
        "invalid limit_price 1.234. sub-penny increment does not fulfill minimum pricing criteria",
    )
    assert refusal(client, limit(OrderSide.BUY, 0.99995, qty=1)) == (
        *UNPROCESSABLE,
        "invalid limit_price 0.99995. sub-penny increment does not fulfill minimum pricing criteria",
    )
    stop = StopOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, stop_price=12.345)
    assert refusal(client, stop) == (
        *UNPROCESSABLE,
        "invalid stop_price 12.345. sub-penny increment does not fulfill minimum pricing criteria",
    )
    assert alpaca.rule_rejections()["sub_penny"] == 3


def test_a_brackets_leg_prices_are_judged_too(client: TradingClient) -> None:
    bracket = MarketOrderRequest(
        symbol="AAPL",
        qty=1,
        side=OrderSide.BUY,
        time_in_force=TimeInForce.GTC,
        order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=110.555),
        stop_loss=StopLossRequest(stop_price=90),
    )
    assert refusal(client, bracket) == (
        *UNPROCESSABLE,
        "invalid take_profit.limit_price 110.555. sub-penny increment does not fulfill minimum pricing criteria",
    )


# ---- the naive path, measured ----


def test_a_lenient_stand_in_accepts_what_alpaca_refuses_and_lets_a_fill_cross_zero() -> None:
    with AlpacaStandIn(strict=False) as alpaca:
        client = TradingClient(alpaca.key_id, alpaca.secret_key, paper=True, url_override=alpaca.rest_url)
        buy = client.submit_order(market(OrderSide.BUY, qty=10))
        sell = client.submit_order(market(OrderSide.SELL, qty=15))  # opposite side, wash trade and crossing zero
        alpaca.fill(str(buy.id), price="100")
        alpaca.fill(str(sell.id), price="101")
        assert alpaca.positions() == {"AAPL": Decimal("-5")}
        assert set(alpaca.rule_rejections().values()) == {0}


# ---- faults on demand ----


def test_a_rate_limit_storm_refuses_every_request_without_processing_it(
    client: TradingClient, alpaca: AlpacaStandIn
) -> None:
    cash = client.get_account().cash
    alpaca.rate_limit_storm(60)
    with pytest.raises(APIError) as limited:
        client.submit_order(market(OrderSide.BUY, qty=1))
    assert (limited.value.status_code, limited.value.code, limited.value.message) == (
        429,
        42910000,
        "rate limit exceeded",
    )
    headers = {"APCA-API-KEY-ID": alpaca.key_id, "APCA-API-SECRET-KEY": alpaca.secret_key}
    raw = requests.get(f"{alpaca.rest_url}/v2/account", headers=headers, timeout=TIMEOUT_S)
    assert raw.status_code == 429 and raw.json() == {"code": 42910000, "message": "rate limit exceeded"}
    assert raw.headers["X-RateLimit-Remaining"] == "0"
    assert int(raw.headers["X-RateLimit-Reset"]) > time.time()
    assert raw.headers["X-RateLimit-Limit"] == "200"
    assert alpaca.rate_limited_count == 2
    assert alpaca.rate_limited_counts == {"POST /v2/orders": 1, "GET /v2/account": 1}
    alpaca.end_rate_limit_storm()
    assert client.get_orders() == [] and alpaca.sent_events == []
    assert client.get_account().cash == cash


def test_a_rate_limit_storm_ends_by_itself(client: TradingClient, alpaca: AlpacaStandIn) -> None:
    alpaca.rate_limit_storm(0.3)
    with pytest.raises(APIError):
        client.get_clock()
    time.sleep(0.4)  # past the storm's end
    assert client.get_clock().is_open
    assert alpaca.rate_limited_count == 1


def test_a_rejection_after_acceptance_arrives_later(
    client: TradingClient, alpaca: AlpacaStandIn, recorder: Recorder
) -> None:
    alpaca.reject_next_orders(1, reason="not enough shares to borrow", delay_s=0.2)
    order = client.submit_order(market(OrderSide.BUY, qty=3))
    assert order.status is OrderStatus.ACCEPTED
    (rejected,) = recorder.wait_for(1)
    assert (rejected.type, rejected.order.id) == (OrderEventType.REJECTED, str(order.id))
    assert client.get_order_by_id(order.id).status is OrderStatus.REJECTED
    follower = client.submit_order(market(OrderSide.BUY, qty=1))  # only the next one was to be rejected
    recorder.wait_for(2)
    assert recorder.kinds() == ["rejected", "new"]
    assert recorder.events[1].order.id == str(follower.id)


def test_a_replaced_order_points_at_its_replacement_and_the_event_carries_the_old_order(
    client: TradingClient, alpaca: AlpacaStandIn
) -> None:
    old = client.submit_order(limit(OrderSide.BUY, 99, qty=10))
    new = client.replace_order_by_id(old.id, ReplaceOrderRequest(limit_price=98.5))
    assert (new.status, new.replaces, new.limit_price, new.qty) == (OrderStatus.ACCEPTED, old.id, "98.5", "10")
    replaced = client.get_order_by_id(old.id)
    assert (replaced.status, replaced.replaced_by) == (OrderStatus.REPLACED, new.id)
    assert replaced.replaced_at is not None
    events = [TradeUpdate(**e) for e in alpaca.sent_events]
    assert [(e.event, e.order.id) for e in events] == [("new", old.id), ("replaced", old.id), ("new", new.id)]
    assert (events[1].order.limit_price, events[1].order.replaced_by) == ("99", new.id)
    assert [o.id for o in client.get_orders()] == [new.id]


def test_a_replacement_is_judged_by_the_rules_and_a_refused_one_leaves_the_order_alone(
    client: TradingClient, alpaca: AlpacaStandIn
) -> None:
    holding(client, alpaca, 10)
    sell = client.submit_order(limit(OrderSide.SELL, 110, qty=10))
    with pytest.raises(APIError) as crossing:
        client.replace_order_by_id(sell.id, ReplaceOrderRequest(qty=12))
    assert (crossing.value.status_code, crossing.value.message) == (
        403,
        "insufficient qty available for order (requested: 12, available: 10)",
    )  # the order being replaced holds nothing for its own replacement
    with pytest.raises(APIError) as unchanged:
        client.replace_order_by_id(sell.id, ReplaceOrderRequest(limit_price=110))
    assert (unchanged.value.status_code, unchanged.value.message) == (403, "order parameters are not changed")
    assert client.get_order_by_id(sell.id).status is OrderStatus.NEW
    smaller = alpaca.replace(str(sell.id), qty="8")
    assert (smaller["qty"], smaller["replaces"]) == ("8", str(sell.id))


def test_a_replaced_stop_loss_stays_a_leg_of_its_bracket(client: TradingClient, alpaca: AlpacaStandIn) -> None:
    bracket = client.submit_order(
        MarketOrderRequest(
            symbol="AAPL",
            qty=5,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            order_class=OrderClass.BRACKET,
            take_profit=TakeProfitRequest(limit_price=120),
            stop_loss=StopLossRequest(stop_price=90),
        )
    )
    alpaca.fill(str(bracket.id), price="100")
    take_profit, stop_loss = client.get_order_by_id(bracket.id).legs
    raised = client.replace_order_by_id(stop_loss.id, ReplaceOrderRequest(stop_price=95))  # a trailing exit
    assert [leg.id for leg in client.get_order_by_id(bracket.id).legs] == [take_profit.id, raised.id]
    alpaca.fill(str(take_profit.id), price="120")
    assert client.get_order_by_id(raised.id).status is OrderStatus.CANCELED  # one-cancels-other still holds
    assert alpaca.positions() == {}


def test_events_during_a_stream_outage_are_lost_not_replayed(
    client: TradingClient, alpaca: AlpacaStandIn, recorder: Recorder
) -> None:
    order = client.submit_order(market(OrderSide.BUY, qty=10))
    recorder.wait_for(1)
    accepted_before = alpaca.connections_accepted
    with alpaca.stream_down():
        alpaca.fill(str(order.id), qty="4", price="100")
        deadline = time.monotonic() + DEADLINE_S
        while alpaca.stream_refusals == 0:  # alpaca-py retries after its backoff: it must be turned away
            assert time.monotonic() < deadline, "the client never tried to reconnect"
            time.sleep(0.05)
        assert alpaca.listener_count == 0
    assert alpaca.wait_for_listeners(1, DEADLINE_S, accepted_at_least=accepted_before + 1), "no reconnection"
    alpaca.fill(str(order.id), qty="6", price="101")
    recorder.wait_for(2)
    time.sleep(0.3)  # a replayed partial fill would have arrived by now
    assert recorder.kinds() == ["new", "fill"]
    assert recorder.events[1].order.filled_qty == Decimal("10")  # the partial fill happened, unheard
    assert [e["event"] for e in alpaca.lost_events] == ["partial_fill"]
    assert client.get_order_by_id(order.id).status is OrderStatus.FILLED
