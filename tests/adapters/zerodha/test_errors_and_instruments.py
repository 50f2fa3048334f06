"""Kite's failures as broker errors, and its instrument master as an InstrumentBook cached per Indian day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from kiteconnect import exceptions as kite

from core.adapters.zerodha.client import RequestPacer
from core.adapters.zerodha.errors import translate_error
from core.adapters.zerodha.instruments import DailyInstrumentBook, parse_instruments
from core.broker.errors import (
    BrokerRejected,
    BrokerUnavailable,
    NotPlaced,
    OrderNotFound,
    RateLimited,
    SessionExpired,
)
from core.market.india import IndianExchange, InstrumentError


@pytest.mark.parametrize(
    ("error", "expected", "words"),
    [
        (kite.TokenException("Incorrect `api_key` or `access_token`.", 403), SessionExpired, "log in to Zerodha"),
        (kite.InputException("Tick size for this script is 0.05.", 400), BrokerRejected, "InputException"),
        (kite.OrderException("Order cannot be cancelled.", 400), BrokerRejected, "OrderException"),
        (kite.OrderException("Order cannot be cancelled.", 500), BrokerRejected, "OrderException"),
        (kite.GeneralException("Insufficient funds.", 400), BrokerRejected, "Insufficient funds"),  # MarginException
        (kite.GeneralException("Couldn't find that `order_id`.", 404), OrderNotFound, "order_id"),
        (kite.NetworkException("Too many requests", 429), RateLimited, "limiting"),
        (kite.NetworkException("OMS unreachable", 503), BrokerUnavailable, "order system"),
        (kite.DataException("Couldn't parse", 502), BrokerUnavailable, "order system"),
        (kite.GeneralException("boom", 500), BrokerUnavailable, "outcome is unknown"),
        (requests.exceptions.ReadTimeout("read timed out"), BrokerUnavailable, "did not answer in time"),
        (requests.exceptions.ConnectTimeout("connect timed out"), NotPlaced, "nothing was sent"),
        (requests.exceptions.ConnectionError("Connection aborted."), BrokerUnavailable, "outcome is unknown"),
        (KeyError("content-type"), BrokerUnavailable, "cannot read"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)
def test_kites_failures_become_broker_errors(error: BaseException, expected: type, words: str) -> None:
    translated = translate_error(error, "place the order")

    assert type(translated) is expected
    assert words in str(translated)


def test_a_rate_limit_says_when_to_retry() -> None:
    translated = translate_error(kite.NetworkException("Too many requests", 429), "read the order book")

    assert isinstance(translated, RateLimited) and translated.retry_after_s == 1.0


def test_a_refused_connection_is_not_placed() -> None:
    with pytest.raises(requests.exceptions.ConnectionError) as refused:
        requests.get("http://127.0.0.1:9/orders", timeout=1)

    assert isinstance(translate_error(refused.value, "place the order"), NotPlaced)


def test_the_pacer_holds_requests_to_kites_rate_and_refuses_rather_than_wait_too_long() -> None:
    now = [100.0]
    pacer = RequestPacer(per_second=2, clock=lambda: now[0])
    pacer.acquire("GET /orders", 0)
    pacer.acquire("GET /orders", 0)
    pacer.acquire("GET /trades", 0)  # another endpoint has its own budget

    with pytest.raises(RateLimited) as limited:
        pacer.acquire("GET /orders", 0.5)
    assert limited.value.retry_after_s == pytest.approx(1.0)
    now[0] += 1.01
    pacer.acquire("GET /orders", 0)


ROWS = [
    {"instrument_token": 408065, "exchange": "NSE", "tradingsymbol": "INFY", "name": "INFOSYS", "tick_size": 0.05,
     "lot_size": 1, "instrument_type": "EQ", "segment": "NSE"},
    {"instrument_token": 3677697, "exchange": "NSE", "tradingsymbol": "IDEA", "name": "VODAFONE IDEA",
     "tick_size": 0.01, "lot_size": 1, "instrument_type": "EQ", "segment": "NSE"},
    {"instrument_token": 128053508, "exchange": "BSE", "tradingsymbol": "INFY", "name": "INFOSYS", "tick_size": 0.05,
     "lot_size": 1, "instrument_type": "EQ", "segment": "BSE"},
    {"instrument_token": 12345602, "exchange": "NFO", "tradingsymbol": "INFY26DECFUT", "tick_size": 0.05,
     "lot_size": 400, "instrument_type": "FUT", "segment": "NFO-FUT"},
    {"instrument_token": 1, "exchange": "NSE", "tradingsymbol": "BROKEN", "tick_size": 0, "lot_size": 1,
     "instrument_type": "EQ"},
    {"instrument_token": 2, "exchange": "NSE", "tradingsymbol": "NIFTY 50", "tick_size": 0, "lot_size": 0,
     "instrument_type": "EQ"},
]  # fmt: skip


def test_the_instrument_master_keeps_nse_and_bse_equities_with_exact_ticks() -> None:
    book = parse_instruments(ROWS)

    assert len(book) == 3, "derivatives and malformed rows are left out"
    assert book.get("INFY").tick_size == Decimal("0.05"), "the SDK's float 0.05 reads back as exactly 0.05"
    assert book.get("NSE:IDEA").tick_size == Decimal("0.01")
    assert book.get("BSE:INFY").token == "128053508"
    assert book.by_token(IndianExchange.NSE, "408065").symbol.tradingsymbol == "INFY"
    with pytest.raises(InstrumentError):
        book.get("NFO:INFY26DECFUT")


def test_the_instrument_master_is_fetched_once_per_day_in_india() -> None:
    fetched: list[IndianExchange] = []
    now = [datetime(2026, 12, 8, 18, 0, tzinfo=UTC)]  # 23:30 in India

    def fetch(exchange: IndianExchange) -> list[dict[str, object]]:
        fetched.append(exchange)
        return [row for row in ROWS if row["exchange"] == exchange.value]

    daily = DailyInstrumentBook(fetch, lambda: now[0])
    daily.book()
    daily.book()
    assert fetched == [IndianExchange.NSE, IndianExchange.BSE]

    now[0] += timedelta(minutes=31)  # past midnight in India, though still the 8th in UTC
    daily.book()
    assert len(fetched) == 4
