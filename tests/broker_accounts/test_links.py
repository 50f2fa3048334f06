"""Linking a real broker account: sealed credentials, masked hints, one name per trader, the day's session."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from core.db.models import BrokerConnection
from core.services.broker_accounts import (
    BrokerAccountError,
    BrokerAccounts,
    LinkNotFound,
    LoginNeeded,
    mask,
    parse_login_answer,
)
from core.services.real_money_orders import RealMoneyOrders, RealOrderTicket
from tests.broker_accounts.conftest import SESSION_DAY, kite_fields, link_and_log_in
from tests.broker_accounts.standin import API_KEY, API_SECRET, CLIENT_CODE, GOOD_TOKEN, SimMarket


def test_a_linked_account_is_listed_as_real_money_with_masked_hints_only(links: BrokerAccounts, make_user) -> None:
    ada = make_user("ada")
    added = links.add(ada, "zerodha", "  Kite main ", kite_fields())
    [listed] = links.list(ada)
    assert listed == added and listed.label == "Kite main" and not listed.is_paper
    assert listed.hints == {
        "API key": "••••6789",
        "API secret": "••••MNOP",
        "Client code": CLIENT_CODE,
        "Product (CNC or MIS)": "CNC",
    }
    assert listed.state() == "Real money · not logged in"
    assert API_SECRET not in repr(listed) and API_KEY not in repr(listed)


def test_the_row_holds_no_credential_in_plain_text(db, links: BrokerAccounts, make_user) -> None:
    ada = make_user("ada")
    link_and_log_in(links, ada)
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM broker_connections")).mappings().one()
        dump = " ".join(str(v) for v in row.values()).encode() + bytes(row["credentials_encrypted"])
    for secret in (API_KEY, API_SECRET, "acc-"):
        assert secret.encode() not in dump


def test_a_short_secret_such_as_a_pin_is_never_hinted() -> None:
    assert mask("4821", secret=True) == "••••"
    assert mask("ZX1234", secret=False) == "ZX1234"


def test_a_second_account_of_the_same_name_is_refused_in_words(links: BrokerAccounts, make_user) -> None:
    ada = make_user("ada")
    links.add(ada, "zerodha", "Kite main", kite_fields())
    with pytest.raises(BrokerAccountError, match="already have an account named 'Kite main'"):
        links.add(ada, "zerodha", "Kite main", kite_fields())
    other = make_user("bob")
    links.add(other, "zerodha", "Kite main", kite_fields())  # names are per trader


def test_every_field_the_broker_asks_for_is_required(links: BrokerAccounts, make_user) -> None:
    ada = make_user("ada")
    with pytest.raises(BrokerAccountError, match="Enter the API secret"):
        links.add(ada, "zerodha", "Kite", kite_fields(api_secret="  "))
    with pytest.raises(BrokerAccountError, match="does not use pin"):
        links.add(ada, "zerodha", "Kite", {**kite_fields(), "pin": "1234"})
    with pytest.raises(BrokerAccountError, match="cannot link"):
        links.add(ada, "robinhood", "Kite", kite_fields())
    assert links.list(ada) == []


def test_a_field_the_broker_marks_optional_may_stay_empty(links: BrokerAccounts, make_user) -> None:
    ada = make_user("ada")
    account = links.add(ada, "zerodha", "Kite", kite_fields(product=""))
    assert [a.label for a in links.list(ada)] == [account.label]


def test_removing_a_link_deletes_its_row_and_secrets(db, links: BrokerAccounts, make_user) -> None:
    ada = make_user("ada")
    link = links.add(ada, "zerodha", "Kite main", kite_fields())
    links.remove(ada, link.id)
    assert links.list(ada) == []
    with db.session_factory() as s:
        assert s.scalar(select(BrokerConnection.id)) is None


def test_another_traders_link_cannot_be_opened_logged_into_or_removed(links: BrokerAccounts, make_user) -> None:
    ada, mallory = make_user("ada"), make_user("mallory")
    link = link_and_log_in(links, ada)
    for attempt in (
        lambda: links.open(mallory, link),
        lambda: links.login_url(mallory, link),
        lambda: links.log_in(mallory, link, {"request_token": GOOD_TOKEN}),
        lambda: links.remove(mallory, link),
    ):
        with pytest.raises(LinkNotFound):
            attempt()
    assert [a.id for a in links.list(ada)] == [link]


def test_sealed_credentials_copied_onto_another_traders_row_do_not_open(db, links: BrokerAccounts, make_user) -> None:
    ada, mallory = make_user("ada"), make_user("mallory")
    link = link_and_log_in(links, ada)
    decoy = links.add(mallory, "zerodha", "Kite main", kite_fields(api_key="mallorykey-00000000"))
    with db.engine.begin() as conn:  # an attacker with write access to the table moves the blob
        conn.execute(
            text(
                "UPDATE broker_connections SET credentials_encrypted = "
                "(SELECT credentials_encrypted FROM broker_connections WHERE id = :src), meta = "
                "(SELECT meta FROM broker_connections WHERE id = :src) WHERE id = :dst"
            ),
            {"src": link, "dst": decoy.id},
        )
    with pytest.raises(BrokerAccountError, match="belong to another link"):
        links.open(mallory, decoy.id)


def test_the_browser_log_in_names_the_accounts_api_key(links: BrokerAccounts, make_user) -> None:
    ada = make_user("ada")
    link = links.add(ada, "zerodha", "Kite main", kite_fields())
    assert links.login_url(ada, link.id) == f"https://kite.zerodha.com/connect/login?v=3&api_key={API_KEY}"


def test_the_session_is_sealed_and_reused_until_the_broker_ends_it(
    links: BrokerAccounts, orders: RealMoneyOrders, market: SimMarket, make_user
) -> None:
    ada = make_user("ada")
    link = link_and_log_in(links, ada)
    account = links.get(ada, link)
    assert account.logged_in and account.session_date == SESSION_DAY
    assert account.state() == f"Real money · logged in (session of {SESSION_DAY.isoformat()})"
    for _ in range(2):
        links.open(ada, link).close()
    assert market.sessions_started == 1 and market.brokers_opened == 2  # one log-in, its session reused

    market.end_sessions()  # the broker's morning
    ticket = RealOrderTicket.parse("NSE:INFY", "buy", "1", "limit", limit_price="1500")
    with pytest.raises(LoginNeeded, match="session for 'Kite main' has ended; log in again"):
        orders.preview(ada, link, ticket)
    ended = links.get(ada, link)
    assert ended.session_expired and not ended.logged_in
    assert ended.state() == "Real money · session ended: log in again"
    with pytest.raises(LoginNeeded, match="has ended"):
        links.open(ada, link)

    links.log_in(ada, link, parse_login_answer(f"https://127.0.0.1/kite?request_token={GOOD_TOKEN}&status=success"))
    assert links.get(ada, link).logged_in
    assert orders.preview(ada, link, ticket).account_label == "Kite main"


def test_a_link_never_logged_in_asks_for_a_log_in(links: BrokerAccounts, make_user) -> None:
    ada = make_user("ada")
    link = links.add(ada, "zerodha", "Kite main", kite_fields())
    with pytest.raises(LoginNeeded, match="Log in to Zerodha"):
        links.open(ada, link.id)


def test_a_refused_log_in_says_so_and_leaves_no_session(links: BrokerAccounts, market: SimMarket, make_user) -> None:
    ada = make_user("ada")
    link = links.add(ada, "zerodha", "Kite main", kite_fields())
    with pytest.raises(BrokerAccountError, match=r"Zerodha .* refused to log in: TokenException"):
        links.log_in(ada, link.id, {"request_token": "replayed-token"})
    assert not links.get(ada, link.id).logged_in and market.sessions_started == 0


@pytest.mark.parametrize(
    ("pasted", "answer"),
    [
        ("https://127.0.0.1/cb?request_token=abc&action=login&status=success",
         {"request_token": "abc", "action": "login", "status": "success"}),
        ("?apisession=123456", {"apisession": "123456"}),
        ("  7f3a9c  ", {"token": "7f3a9c", "request_token": "7f3a9c", "apisession": "7f3a9c"}),
        ("", {}),
    ],
)  # fmt: skip
def test_a_pasted_redirect_is_read_as_its_query_parameters(pasted: str, answer: dict[str, str]) -> None:
    assert parse_login_answer(pasted) == answer
