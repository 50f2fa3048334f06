"""ICICI Direct's log-in for a broker link: the log-in page, trading its API session for a session, and what a
forged, foreign or expired session gets. The morning reset runs after the tests that share the module's stand-in:
it ends every session that stand-in issued."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from core.adapters.icici.link import IciciLink
from core.broker.errors import BrokerRejected, SessionExpired
from core.broker.links import Endpoints, link_adapter
from core.domain.orders import OrderEvent, OrderEventType, OrderRequest, OrderSide, OrderType
from tests.adapters.icici.conftest import CALL_TIMEOUT_S, POLL_INTERVAL_S
from tests.adapters.icici.standin import BreezeStandIn, BreezeState


def test_the_link_service_finds_the_icici_adapter_and_its_fields() -> None:
    adapter = link_adapter("icici")

    assert isinstance(adapter, IciciLink)
    assert [f.name for f in adapter.credential_fields] == ["api_key", "api_secret"]
    assert all(f.secret for f in adapter.credential_fields)


def test_the_login_page_is_icicis_with_the_api_key_quoted(link: IciciLink) -> None:
    url = link.login_url({"api_key": "ab+c=d/e"}, Endpoints())

    assert url == "https://api.icicidirect.com/apiuser/login?api_key=ab%2Bc%3Dd%2Fe"
    assert link.login_url({"api_key": "k"}, Endpoints(login_root="https://127.0.0.1:9/")) == (
        "https://127.0.0.1:9/apiuser/login?api_key=k"
    )


def test_the_redirects_api_session_becomes_the_sessions_secrets(
    link: IciciLink, breeze: BreezeStandIn, credentials: dict[str, str]
) -> None:
    api_session = breeze.issue_api_session()

    session = link.start_session(credentials, {"apisession": api_session}, Endpoints())

    assert (session["session_token"], session["user_id"]) == (api_session, breeze.state.user_id)
    assert session["session_date"]


def test_a_redirect_without_an_api_session_is_refused(link: IciciLink, credentials: dict[str, str]) -> None:
    with pytest.raises(BrokerRejected, match="did not return an API session"):
        link.start_session(credentials, {"state": "x"}, Endpoints())


def test_an_api_session_icici_never_issued_is_refused(link: IciciLink, credentials: dict[str, str]) -> None:
    with pytest.raises(SessionExpired, match="log in to ICICI Direct again"):
        link.start_session(credentials, {"apisession": "99999999"}, Endpoints())


def test_a_wrong_secret_is_caught_when_linking_not_at_the_first_order(
    link: IciciLink, breeze: BreezeStandIn, credentials: dict[str, str]
) -> None:
    """Breeze's log-in is not signed, so the SDK accepts any secret; the link signs one call to check it."""
    forged = credentials | {"api_secret": "not-the-secret"}

    with pytest.raises(BrokerRejected, match="secret key") as refused:
        link.start_session(forged, {"apisession": breeze.issue_api_session()}, Endpoints())

    assert "not-the-secret" not in str(refused.value)


def test_an_unknown_api_key_is_refused(link: IciciLink, breeze: BreezeStandIn, credentials: dict[str, str]) -> None:
    with pytest.raises(BrokerRejected, match="API key"):
        link.start_session(credentials | {"api_key": "NOPE"}, {"apisession": breeze.issue_api_session()}, Endpoints())


def test_the_link_service_reaches_the_stand_in_through_endpoints_and_the_environment(
    breeze: BreezeStandIn, credentials: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recipe for the link service's tests: ``link_adapter("icici")`` as the app builds it, the stand-in's proxy
    as ``Endpoints.api_root`` (the SDK's own addresses cannot move), the test CA and the data folder in the
    environment the broker host inherits."""
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "WEBSOCKET_CLIENT_CA_BUNDLE"):
        monkeypatch.setenv(name, str(breeze.certificates.ca_file))
    monkeypatch.setenv("STRATFORGE_DATA_DIR", str(tmp_path))
    adapter = link_adapter("icici")

    session = adapter.start_session(
        credentials, {"apisession": breeze.issue_api_session()}, Endpoints(api_root=breeze.proxy_url)
    )

    assert session["user_id"] == breeze.state.user_id
    assert (tmp_path / "brokers" / "icici" / "logs").is_dir(), "the SDK's logs/ went to the app's data folder"


def test_the_morning_reset_ends_the_session_and_its_api_session(
    link: IciciLink, breeze: BreezeStandIn, credentials: dict[str, str]
) -> None:
    api_session = breeze.issue_api_session()
    broker = link.open_broker(
        credentials, link.start_session(credentials, {"apisession": api_session}, Endpoints()), Endpoints()
    )
    try:
        broker.get_account()
        breeze.expire_sessions()

        with pytest.raises(SessionExpired, match="log in to ICICI Direct again"):
            broker.get_account()
    finally:
        broker.close()
    with pytest.raises(SessionExpired, match="expired"):
        link.start_session(credentials, {"apisession": api_session}, Endpoints())
    assert CALL_TIMEOUT_S > 0


def test_without_icicis_order_channel_fills_still_arrive_by_polling(
    tmp_path: Path, credentials: dict[str, str]
) -> None:
    with BreezeStandIn(tmp_path, BreezeState(rate_limit_per_minute=100_000), notifications=False) as quiet:
        link = IciciLink(work_dir=tmp_path / "data", env=quiet.host_env(), poll_interval_s=POLL_INTERVAL_S)
        broker = link.open_broker(credentials, {"session_token": quiet.issue_api_session()}, Endpoints())
        fills: list[OrderEvent] = []
        broker.add_event_handler(lambda event: fills.append(event) if event.type is OrderEventType.FILL else None)
        try:
            assert not broker.notifications_subscribed
            order = broker.submit_order(
                OrderRequest("poll-only-1", "NSE:INFY", OrderSide.BUY, Decimal("1"), OrderType.LIMIT,
                             limit_price=Decimal("1400.00"))
            )  # fmt: skip
            quiet.execute(order.id, 1, Decimal("1400.00"))
            deadline = time.monotonic() + 5
            while not fills and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            broker.close()
    assert [(e.order.id, e.qty) for e in fills] == [(order.id, Decimal("1"))]


def test_a_session_from_an_earlier_day_is_refused_without_starting_the_sdk(
    link: IciciLink, credentials: dict[str, str]
) -> None:
    stale = {"session_token": "12345678", "user_id": "TESTUSER", "session_date": "2026-01-02"}
    started = time.monotonic()

    with pytest.raises(SessionExpired, match="log in to ICICI Direct again"):
        link.open_broker(credentials, stale, Endpoints())

    assert time.monotonic() - started < 0.5
