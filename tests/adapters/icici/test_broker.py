"""IciciBroker over the real breeze_connect in its broker host, against the Breeze stand-in: what the conformance
suite does not cover (refusals before sending, tags, BSE, order types, positions, deadlines, limits, the host)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.adapters.icici import convert
from core.adapters.icici.broker import IciciBroker
from core.adapters.icici.host_process import BreezeHost, HostConfig
from core.adapters.icici.link import IciciLink
from core.broker.errors import BrokerRejected, BrokerUnavailable, NotPlaced, RateLimited
from core.broker.links import Endpoints
from core.domain.orders import (
    OrderClass,
    OrderEvent,
    OrderEventType,
    OrderRequest,
    OrderSide,
    OrderType,
    TimeInForce,
)
from tests.adapters.icici.conftest import CALL_TIMEOUT_S
from tests.adapters.icici.standin import BreezeStandIn

_ids = iter(range(1, 1_000_000))


def request(symbol: str = "NSE:INFY", **overrides: object) -> OrderRequest:
    base: dict[str, object] = {
        "client_order_id": f"icici-test-{next(_ids)}-{time.monotonic_ns()}",
        "symbol": symbol,
        "side": OrderSide.BUY,
        "qty": Decimal("2"),
        "type": OrderType.LIMIT,
        "limit_price": Decimal("1400.05"),
    }
    return OrderRequest(**(base | overrides))  # type: ignore[arg-type]


def posted_orders(breeze: BreezeStandIn) -> int:
    return sum(1 for _, method, path in breeze.requests if method == "POST" and path.endswith("/order"))


@pytest.fixture(scope="module")
def second_session(breeze: BreezeStandIn, link: IciciLink, credentials: dict[str, str]) -> Iterator[IciciBroker]:
    """A second session on the same account, as after a restart: it never saw the first one's orders placed."""
    opened = link.open_broker(credentials, {"session_token": breeze.issue_api_session()}, Endpoints())
    try:
        yield opened
    finally:
        opened.close()


# --- the host ----------------------------------------------------------------------------------------------------


def test_the_sdk_runs_in_the_data_folder_and_fetched_its_master_through_the_stand_in(
    broker: IciciBroker, breeze: BreezeStandIn, link: IciciLink, work_dir: Path
) -> None:
    assert (work_dir / "logs" / "apiLogs.log").exists(), "breeze_connect's logs/ land in the data folder"
    assert breeze.master_downloads >= 1, "the import-time download reached the stand-in, not the internet"
    assert link.last_host_start_s is not None and link.last_host_start_s < 30
    assert broker.notifications_subscribed, "the SDK's socket.io order channel connected through the proxy"


def test_the_proxy_lets_nothing_but_icicis_hosts_through(breeze: BreezeStandIn) -> None:
    host, port = breeze.proxy_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        sock.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 403")


def test_a_host_that_died_answers_every_call_unavailable(breeze: BreezeStandIn, work_dir: Path) -> None:
    host = BreezeHost(HostConfig(work_dir=work_dir, env=breeze.host_env(), call_timeout_s=CALL_TIMEOUT_S))
    try:
        os.kill(host.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while host.alive and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(BrokerUnavailable, match="stopped"):
            host.call("get_funds")
    finally:
        host.close()


def test_no_secret_reaches_the_files_the_sdk_writes(broker: IciciBroker, breeze: BreezeStandIn, work_dir: Path) -> None:
    broker.get_account()
    secrets = [breeze.state.api_secret, *breeze.session_keys()]
    for path in work_dir.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not [s for s in secrets if s in text], f"{path.name} holds a secret"
            assert "Get funds response" not in text, "the SDK's debug log of every answer is left out"


# --- refusals before sending ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"limit_price": Decimal("1400.03")}, "tick size 0.05"),
        ({"qty": Decimal("1.5")}, "whole number"),
        ({"time_in_force": TimeInForce.GTC}, "day and IOC"),
        ({"time_in_force": TimeInForce.FOK}, "day and IOC"),
        ({"order_class": OrderClass.BRACKET}, "bracket"),
        ({"extended_hours": True}, "extended-hours"),
        ({"symbol": "NSE:NOSUCHCO"}, "not in the broker's instrument list"),
        ({"type": OrderType.STOP_LIMIT, "stop_price": None}, "stop price"),
    ],
)
def test_orders_the_exchanges_would_refuse_are_not_sent(
    broker: IciciBroker, breeze: BreezeStandIn, change: dict[str, object], words: str
) -> None:
    before = posted_orders(breeze)

    with pytest.raises(NotPlaced, match=words):
        broker.submit_order(request(**change))

    assert posted_orders(breeze) == before


# --- what is sent ----------------------------------------------------------------------------------------------------


def test_the_client_order_id_travels_as_a_short_tag_in_the_remark(broker: IciciBroker, breeze: BreezeStandIn) -> None:
    placed = request()

    order = broker.submit_order(placed)

    sent = breeze.order(order.id)
    assert sent.user_remark == convert.client_tag(placed.client_order_id)
    assert (sent.exchange_code, sent.stock_code, sent.product) == ("NSE", "INFTEC", "Cash")
    assert order.client_order_id == placed.client_order_id


