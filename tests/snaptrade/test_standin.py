"""The stand-in is as strict as SnapTrade: it refuses what SnapTrade refuses, with SnapTrade's codes, and its answers
are valid by the SDK's own response schemas (so the client is tested against SnapTrade's shapes, not ours)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pytest
from snaptrade_client.configuration import Configuration
from snaptrade_client.model.all_account_positions_response import AllAccountPositionsResponse
from snaptrade_client.model.all_user_accounts_response import AllUserAccountsResponse
from snaptrade_client.model.login_redirect_uri import LoginRedirectURI
from snaptrade_client.model.paginated_universal_activity import PaginatedUniversalActivity
from snaptrade_client.model.user_i_dand_secret import UserIDandSecret
from snaptrade_client.paths.authorizations.get import SchemaFor200ResponseBodyApplicationJson as Authorizations
from snaptrade_client.request_after_hook import compute_request_signature

from tests.snaptrade.standin import CLIENT_ID, CONSUMER_KEY, SnapTradeStandIn, activity, position, signature


def call(standin: SnapTradeStandIn, method: str, path: str, params: dict[str, str] | None = None, body: Any = None,
         *, key: str = CONSUMER_KEY, sign: bool = True, client_id: str = CLIENT_ID,
         timestamp: int | None = None) -> tuple[int, Any]:  # fmt: skip
    query = urlencode({"clientId": client_id, "timestamp": str(timestamp or int(time.time())), **(params or {})})
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{standin.host}{path}?{query}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if sign:
        request.add_header("Signature", signature(key, path, query, body))
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def registered(standin: SnapTradeStandIn, user_id: str = "trader-1") -> dict[str, str]:
    status, body = call(standin, "POST", "/snapTrade/registerUser", body={"userId": user_id})
    assert status == 200
    return {"userId": body["userId"], "userSecret": body["userSecret"]}


def test_the_sdk_signs_requests_as_snaptrade_documents_it():
    body = {"userId": "new_user_123"}
    query = "clientId=PASSIVTEST&timestamp=1635790389"
    assert compute_request_signature(f"/snapTrade/registerUser?{query}", CONSUMER_KEY, body) == signature(
        CONSUMER_KEY, "/snapTrade/registerUser", query, body
    )


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ({"sign": False}, (401, "1076")),
        ({"key": "someone-elses-key"}, (401, "1076")),
        ({"client_id": "NOT-OURS"}, (401, None)),
        ({"timestamp": int(time.time()) - 3600}, (401, None)),
    ],
    ids=["unsigned", "signed-with-another-key", "unknown-client-id", "an-hour-old-timestamp"],
)
def test_a_request_without_the_partners_valid_signature_is_refused(standin, how, expected):
    status, body = call(standin, "POST", "/snapTrade/registerUser", body={"userId": "u"}, **how)
    assert (status, body.get("code")) == expected
    assert standin.users == {}


def test_a_signed_request_changed_on_its_way_is_refused(standin):
    user = registered(standin)
    query = urlencode({"clientId": CLIENT_ID, "timestamp": str(int(time.time())), **user})
    forged = urllib.request.Request(f"{standin.host}/accounts/all?{query.replace('trader-1', 'trader-2')}")
    forged.add_header("Signature", signature(CONSUMER_KEY, "/accounts/all", query, None))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=5)
    assert refused.value.code == 401 and json.loads(refused.value.read())["code"] == "1076"


def test_user_endpoints_need_the_users_own_secret(standin):
    user = registered(standin)
    other = registered(standin, "trader-2")
    account = standin.account_of(standin.connect_brokerage(other["userId"]))

    assert call(standin, "GET", "/accounts/all")[0] == 401  # no user at all
    status, body = call(standin, "GET", "/accounts/all", {**user, "userSecret": other["userSecret"]})
    assert (status, body["code"], body["detail"]) == (401, "1083", "Invalid userID or userSecret provided")
    assert call(standin, "GET", f"/accounts/{account.id}/positions/all", user)[0] == 404  # not hers
    assert call(standin, "GET", f"/accounts/{account.id}/positions/all", other)[0] == 200


def test_the_answers_are_valid_by_the_sdks_own_schemas(standin):
    user = registered(standin)
    account = standin.account_of(standin.connect_brokerage(user["userId"]))
    account.positions = [position("AAPL", "10", "190.10", "187.50")]
    account.activities = [activity("SELL", units=-10, price=190.25), activity("DIVIDEND", symbol=None, units=0,
                                                                              price=0, amount=2.4)]  # fmt: skip
    configuration = Configuration()
    answers = [
        (UserIDandSecret, call(standin, "POST", "/snapTrade/registerUser", body={"userId": "trader-3"})),
        (LoginRedirectURI, call(standin, "POST", "/snapTrade/login", user, {"connectionType": "read"})),
        (Authorizations, call(standin, "GET", "/authorizations", user)),
        (AllUserAccountsResponse, call(standin, "GET", "/accounts/all", user)),
        (AllAccountPositionsResponse, call(standin, "GET", f"/accounts/{account.id}/positions/all", user)),
        (PaginatedUniversalActivity, call(standin, "GET", f"/accounts/{account.id}/activities", user)),
    ]
    for schema, (status, body) in answers:
        assert status == 200, (schema.__name__, body)
        schema.from_openapi_data_oapg(body, _configuration=configuration)  # raises on a shape the SDK rejects


def test_activities_are_paged_as_snaptrade_pages_them(standin):
    user = registered(standin)
    account = standin.account_of(standin.connect_brokerage(user["userId"]))
    account.activities = [activity("BUY", activity_id=f"t-{i}") for i in range(5)]

    status, page = call(standin, "GET", f"/accounts/{account.id}/activities", {**user, "offset": "3", "limit": "2"})

    assert status == 200 and [a["id"] for a in page["data"]] == ["t-3", "t-4"]
    assert page["pagination"] == {"offset": 3, "limit": 2, "total": 5}
    assert call(standin, "GET", f"/accounts/{account.id}/activities", {**user, "limit": "0"})[0] == 400
