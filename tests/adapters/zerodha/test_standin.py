"""The Kite stand-in is as strict as Kite: raw HTTP requests, not the SDK, so nothing is forgiven on the way."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import requests

from tests.adapters.zerodha.standin import KiteStandIn


def call(kite: KiteStandIn, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
    headers = {"X-Kite-Version": "3"}
    if token is not None:
        headers["Authorization"] = f"token {kite.api_key}:{token}"
    headers |= kwargs.pop("headers", {})
    return requests.request(method, kite.url + path, headers=headers, timeout=5, **kwargs)


def error_of(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()
    assert body["status"] == "error"
    return response.status_code, body["error_type"], body["message"]


def test_no_token_a_forged_token_and_an_expired_one_are_kites_token_error(kite: KiteStandIn) -> None:
    assert error_of(call(kite, "GET", "/orders"))[:2] == (403, "TokenException")
    assert error_of(call(kite, "GET", "/orders", token="forged"))[:2] == (403, "TokenException")
    other = KiteStandIn()
    assert error_of(call(kite, "GET", "/orders", token=other.new_session()))[:2] == (403, "TokenException")


def test_a_request_without_kites_version_header_is_refused(kite: KiteStandIn) -> None:
    response = call(kite, "GET", "/orders", token=kite.new_session(), headers={"X-Kite-Version": ""})

    assert error_of(response)[:2] == (400, "InputException")


def test_the_session_exchange_checks_the_checksum_and_burns_the_request_token(kite: KiteStandIn) -> None:
    token = kite.issue_request_token()
    good = hashlib.sha256((kite.api_key + token + kite.api_secret).encode()).hexdigest()
    wrong = hashlib.sha256((kite.api_key + token + "guess").encode()).hexdigest()

    refused = call(kite, "POST", "/session/token", data={"api_key": kite.api_key, "request_token": token,
                                                         "checksum": wrong})  # fmt: skip
    replayed = call(kite, "POST", "/session/token", data={"api_key": kite.api_key, "request_token": token,
                                                          "checksum": good})  # fmt: skip

    assert error_of(refused) == (403, "TokenException", "Invalid `checksum`.")
    assert error_of(replayed) == (403, "TokenException", "Token is invalid or has expired.")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"price": "1450.03"}, "Tick size for this script is 0.05"),
        ({"price": "1000"}, "lower than the current lower circuit limit of 1200.00"),
        ({"tradingsymbol": "NOSUCH"}, "Invalid `tradingsymbol`."),
        ({"tag": "x" * 21}, "Invalid `tag`"),
        ({"quantity": "0"}, "Invalid `quantity`."),
    ],
)
def test_an_order_kite_refuses_is_an_input_exception(kite: KiteStandIn, form: dict[str, str], message: str) -> None:
    base = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": "1",
            "product": "CNC", "order_type": "LIMIT", "validity": "DAY", "price": "1450"}  # fmt: skip

    response = call(kite, "POST", "/orders/regular", token=kite.new_session(), data=base | form)

    status, kind, text = error_of(response)
    assert (status, kind) == (400, "InputException") and message in text


def test_a_completed_order_cannot_be_changed_or_canceled(kite: KiteStandIn) -> None:
    token = kite.new_session()
    placed = call(kite, "POST", "/orders/regular", token=token, data={
        "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": "1", "product": "CNC",
        "order_type": "MARKET", "validity": "DAY"}).json()["data"]["order_id"]  # fmt: skip

    modify = call(kite, "PUT", f"/orders/regular/{placed}", token=token, data={"quantity": "2"})
    cancel = call(kite, "DELETE", f"/orders/regular/{placed}", token=token)

    assert error_of(modify)[:2] == (400, "OrderException")
    assert error_of(cancel)[:2] == (400, "OrderException")


def test_more_than_the_rate_limit_in_a_second_is_answered_429(kite: KiteStandIn) -> None:
    token = kite.new_session()
    kite.rate_limit = 3
    try:
        answers = [call(kite, "GET", "/user/profile", token=token).status_code for _ in range(4)]
    finally:
        kite.rate_limit = 10
    assert answers == [200, 200, 200, 429]


def test_the_instrument_master_is_a_csv(kite: KiteStandIn) -> None:
    response = call(kite, "GET", "/instruments/NSE", token=kite.new_session())

    assert response.headers["Content-Type"] == "text/csv"
    header, *rows = response.text.strip().splitlines()
    assert header.startswith("instrument_token,exchange_token,tradingsymbol")
    assert rows and all(row.endswith(",NSE") for row in rows)
