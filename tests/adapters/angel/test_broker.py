"""AngelBroker against the stand-in: what it sends, what it refuses before sending, and how Angel's answers map."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from core.adapters.angel import convert, sdk
from core.adapters.angel.broker import AngelBroker
from core.adapters.angel.gate import RouteGate
from core.broker.errors import BrokerRejected, BrokerUnavailable, NotPlaced, RateLimited, SessionExpired
from core.domain.orders import (
    OrderClass,
    OrderEvent,
    OrderEventType,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from tests.adapters.angel.standin import AngelStandIn

GATE = RouteGate()  # one per stand-in user: brokers of one module share Angel's per-second limits


@pytest.fixture(scope="module")
def angel() -> Iterator[AngelStandIn]:
    with AngelStandIn() as standin:
        yield standin


def open_broker(angel: AngelStandIn, product: str = "CNC", timeout_s: float = 3.0) -> AngelBroker:
    jwt = angel._jwt or angel.issue_session()
    connect = sdk.new_connect(angel.api_key, root=angel.root, timeout_s=timeout_s, access_token=jwt)
    return AngelBroker(
        connect, client_code=angel.client_code, product=product, api_root=angel.root, timeout_s=timeout_s,
        gate=GATE, start_polling=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def broker(angel: AngelStandIn) -> Iterator[AngelBroker]:
    broker = open_broker(angel)
    yield broker
    broker.close()


def request(cid: str, symbol: str = "NSE:INFY", **fields: object) -> OrderRequest:
    values: dict[str, object] = {"qty": Decimal(2), "type": OrderType.LIMIT, "limit_price": Decimal("1400.05")}
    values.update(fields)
    return OrderRequest(cid, symbol, fields.pop("side", OrderSide.BUY), **values)  # type: ignore[arg-type]


def last_sent(angel: AngelStandIn, route: str = "place") -> dict[str, str]:
    body = [b for name, b in angel.requests if name == route][-1]
    return dict(json.loads(body))


def test_a_stop_sell_goes_as_angels_sl_m_on_bse_with_its_token_intraday_and_ioc(angel: AngelStandIn) -> None:
    broker = open_broker(angel, product="MIS")
    try:
        order = broker.submit_order(
            OrderRequest("stop-1", "BSE:INFY", OrderSide.SELL, Decimal(3), OrderType.STOP, TimeInForce.IOC,
                         stop_price=Decimal("1390.00"))
        )  # fmt: skip
    finally:
        broker.close()

    sent = last_sent(angel)
    assert {k: sent[k] for k in ("variety", "ordertype", "exchange", "symboltoken", "tradingsymbol")} == {
        "variety": "STOPLOSS", "ordertype": "STOPLOSS_MARKET", "exchange": "BSE", "symboltoken": "500209",
        "tradingsymbol": "INFY",
    }  # fmt: skip
    assert (sent["producttype"], sent["duration"], sent["transactiontype"]) == ("INTRADAY", "IOC", "SELL")
    assert (sent["price"], sent["triggerprice"], sent["quantity"]) == ("0", "1390", "3")
    assert sent["ordertag"] == convert.order_tag("stop-1")
    assert (order.status, order.stop_price, order.limit_price) == (OrderStatus.PENDING_NEW, Decimal("1390.00"), None)


def test_a_stop_limit_buy_goes_as_angels_sl_for_delivery(angel: AngelStandIn, broker: AngelBroker) -> None:
    broker.submit_order(
        request("sl-1", type=OrderType.STOP_LIMIT, limit_price=Decimal("1401.00"), stop_price=Decimal("1400.50"))
    )

    sent = last_sent(angel)
    assert (sent["variety"], sent["ordertype"], sent["producttype"]) == ("STOPLOSS", "STOPLOSS_LIMIT", "DELIVERY")
    assert (sent["price"], sent["triggerprice"], sent["tradingsymbol"]) == ("1401", "1400.5", "INFY-EQ")


@pytest.mark.parametrize(
    ("fields", "symbol", "message"),
    [
        ({"limit_price": Decimal("1400.03")}, "NSE:INFY", "not a multiple of its tick size 0.05; use 1400.05"),
        ({"type": OrderType.STOP, "stop_price": Decimal("1400.01")}, "NSE:INFY", "stop price 1400.01"),
        ({"qty": Decimal(100), "limit_price": Decimal(50)}, "BSE:ABCSME", "not a multiple of its lot size 1200"),
        ({}, "NSE:ZZZZQ", "NSE:ZZZZQ is not in the broker's instrument list"),
        ({}, "NYSE:IBM", "the exchange must be NSE or BSE"),
        ({"type": OrderType.LIMIT, "limit_price": None}, "NSE:INFY", "needs a limit price"),
    ],
)
def test_orders_the_exchange_would_refuse_are_refused_before_sending(
    angel: AngelStandIn, broker: AngelBroker, fields: dict[str, object], symbol: str, message: str
) -> None:
    before = angel.count("place")

    with pytest.raises(BrokerRejected, match=message):
        broker.submit_order(request("pre-1", symbol, **fields))

    assert angel.count("place") == before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"time_in_force": TimeInForce.GTC}, "day and IOC orders only, not GTC"),
        ({"order_class": OrderClass.BRACKET}, "simple orders only"),
        ({"extended_hours": True}, "no extended-hours orders"),
        ({"qty": Decimal("1.5")}, "whole shares only"),
    ],
)
def test_what_angels_api_does_not_take_is_not_placed(
    angel: AngelStandIn, broker: AngelBroker, fields: dict[str, object], message: str
) -> None:
    before = angel.count("place")

    with pytest.raises(NotPlaced, match=message):
        broker.submit_order(request("np-1", **fields))

    assert angel.count("place") == before


def test_a_client_order_id_is_found_again_by_a_restarted_adapter_through_its_tag(
    angel: AngelStandIn, broker: AngelBroker
) -> None:
    placed = broker.submit_order(request("restart-1"))
    with pytest.raises(BrokerRejected, match="already sent"):
        broker.submit_order(request("restart-1"))

    restarted = open_broker(angel)
    try:
        before_lookup = next(o for o in restarted.list_open_orders() if o.id == placed.id)
        found = restarted.get_order_by_client_id("restart-1")
        after_lookup = restarted.get_order(placed.id)
    finally:
        restarted.close()

    assert before_lookup.client_order_id == convert.order_tag("restart-1"), "an unknown tag stands for itself"
    assert (found.id, found.client_order_id, found.symbol) == (placed.id, "restart-1", "NSE:INFY")
    assert after_lookup.client_order_id == "restart-1"


def test_a_buy_beyond_the_funds_is_accepted_then_rejected_with_the_rms_reason(
    angel: AngelStandIn, broker: AngelBroker
) -> None:
    events: list[OrderEvent] = []
    broker.add_event_handler(events.append)
    try:
        order = broker.submit_order(request("rms-1", qty=Decimal(5000), limit_price=Decimal("1400")))
        broker.poll_now()
    finally:
        broker.remove_event_handler(events.append)

    mine = [e for e in events if e.order.id == order.id]
    assert [e.type for e in mine] == [OrderEventType.REJECTED], "no NEW for an order Angel never worked"
    assert mine[0].reason and "RMS:Margin Exceeds" in mine[0].reason
    assert mine[0].order.client_order_id == "rms-1"


def test_positions_merge_delivery_holdings_with_the_days_net_positions(
    angel: AngelStandIn, broker: AngelBroker
) -> None:
    angel.holdings = [
        {"tradingsymbol": "INFY-EQ", "exchange": "NSE", "symboltoken": "1594", "quantity": "8", "t1quantity": "2",
         "averageprice": "1400", "ltp": "1450", "product": "DELIVERY"},
        {"tradingsymbol": "RELIANCE-EQ", "exchange": "NSE", "symboltoken": "2885", "quantity": "4", "t1quantity": "0",
         "averageprice": "2500", "ltp": "2600", "product": "DELIVERY"},
    ]  # fmt: skip
    angel.positions = [
        {"tradingsymbol": "INFY-EQ", "exchange": "NSE", "producttype": "DELIVERY", "netqty": "5", "buyavgprice": "1500",
         "sellavgprice": "0", "avgnetprice": "1500", "ltp": "1450"},
        {"tradingsymbol": "SBIN-EQ", "exchange": "NSE", "producttype": "INTRADAY", "netqty": "-3", "buyavgprice": "0",
         "sellavgprice": "600", "avgnetprice": "600", "ltp": "598"},
        {"tradingsymbol": "RELIANCE-EQ", "exchange": "NSE", "producttype": "DELIVERY", "netqty": "-4",
         "buyavgprice": "0", "sellavgprice": "2610", "avgnetprice": "2610", "ltp": "2600"},
    ]  # fmt: skip
    try:
        positions = {p.symbol: p for p in broker.get_positions()}
    finally:
        angel.holdings, angel.positions = [], []

    assert set(positions) == {"NSE:INFY", "NSE:SBIN"}, "holdings sold today net to nothing"
    infy, sbin = positions["NSE:INFY"], positions["NSE:SBIN"]
    assert (infy.qty, infy.avg_entry_price.quantize(Decimal("0.01"))) == (Decimal(15), Decimal("1433.33"))
    assert infy.market_value == Decimal(15 * 1450)
    assert (sbin.qty, sbin.avg_entry_price) == (Decimal(-3), Decimal(600))


def test_the_asset_comes_from_the_master_with_its_tick_lot_and_token(broker: AngelBroker) -> None:
    asset = broker.get_asset("BSE:ABCSME")

    assert (asset.symbol, asset.tradable, asset.fractionable) == ("BSE:ABCSME", True, False)
    assert {k: asset.extra[k] for k in ("tick_size", "lot_size", "token")} == {
        "tick_size": "0.01", "lot_size": "1200", "token": "543210",
    }  # fmt: skip
    assert not asset.shortable, "delivery (CNC) cannot sell short"
    with pytest.raises(BrokerRejected, match="not in the broker's instrument list"):
        broker.get_asset("NSE:ZZZZQ")


def test_past_angels_limit_its_gateway_refusal_is_rate_limited(angel: AngelStandIn) -> None:
    connect = sdk.new_connect(angel.api_key, root=angel.root, timeout_s=3, access_token=angel._jwt)

    with pytest.raises(RateLimited, match="request limit"):
        for _ in range(3):  # no gate: the second read within a second is refused
            sdk.call("reading positions", connect.position)

    assert angel.refused_for_rate >= 1


def test_an_expired_session_is_session_expired_for_orders_and_reads() -> None:
    with AngelStandIn() as angel:
        broker = open_broker(angel)
        angel.expire_session()
        try:
            with pytest.raises(SessionExpired, match="log in"):
                broker.submit_order(request("exp-1"))
            with pytest.raises(SessionExpired):
                broker.list_open_orders()
        finally:
            broker.close()


def test_a_slow_answer_is_broker_unavailable_because_the_order_may_exist(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    with AngelStandIn() as angel:
        broker = open_broker(angel, timeout_s=0.2)
        angel.set_delay(0.5)
        try:
            with pytest.raises(BrokerUnavailable, match="did not answer in time"):
                broker.submit_order(request("slow-1"))
            with pytest.raises(BrokerUnavailable):
                broker.get_account()
        finally:
            angel.set_delay(0)
            broker.close()
        deadline = time.monotonic() + 3
        while not angel.count("place") or angel.order_ids() == []:  # the gave-up request is still processed
            assert time.monotonic() < deadline, "the slow order never reached the stand-in"
            time.sleep(0.02)
        assert [angel.order_row(i)["ordertag"] for i in angel.order_ids()] == [convert.order_tag("slow-1")]
    printed = caplog.text + "".join(capfd.readouterr())
    assert angel.api_key not in printed and str(angel._jwt) not in printed, "the SDK logs headers on failures"


def test_a_change_angel_would_refuse_is_refused_before_sending(angel: AngelStandIn, broker: AngelBroker) -> None:
    placed = broker.submit_order(request("mod-1", qty=Decimal(5)))
    angel.execute(placed.id, Decimal(3), Decimal("1400"))
    before = angel.count("modify")

    with pytest.raises(BrokerRejected, match="already filled 3; it cannot be cut to 2"):
        broker.modify_order(placed.id, qty=Decimal(2))
    with pytest.raises(BrokerRejected, match="tick size"):
        broker.modify_order(placed.id, limit_price=Decimal("1400.01"))
    with pytest.raises(BrokerRejected, match="has no stop"):
        broker.modify_order(placed.id, stop_price=Decimal("1399"))

    assert angel.count("modify") == before