def test_a_session_that_never_saw_the_order_finds_it_by_client_id_and_refuses_it_twice(
    broker: IciciBroker, second_session: IciciBroker
) -> None:
    placed = request()
    order = broker.submit_order(placed)

    found = second_session.get_order_by_client_id(placed.client_order_id)

    assert (found.id, found.client_order_id) == (order.id, placed.client_order_id)
    with pytest.raises(BrokerRejected, match="already has an order"):
        second_session.submit_order(placed)


def test_a_link_cannot_choose_intraday_which_icici_refuses_through_its_api(
    link: IciciLink, credentials: dict[str, str], breeze: BreezeStandIn
) -> None:
    with pytest.raises(BrokerRejected, match="does not take intraday"):
        link.open_broker(
            credentials | {"product": "margin"}, {"session_token": breeze.issue_api_session()}, Endpoints()
        )


def test_a_bse_order_goes_to_bse_under_its_scrip_code(broker: IciciBroker, breeze: BreezeStandIn) -> None:
    order = broker.submit_order(request("BSE:500209", limit_price=Decimal("1400.10")))

    assert (breeze.order(order.id).exchange_code, breeze.order(order.id).stock_code) == ("BSE", "INFTEC")
    assert broker.get_order(order.id).symbol == "BSE:500209"


def test_a_market_order_goes_out_as_the_sdks_protected_limit(broker: IciciBroker, breeze: BreezeStandIn) -> None:
    """breeze_connect 1.0.69 turns a market order into a limit 3 % through the last price (here 1500.00)."""
    order = broker.submit_order(request(type=OrderType.MARKET, limit_price=None, qty=Decimal("1")))

    sent = breeze.order(order.id)
    assert (sent.order_type, sent.price) == ("Limit", Decimal("1545.00"))
    assert order.type is OrderType.LIMIT


def test_stop_orders_are_stop_losses_and_ioc_is_kept(broker: IciciBroker, breeze: BreezeStandIn) -> None:
    stop = broker.submit_order(request(type=OrderType.STOP, limit_price=None, stop_price=Decimal("1600.00")))
    stop_limit = broker.submit_order(
        request(type=OrderType.STOP_LIMIT, stop_price=Decimal("1600.00"), limit_price=Decimal("1601.00"))
    )
    ioc = broker.submit_order(request(time_in_force=TimeInForce.IOC))

    assert (breeze.order(stop.id).order_type, breeze.order(stop.id).price) == ("StopLoss", Decimal("0"))
    assert (stop.type, stop.stop_price) == (OrderType.STOP, Decimal("1600.00"))
    assert (stop_limit.type, stop_limit.limit_price) == (OrderType.STOP_LIMIT, Decimal("1601.00"))
    assert breeze.order(ioc.id).validity == "IoC"


def test_a_modification_off_the_tick_grid_is_not_sent(broker: IciciBroker, breeze: BreezeStandIn) -> None:
    order = broker.submit_order(request())

    with pytest.raises(NotPlaced, match="tick size"):
        broker.modify_order(order.id, limit_price=Decimal("1400.01"))

    assert breeze.order(order.id).modifications == 0


# --- account -------------------------------------------------------------------------------------------------------


def test_positions_merge_the_holdings_with_the_days_trades(broker: IciciBroker, breeze: BreezeStandIn) -> None:
    breeze.state.holdings = [
        {"stock_code": "RELIND", "exchange_code": "NSE", "quantity": "10", "average_price": "2500.00",
         "current_market_price": "2900.00"},
    ]  # fmt: skip
    filled = threading.Event()

    def on_event(event: OrderEvent) -> None:
        if event.type is OrderEventType.FILL:
            filled.set()

    broker.add_event_handler(on_event)
    try:
        order = broker.submit_order(request("NSE:RELIANCE", limit_price=Decimal("2900.00")))
        breeze.execute(order.id, 2, Decimal("2900.00"))
        assert filled.wait(5)
    finally:
        broker.remove_event_handler(on_event)

    reliance = next(p for p in broker.get_positions() if p.symbol == "NSE:RELIANCE")
    assert (reliance.qty, reliance.avg_entry_price) == (Decimal("12"), Decimal("2566.67"))
    account = broker.get_account()
    assert account.equity > account.cash, "the holdings' value counts in the equity"


def test_the_asset_carries_lot_and_tick_and_an_unknown_symbol_is_not_tradable(broker: IciciBroker) -> None:
    asset = broker.get_asset("NSE:INFY")

    assert (asset.extra["lot_size"], asset.extra["tick_size"], asset.extra["token"]) == ("1", "0.05", "INFTEC")
    assert not asset.shortable, "a delivery (CNC) link cannot sell shares it does not hold"
    assert not broker.get_asset("NSE:NOSUCHCO").tradable


# --- deadlines and limits ------------------------------------------------------------------------------------------


