"""Angel One's pure parts: the scrip master, statuses, tags, times, the error mapping, the rate gate and the TOTP."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from core.adapters.angel import convert, sdk
from core.adapters.angel.gate import RouteGate
from core.adapters.angel.instruments import PRODUCTION_MASTER_URL, MasterCache, master_url, parse_master
from core.adapters.angel.totp import TotpSeedError, totp_code
from core.broker.errors import (
    BrokerRejected,
    BrokerUnavailable,
    NotPlaced,
    OrderNotFound,
    RateLimited,
    SessionExpired,
)
from core.domain.orders import OrderStatus, OrderType, TimeInForce
from core.market.india import IST, IndianExchange, InstrumentError
from tests.adapters.angel.standin import MASTER

# ---- the scrip master ----


def test_the_master_keeps_nse_and_bse_cash_instruments_with_ticks_read_from_paise() -> None:
    book = parse_master(MASTER)

    infy = book.get("NSE:INFY")
    assert (infy.angel_symbol, infy.instrument.token, infy.instrument.tick_size) == ("INFY-EQ", "1594", Decimal("0.05"))
    assert book.get("NSE:RELIANCE").instrument.tick_size == Decimal("0.1")
    bse = book.get("BSE:INFY")
    assert (bse.angel_symbol, bse.instrument.token) == ("INFY", "500209")
    assert book.get("NSE:SBIETFQLTY-BE").angel_symbol == "SBIETFQLTY-BE", "a series other than EQ keeps its suffix"
    assert book.get("BSE:ABCSME").instrument.lot_size == 1200
    assert len(book) == 6, "the index and the NFO option are left out"


def test_a_bare_symbol_means_nse_and_an_unlisted_one_is_refused_in_a_traders_words() -> None:
    book = parse_master(MASTER)

    assert book.get("infy").instrument.symbol.exchange is IndianExchange.NSE
    with pytest.raises(InstrumentError, match="not in the broker's instrument list"):
        book.get("NSE:ZZZZQ")


def test_malformed_master_rows_are_skipped() -> None:
    rows: list[dict[str, Any]] = [
        {"token": "1", "symbol": "BAD-EQ", "lotsize": "1", "instrumenttype": "", "exch_seg": "NSE", "tick_size": "x"},
        {"token": "", "symbol": "NOTOK-EQ", "lotsize": "1", "instrumenttype": "", "exch_seg": "NSE", "tick_size": "5"},
        {"token": "2", "symbol": "ZERO-EQ", "lotsize": "1", "instrumenttype": "", "exch_seg": "NSE", "tick_size": "0"},
        MASTER[0],
    ]

    assert len(parse_master(rows)) == 1


def test_order_book_symbols_map_back_to_stratforge_symbols() -> None:
    book = parse_master(MASTER)

    assert book.symbol_for("NSE", "INFY-EQ") == "NSE:INFY"
    assert book.symbol_for("BSE", "INFY") == "BSE:INFY"
    assert book.symbol_for("NSE", "UNLISTED-EQ") == "NSE:UNLISTED"
    assert book.symbol_for("NFO", "NIFTY26DEC24000CE") == "NFO:NIFTY26DEC24000CE"


def test_the_master_is_downloaded_once_a_day_per_address() -> None:
    fetched: list[str] = []

    def fetch(url: str, timeout_s: float) -> list[dict[str, Any]]:
        fetched.append(url)
        return MASTER

    cache = MasterCache(fetch)
    morning = datetime(2026, 12, 8, 9, 0, tzinfo=IST)
    cache.get("http://a", morning)
    cache.get("http://a", morning + timedelta(hours=6))
    cache.get("http://b", morning)
    cache.get("http://a", morning + timedelta(days=1))

    assert fetched == ["http://a", "http://b", "http://a"]
    assert master_url(None) == PRODUCTION_MASTER_URL
    assert master_url("http://127.0.0.1:5/") == "http://127.0.0.1:5/OpenAPI_File/files/OpenAPIScripMaster.json"


# ---- statuses, tags, times ----


@pytest.mark.parametrize(
    ("text", "filled", "status"),
    [
        ("open", "0", OrderStatus.NEW),
        ("open", "3", OrderStatus.PARTIALLY_FILLED),
        ("trigger pending", "0", OrderStatus.NEW),
        ("modified", "0", OrderStatus.NEW),
        ("open pending", "0", OrderStatus.PENDING_NEW),
        ("validation pending", "0", OrderStatus.PENDING_NEW),
        ("put order req received", "0", OrderStatus.PENDING_NEW),
        ("cancel pending", "0", OrderStatus.PENDING_CANCEL),
        ("cancelled", "2", OrderStatus.CANCELED),
        ("rejected", "0", OrderStatus.REJECTED),
        ("complete", "5", OrderStatus.FILLED),
    ],
)
def test_angels_order_statuses_map_to_ours(text: str, filled: str, status: OrderStatus) -> None:
    assert convert.to_status({"orderstatus": text, "filledshares": filled}) is status


def test_the_order_tag_is_short_alphanumeric_and_stable_per_client_order_id() -> None:
    long_id = "a-very-long-client-order-id-0123456789-" * 3
    tag = convert.order_tag(long_id)

    assert tag == convert.order_tag(long_id)
    assert len(tag) < 20 and tag.isalnum() and tag.startswith("SF")
    assert convert.order_tag("cid-1") != convert.order_tag("cid-2")
    assert convert.is_our_tag(tag) and not convert.is_our_tag("MYTAG") and not convert.is_our_tag(None)


def test_a_stop_limit_row_reads_back_with_both_prices_and_india_time_as_utc() -> None:
    row = {
        "orderid": "261208000000007", "ordertype": "STOPLOSS_LIMIT", "transactiontype": "SELL", "duration": "IOC",
        "quantity": "5", "filledshares": "0", "averageprice": "0", "price": "99.90", "triggerprice": "100.00",
        "orderstatus": "trigger pending", "updatetime": "08-Dec-2026 10:15:03",
    }  # fmt: skip
    order = convert.to_broker_order(row, symbol="NSE:SBIN", client_order_id="c", now=datetime.now(UTC))

    assert (order.type, order.time_in_force, order.status) == (OrderType.STOP_LIMIT, TimeInForce.IOC, OrderStatus.NEW)
    assert (order.limit_price, order.stop_price, order.qty) == (Decimal("99.90"), Decimal("100.00"), Decimal(5))
    assert order.updated_at == datetime(2026, 12, 8, 4, 45, 3, tzinfo=UTC)


def test_execution_ids_carry_the_broker_name_the_order_and_the_exchange_trade() -> None:
    trade = {"orderid": "261208000000001", "fillid": "50005750"}

    assert convert.execution_id(trade) == "angel:261208000000001:50005750"


# ---- errors ----


@pytest.mark.parametrize("code", ["AG8001", "AG8002", "AG8003", "AB1010", "AB1011"])
def test_angels_token_and_session_codes_mean_log_in_again(code: str) -> None:
    error = sdk.translate_answer({"success": False, "message": "Invalid Token", "errorCode": code}, "reading funds")

    assert isinstance(error, SessionExpired) and code in str(error) and "log in" in str(error)


def test_angels_other_codes_map_to_refused_not_found_or_unknown_outcome() -> None:
    refused = sdk.translate_answer({"status": False, "message": "Invalid Product Type", "errorcode": "AB1012"}, "x")
    missing = sdk.translate_answer({"status": False, "message": "Order not found", "errorcode": "AB1013"}, "x")
    unknown = sdk.translate_answer({"status": False, "message": "Something Went Wrong", "errorcode": "AB1004"}, "x")

    assert isinstance(refused, BrokerRejected) and "AB1012" in str(refused)
    assert isinstance(missing, OrderNotFound)
    assert isinstance(unknown, BrokerUnavailable)


def test_network_failures_map_by_whether_the_request_left() -> None:
    assert isinstance(sdk.translate_exception(requests.ConnectTimeout(), "the order"), NotPlaced)
    assert isinstance(sdk.translate_exception(requests.ReadTimeout(), "the order"), BrokerUnavailable)
    assert isinstance(sdk.translate_exception(requests.ConnectionError(), "the order"), BrokerUnavailable)


def test_the_gateways_plain_text_rate_limit_is_rate_limited_and_other_unreadable_replies_are_unknown() -> None:
    class DataException(Exception):  # the SDK's class name is what the mapping reads
        pass

    limited = sdk.translate_exception(
        DataException("Couldn't parse the JSON response received from the server: b'Access denied because of "
                      "exceeding access rate'"), "reading the order book")  # fmt: skip
    html = sdk.translate_exception(DataException("Couldn't parse the JSON response: b'<html>502</html>'"), "x")

    assert isinstance(limited, RateLimited)
    assert isinstance(html, BrokerUnavailable) and "<html>" not in str(html)


# ---- the rate gate ----


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def test_the_gate_spaces_each_route_by_its_limit_and_refuses_a_wait_past_the_deadline() -> None:
    clock = FakeClock()
    gate = RouteGate({"orders": 1, "place": 20}, clock=clock, sleep=clock.sleep)

    gate.wait("orders", 5)
    gate.wait("orders", 5)
    gate.wait("place", 5)
    with pytest.raises(RateLimited) as refused:
        gate.wait("orders", 0.5)

    assert clock.slept == [1.06]
    assert refused.value.retry_after_s == pytest.approx(1.06)


# ---- TOTP ----


def test_the_totp_follows_rfc_6238_and_refuses_a_bad_seed_without_quoting_it() -> None:
    seed = base64.b32encode(b"12345678901234567890").decode()

    assert totp_code(seed, 59) == "287082"
    assert totp_code(seed.lower(), 1111111109) == "081804"
    with pytest.raises(TotpSeedError) as bad:
        totp_code("not base32 !!")
    assert "!!" not in str(bad.value)
