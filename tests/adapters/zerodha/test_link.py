"""Linking a Zerodha account: Kite's browser log-in, the request-token exchange, and the day's Broker."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from core.adapters.zerodha.broker import ZerodhaBroker
from core.adapters.zerodha.link import ZerodhaLink, session_expiry
from core.broker.errors import BrokerRejected, SessionExpired
from core.broker.links import Endpoints, link_adapter
from core.market.india import IST
from tests.adapters.zerodha.standin import KiteStandIn


@pytest.fixture
def endpoints(kite: KiteStandIn) -> Endpoints:
    return Endpoints(api_root=kite.url, login_root=kite.url)


@pytest.fixture
def credentials(kite: KiteStandIn) -> dict[str, str]:
    return {"api_key": kite.api_key, "api_secret": kite.api_secret}


def browser_log_in(url: str) -> dict[str, str]:
    """What the trader's browser brings back: the redirect's query parameters after logging in on Kite's page."""
    answer = requests.get(url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


def test_the_registry_names_the_zerodha_link() -> None:
    link = link_adapter("zerodha")

    assert isinstance(link, ZerodhaLink)
    assert link.broker == "zerodha" and link.display_name == "Zerodha (Kite Connect)"
    fields = {f.name: f for f in link.credential_fields}
    assert fields["api_secret"].secret and not fields["api_key"].secret and not fields["product"].secret


def test_the_production_log_in_page_is_kites_with_the_api_key() -> None:
    url = ZerodhaLink().login_url({"api_key": "abc123"}, Endpoints())

    assert url == "https://kite.zerodha.com/connect/login?api_key=abc123&v=3"


def test_a_browser_log_in_gives_a_session_that_opens_a_working_broker(
    credentials: dict[str, str], endpoints: Endpoints
) -> None:
    link = ZerodhaLink(timeout_s=2.0)
    answer = browser_log_in(link.login_url(credentials, endpoints) or "")

    session = link.start_session(credentials, answer, endpoints)

    assert session["user_id"] == "ZS1234" and session["access_token"]
    assert credentials["api_secret"] not in session.values()
    assert datetime.fromisoformat(session["expires_at"]).astimezone(IST).hour == 6
    broker = link.open_broker(credentials, session, endpoints)
    try:
        assert isinstance(broker, ZerodhaBroker) and broker.product == "CNC"
        assert broker.get_account().id == "ZS1234"
        assert not broker.poller.running, "no update is read before someone listens"
        broker.add_event_handler(lambda event: None)
        assert broker.poller.running
        assert session["access_token"] not in repr(broker)
    finally:
        broker.close()


def test_a_request_token_works_once(credentials: dict[str, str], endpoints: Endpoints) -> None:
    link = ZerodhaLink(timeout_s=2.0)
    answer = browser_log_in(link.login_url(credentials, endpoints) or "")
    link.start_session(credentials, answer, endpoints)

    with pytest.raises(BrokerRejected, match="Token is invalid or has expired"):
        link.start_session(credentials, answer, endpoints)


def test_a_forged_request_token_is_refused(credentials: dict[str, str], endpoints: Endpoints) -> None:
    with pytest.raises(BrokerRejected, match="log in again"):
        ZerodhaLink(timeout_s=2.0).start_session(credentials, {"request_token": "f" * 32}, endpoints)


def test_the_wrong_api_secret_is_refused_without_showing_it(kite: KiteStandIn, endpoints: Endpoints) -> None:
    wrong = {"api_key": kite.api_key, "api_secret": "not-the-secret-xyz"}

    with pytest.raises(BrokerRejected) as refused:
        ZerodhaLink(timeout_s=2.0).start_session(wrong, {"request_token": kite.issue_request_token()}, endpoints)

    assert "checksum" in str(refused.value) and "not-the-secret-xyz" not in str(refused.value)


@pytest.mark.parametrize(
    "answer", [{"status": "cancelled", "request_token": "abc"}, {"status": "success"}, {}], ids=str
)
def test_a_log_in_that_did_not_succeed_is_refused_before_calling_kite(
    kite: KiteStandIn, credentials: dict[str, str], endpoints: Endpoints, answer: dict[str, str]
) -> None:
    before = kite.count("POST", "/session/token")

    with pytest.raises(BrokerRejected, match="log in again"):
        ZerodhaLink().start_session(credentials, answer, endpoints)

    assert kite.count("POST", "/session/token") == before


def test_a_broker_cannot_open_without_a_session(credentials: dict[str, str], endpoints: Endpoints) -> None:
    with pytest.raises(SessionExpired, match="log in to Zerodha"):
        ZerodhaLink().open_broker(credentials, {}, endpoints)


def test_the_product_is_chosen_per_link(kite: KiteStandIn, credentials: dict[str, str], endpoints: Endpoints) -> None:
    session = {"access_token": kite.new_session(), "user_id": "ZS1234"}
    broker = ZerodhaLink().open_broker(credentials | {"product": "mis"}, session, endpoints)
    try:
        assert broker.product == "MIS"
    finally:
        broker.close()
    with pytest.raises(BrokerRejected, match="CNC or MIS"):
        ZerodhaLink().open_broker(credentials | {"product": "NRML"}, session, endpoints)


@pytest.mark.parametrize(
    ("logged_in", "ends"),
    [
        (datetime(2026, 12, 8, 10, 0, tzinfo=IST), datetime(2026, 12, 9, 6, 0, tzinfo=IST)),
        (datetime(2026, 12, 8, 5, 30, tzinfo=IST), datetime(2026, 12, 8, 6, 0, tzinfo=IST)),
        (datetime(2026, 12, 8, 6, 0, tzinfo=IST), datetime(2026, 12, 9, 6, 0, tzinfo=IST)),
    ],
)
def test_a_kite_session_ends_at_six_the_next_morning_in_india(logged_in: datetime, ends: datetime) -> None:
    assert session_expiry(logged_in.astimezone(UTC)) == ends


def test_no_secret_reaches_the_logs_or_the_errors(
    caplog: pytest.LogCaptureFixture, kite: KiteStandIn, credentials: dict[str, str], endpoints: Endpoints
) -> None:
    caplog.set_level("DEBUG")
    link = ZerodhaLink(timeout_s=2.0)
    session = link.start_session(credentials, {"request_token": kite.issue_request_token()}, endpoints)
    broker = link.open_broker(credentials, session, endpoints)
    errors: list[str] = []
    try:
        broker.add_event_handler(lambda event: None)
        broker.get_account()
        kite.expire_sessions()
        for call in (broker.get_account, broker.list_open_orders):
            try:
                call()
            except SessionExpired as exc:
                errors.append(str(exc))
    finally:
        broker.close()

    seen = caplog.text + " ".join(errors) + repr(broker)
    assert len(errors) == 2
    for secret in (session["access_token"], credentials["api_secret"]):
        assert secret not in seen