def test_a_call_icici_never_answers_is_unavailable_at_the_deadline(broker: IciciBroker, breeze: BreezeStandIn) -> None:
    breeze.hang_paths.add("GET funds")
    started = time.monotonic()
    try:
        with pytest.raises(BrokerUnavailable, match="did not answer"):
            broker.get_account()
    finally:
        breeze.hang_paths.discard("GET funds")
    assert time.monotonic() - started < CALL_TIMEOUT_S + 1
    assert broker.get_account().cash > 0, "the unanswered call holds its own thread in the host, not the host"


def test_the_rate_limit_is_refused_as_not_placed(broker: IciciBroker, breeze: BreezeStandIn) -> None:
    before = posted_orders(breeze)
    breeze.state.rate_limit_per_minute = 0
    try:
        with pytest.raises(RateLimited, match="request limit"):
            broker.submit_order(request())
    finally:
        breeze.state.rate_limit_per_minute = 100_000
    assert posted_orders(breeze) == before


def test_the_order_channel_comes_back_by_itself_after_a_network_failure(
    broker: IciciBroker, breeze: BreezeStandIn
) -> None:
    """python-socketio reconnects the SDK's order channel (about 1.5 s here); polling covers the gap meanwhile."""
    before = breeze.notifications.connects

    breeze.cut(0.3)

    deadline = time.monotonic() + 15  # python-socketio backs off 1, 2, 4 s... between attempts
    while breeze.notifications.connects == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert breeze.notifications.connects > before, "the order channel did not come back"


def test_a_host_that_cannot_reach_icici_at_import_says_so_plainly(work_dir: Path) -> None:
    """breeze_connect downloads its security master when imported: with no way out, the host cannot start."""
    closed = "http://127.0.0.1:9"
    nowhere = {name: closed for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")}

    with pytest.raises(BrokerUnavailable, match="could not be reached to start the connection") as refused:
        BreezeHost(HostConfig(work_dir=work_dir, env=nowhere, start_timeout_s=20))

    assert "urlopen" not in str(refused.value) and "Error" not in str(refused.value)


def test_an_order_whose_duplicate_check_cannot_be_made_is_not_placed_rather_than_unknown(
    broker: IciciBroker, breeze: BreezeStandIn
) -> None:
    """The order book is read before sending (Breeze does not refuse a repeated remark): when that read fails,
    nothing was sent, so the ledger may retry at once instead of settling an order that does not exist."""
    before = posted_orders(breeze)
    breeze.hang_paths.add("GET order")
    try:
        with pytest.raises(NotPlaced, match="was not sent"):
            broker.submit_order(request())
    finally:
        breeze.hang_paths.discard("GET order")
    assert posted_orders(breeze) == before


def test_a_replayed_or_tampered_signed_request_is_refused_as_icici_refuses_it(
    broker: IciciBroker, breeze: BreezeStandIn
) -> None:
    """The stand-in checks Breeze's signature the way ICICI does: sha256(timestamp + body + secret), fresh."""
    token = base64.b64encode(f"{breeze.state.user_id}:{breeze.session_keys()[0]}".encode()).decode()

    def signed(body: str, at: datetime, sent_body: str | None = None) -> str:
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        checksum = hashlib.sha256((stamp + body + breeze.state.api_secret).encode()).hexdigest()
        headers = {"X-AppKey": breeze.state.api_key, "X-Timestamp": stamp, "X-Checksum": f"token {checksum}",
                   "X-SessionToken": token}  # fmt: skip
        _, payload, _ = breeze.handle(
            "api.icicidirect.com", "GET", "/breezeapi/api/v1/funds", headers, (sent_body or body).encode()
        )
        return str(json.loads(payload)["Error"])

    now = datetime.now(UTC)
    assert signed("{}", now) == "None", "a fresh, intact request is answered"
    assert signed("{}", now - timedelta(minutes=5)) == "Authentication Fail :: Request Expired."
    assert signed('{"a":1}', now, sent_body='{"a":2}') == "Authentication Fail :: Invalid Checksum."


def test_what_the_sdk_prints_cannot_break_the_hosts_protocol(breeze: BreezeStandIn, work_dir: Path) -> None:
    """generate_session re-downloads the master and print()s its failure to stdout, which the host keeps for its
    answers: the print must land on stderr and the session must still open."""
    host = BreezeHost(HostConfig(work_dir=work_dir, env=breeze.host_env(), call_timeout_s=CALL_TIMEOUT_S))
    breeze.master_available = False
    try:
        host.request(
            "login",
            timeout_s=20,
            api_key=breeze.state.api_key,
            api_secret=breeze.state.api_secret,
            session_token=breeze.issue_api_session(),
        )
        answer = host.call("get_funds")
        assert answer["Status"] == 200
        deadline = time.monotonic() + 2
        while not any("SecurityMaster" in line for line in host.stderr_tail) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any("Error loading SecurityMaster.zip" in line for line in host.stderr_tail)
    finally:
        breeze.master_available = True
        host.close()
