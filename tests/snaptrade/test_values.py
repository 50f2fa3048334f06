"""SnapTrade's answers as our values (no network), and where the partner's API key comes from."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal

import keyring

from core.accounts.snaptrade_keys import (
    CLIENT_ID_ENTRY,
    CLIENT_ID_ENV,
    CONSUMER_KEY_ENTRY,
    CONSUMER_KEY_ENV,
    SnapTradeKeyStore,
)
from core.accounts.token_store import SERVICE
from core.adapters.snaptrade import convert
from core.adapters.snaptrade.errors import SnapTradeConnectionDisabled, SnapTradeUserInvalid, from_response
from tests.snaptrade.standin import activity

D = Decimal


def parsed(item: dict) -> dict:
    """As the client reads an answer: JSON's fractional numbers as Decimal."""
    return json.loads(json.dumps(item), parse_float=Decimal)


def test_money_and_quantities_are_exact_decimals_and_a_sell_is_positive():
    sell = convert.activity("acc", parsed(activity("SELL", units=-0.1, price=0.3, fee=-0.01)))
    assert (sell.kind, sell.side, sell.quantity, sell.price, sell.fee) == ("trade", "sell", D("0.1"), D("0.3"),
                                                                          D("0.01"))  # fmt: skip


def test_a_trade_without_its_trade_date_takes_the_settlement_date_and_a_bare_time_is_utc():
    item = activity("BUY", symbol="BRK-B")
    item["trade_date"], item["settlement_date"] = None, "2026-03-04T00:00:00"
    buy = convert.activity("acc", parsed(item))
    assert (buy.symbol, buy.executed_at) == ("BRK.B", datetime(2026, 3, 4, tzinfo=UTC))


def test_only_buys_and_sells_of_a_listed_security_are_trades():
    option = activity("BUY", symbol=None)
    option["option_symbol"] = {"ticker": "AAPL  260320C00200000"}
    kinds = {
        "REI": convert.activity("a", parsed(activity("REI"))),
        "DIVIDEND": convert.activity("a", parsed(activity("DIVIDEND"))),
        "option": convert.activity("a", parsed(option)),
        "no price": convert.activity("a", parsed(activity("BUY", price=0))),
        "no symbol": convert.activity("a", parsed(activity("SELL", symbol=None))),
        "no date": convert.activity("a", parsed(activity("BUY", when=""))),
    }
    assert {name: (a.kind, a.reason) for name, a in kinds.items()} == {
        "REI": ("other", "REI is not a trade"),
        "DIVIDEND": ("other", "DIVIDEND is not a trade"),
        "option": ("unusable", "option trades are not journaled yet"),
        "no price": ("unusable", "the trade has no price"),
        "no symbol": ("unusable", "symbol missing is not one StratForge can journal"),
        "no date": ("unusable", "the trade has no date"),
    }


def test_snaptrades_codes_become_the_traders_next_step():
    assert isinstance(from_response(401, {"detail": "Invalid userID or userSecret provided", "code": "1083"}),
                      SnapTradeUserInvalid)  # fmt: skip
    assert isinstance(from_response(403, {"default_detail": "x", "default_code": "3003"}), SnapTradeConnectionDisabled)
    limited = from_response(429, {"detail": "Too many requests"}, {"Retry-After": "12"})
    assert str(limited) == "SnapTrade's rate limit was reached; try again in 12 seconds."
    assert "still loading" in str(from_response(425, {"detail": "populating", "code": "3012"}))


def test_the_user_secret_is_blanked_in_request_lines_and_response_bodies_that_reach_the_log():
    from core.adapters.snaptrade.client import _RedactUserSecret

    lines = [
        (
            '%s "%s %s %s" %s',
            ("http://h", "GET", "/accounts/all?userId=u&userSecret=s3cr3t&clientId=C", "HTTP/1.1", 200),
        ),
        ("response body: %s", (b'{"userId": "u", "userSecret": "s3cr3t"}',)),
    ]
    for msg, args in lines:
        record = logging.LogRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1, msg, args, None)
        assert _RedactUserSecret().filter(record)
        assert "s3cr3t" not in record.getMessage() and "***" in record.getMessage()


def test_the_environment_wins_over_the_keyring_and_half_a_pair_does_not_count(keyring_backend):
    keyring.set_password(SERVICE, CLIENT_ID_ENTRY, "FROM-KEYRING")
    keyring.set_password(SERVICE, CONSUMER_KEY_ENTRY, "keyring-consumer-key")

    both = SnapTradeKeyStore({CLIENT_ID_ENV: "FROM-ENV", CONSUMER_KEY_ENV: "env-consumer-key"}).keys()
    half = SnapTradeKeyStore({CLIENT_ID_ENV: "FROM-ENV"}).keys()

    assert both is not None and (both.client_id, both.source) == ("FROM-ENV", "environment")
    assert half is not None and (half.client_id, half.consumer_key, half.source) == (
        "FROM-KEYRING", "keyring-consumer-key", "keyring")  # fmt: skip
    assert "consumer" not in repr(both)


def test_saved_keys_are_read_back_and_cleared(keyring_backend):
    store = SnapTradeKeyStore({})
    assert store.keys() is None
    store.save(" CLIENT-1 ", "consumer-key-1\n")
    saved = store.keys()
    assert saved is not None and (saved.client_id, saved.consumer_key) == ("CLIENT-1", "consumer-key-1")
    store.clear()
    assert store.keys() is None
