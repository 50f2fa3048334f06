"""Linking an Angel One account: the log-in with client code, PIN and TOTP, and what it never leaks or writes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.adapters.angel.link import SESSION_KEYS, AngelLink
from core.broker.errors import BrokerRejected, NotPlaced, SessionExpired
from core.broker.links import Endpoints, link_adapter
from tests.adapters.angel.standin import AngelStandIn


@pytest.fixture(scope="module")
def angel() -> Iterator[AngelStandIn]:
    with AngelStandIn() as standin:
        yield standin


def credentials(angel: AngelStandIn, **changes: str) -> dict[str, str]:
    values = {"api_key": angel.api_key, "client_code": angel.client_code, "pin": angel.pin}
    values["totp_seed"] = angel.totp_seed
    values.update(changes)
    return values


def test_the_link_service_finds_the_angel_link_and_it_needs_no_browser() -> None:
    link = link_adapter("angel")

    assert isinstance(link, AngelLink) and link.broker == "angel"
    assert link.login_url({}, Endpoints()) is None
    secret = {f.name: f.secret for f in link.credential_fields}
    assert secret == {"api_key": True, "client_code": False, "pin": True, "totp_seed": True, "product": False}


def test_the_log_in_with_the_stored_totp_seed_gives_a_session_that_opens_the_broker(
    angel: AngelStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    link, endpoints = AngelLink(timeout_s=3), Endpoints(api_root=angel.root)

    session = link.start_session(credentials(angel), {}, endpoints)
    broker = link.open_broker(credentials(angel), session, endpoints)
    try:
        account = broker.get_account()
    finally:
        broker.close()

    assert tuple(session) == SESSION_KEYS and session["client_code"] == angel.client_code
    assert account.id == angel.client_code
    assert list(tmp_path.iterdir()) == [], "the SDK's log folder is not created in the current directory"


def test_a_typed_code_logs_in_when_no_seed_is_stored(angel: AngelStandIn) -> None:
    session = AngelLink(timeout_s=3).start_session(
        credentials(angel, totp_seed=""), {"totp": angel.totp_now()}, Endpoints(api_root=angel.root)
    )

    assert session["jwt_token"]


def test_a_wrong_pin_and_a_wrong_code_are_refused_with_angels_codes_and_no_secret_anywhere(
    angel: AngelStandIn, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    link, endpoints = AngelLink(timeout_s=3), Endpoints(api_root=angel.root)
    wrong_code = f"{(int(angel.totp_now()) + 500_000) % 1_000_000:06d}"

    with pytest.raises(BrokerRejected) as bad_pin:
        link.start_session(credentials(angel, pin="9999"), {}, endpoints)
    with pytest.raises(BrokerRejected) as bad_code:
        link.start_session(credentials(angel, totp_seed=""), {"totp": wrong_code}, endpoints)

    assert "AB1007" in str(bad_pin.value) and "PIN" in str(bad_pin.value)
    assert "AB1050" in str(bad_code.value) and "TOTP" in str(bad_code.value)
    seen = caplog.text + "".join(capfd.readouterr()) + str(bad_pin.value) + str(bad_code.value)
    for secret in (angel.api_key, angel.pin, "9999", angel.totp_seed, wrong_code):
        assert secret not in seen


def test_the_log_in_is_refused_before_sending_without_a_code_or_with_a_malformed_one(angel: AngelStandIn) -> None:
    link, endpoints = AngelLink(timeout_s=3), Endpoints(api_root=angel.root)
    before = angel.count("login")

    with pytest.raises(BrokerRejected, match="6-digit code"):
        link.start_session(credentials(angel, totp_seed=""), {}, endpoints)
    with pytest.raises(BrokerRejected, match="6 digits"):
        link.start_session(credentials(angel), {"totp": "12ab56"}, endpoints)
    with pytest.raises(BrokerRejected, match="not valid"):
        link.start_session(credentials(angel, totp_seed="@@@@"), {}, endpoints)

    assert angel.count("login") == before


def test_a_broker_needs_a_session_and_a_known_product(angel: AngelStandIn) -> None:
    link, endpoints = AngelLink(timeout_s=3), Endpoints(api_root=angel.root)

    with pytest.raises(NotPlaced, match="log in"):
        link.open_broker(credentials(angel), {}, endpoints)
    with pytest.raises(BrokerRejected, match="CNC or MIS"):
        link.open_broker(credentials(angel, product="BO"), {"jwt_token": "x"}, endpoints)


def test_a_forged_or_expired_session_token_means_log_in_again(angel: AngelStandIn) -> None:
    link, endpoints = AngelLink(timeout_s=3), Endpoints(api_root=angel.root)
    broker = link.open_broker(credentials(angel), {"jwt_token": "eyJforged", "client_code": "A1234567"}, endpoints)
    try:
        with pytest.raises(SessionExpired, match="log in to Angel One again"):
            broker.get_account()
    finally:
        broker.close()
