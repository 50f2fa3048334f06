"""The whole path with the real Zerodha adapter (core.adapters.zerodha over kiteconnect) against Kite's stand-in.

Link through the adapter's own fields, Kite's browser log-in (the redirect pasted back), a confirmed real-money
order checked against the stand-in account's funds and Kite's tick grid, the exchange's fill booked once from the
adapter's order updates, and Kite's morning expiry asking for a new log-in.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests
from sqlalchemy import select

from core.accounts.credential_vault import CredentialVault, KeyringKeySource
from core.broker.links import Endpoints
from core.db.models import Fill
from core.services.broker_accounts import BrokerAccounts, LoginNeeded, parse_login_answer
from core.services.real_money_orders import RealMoneyOrders, RealOrderRefused, RealOrderTicket
from tests.adapters.zerodha.standin import KiteStandIn

D = Decimal


@pytest.fixture(scope="module")
def kite() -> Iterator[KiteStandIn]:
    with KiteStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def zerodha(db, kite: KiteStandIn) -> Iterator[tuple[BrokerAccounts, RealMoneyOrders]]:
    links = BrokerAccounts(
        db.session_factory,
        CredentialVault(KeyringKeySource()),
        brokers=("zerodha",),
        endpoints=lambda _broker: Endpoints(api_root=kite.url, login_root=kite.url, stream_root=kite.stream_url),
    )  # the real adapter: core.broker.links.link_adapter
    orders = RealMoneyOrders(db.session_factory, links)
    yield links, orders
    orders.close()


def browser(url: str) -> str:
    """The trader logs in on Kite's page; the address the browser ends on (what they paste back)."""
    answer = requests.get(url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    return answer.headers["Location"]


def test_a_zerodha_account_is_linked_logged_in_traded_after_confirmation_and_its_fill_booked_once(
    db, kite: KiteStandIn, zerodha: tuple[BrokerAccounts, RealMoneyOrders], make_user
) -> None:
    links, orders = zerodha
    ada = make_user("ada")
    [choice] = links.choices()
    assert [f.name for f in choice.fields] == ["api_key", "api_secret", "product"]
    link = links.add(ada, "zerodha", "Kite main", {"api_key": kite.api_key, "api_secret": kite.api_secret}).id
    url = links.login_url(ada, link)
    assert url is not None
    links.log_in(ada, link, parse_login_answer(browser(url)))

    with pytest.raises(RealOrderRefused, match=r"tick size 0\.05"):
        orders.preview(ada, link, RealOrderTicket.parse("NSE:INFY", "buy", "4", "limit", limit_price="1500.02"))
    confirmation = orders.preview(ada, link, RealOrderTicket.parse("NSE:INFY", "buy", "4", "limit", limit_price="1500"))
    assert confirmation.account_text() == "Zerodha (Kite Connect) · 'Kite main' · account ZS1234"
    assert confirmation.order_text() == "BUY 4 NSE:INFY · LIMIT ₹1,500.00 · DAY · product CNC"
    placed = orders.place(confirmation, "Kite main")

    kite.execute(placed.broker_order_id, D("4"), D("1499.5"))
    deadline = time.monotonic() + 5
    rows: list[Fill] = []
    while time.monotonic() < deadline and not rows:  # the adapter polls Kite's order book once a second
        with db.session_factory() as s:
            rows = list(s.scalars(select(Fill)))
        time.sleep(0.05)
    [fill] = rows
    assert (fill.symbol, fill.quantity, fill.price, fill.currency, fill.source) == (
        "NSE:INFY", D("4"), D("1499.5"), "INR", "broker_synced",
    )  # fmt: skip
    assert fill.execution_id.startswith("zerodha:") and fill.broker_order_id == placed.broker_order_id

    kite.expire_sessions()  # Kite's morning
    with pytest.raises(LoginNeeded, match="log in again"):
        orders.preview(ada, link, RealOrderTicket.parse("NSE:INFY", "buy", "1", "limit", limit_price="1500"))
    assert links.get(ada, link).session_expired
    with db.session_factory() as s:
        assert len(s.scalars(select(Fill)).all()) == 1
