"""The path with the real Angel One adapter (core.adapters.angel over smartapi-python) against Angel's stand-in.

Angel's log-in needs no browser: the link leaves the TOTP secret and the product empty (the adapter says they may
be), the trader types the day's 6-digit code, and a confirmed order reaches the stand-in account; a price off Angel's
tick grid is refused before anything is sent. (Fills from an adapter's updates: the Zerodha test; Angel's
poller looks every 15 s while none of our orders works, which a test should not wait for. Each preview and
placement reads funds, positions and the order book within Angel's per-route limits: ~2 s here.)
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from core.accounts.credential_vault import CredentialVault, KeyringKeySource
from core.broker.links import Endpoints
from core.services.broker_accounts import BrokerAccountError, BrokerAccounts
from core.services.real_money_orders import RealMoneyOrders, RealOrderRefused, RealOrderTicket
from tests.adapters.angel.standin import AngelStandIn

D = Decimal


@pytest.fixture(scope="module")
def angel() -> Iterator[AngelStandIn]:
    with AngelStandIn() as standin:
        yield standin


@pytest.fixture
def angel_links(
    db, angel: AngelStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[BrokerAccounts, RealMoneyOrders]]:
    monkeypatch.chdir(tmp_path)  # the test's own folder: nothing may be written into the current directory
    links = BrokerAccounts(
        db.session_factory,
        CredentialVault(KeyringKeySource()),
        brokers=("angel",),
        endpoints=lambda _broker: Endpoints(api_root=angel.root, stream_root=angel.stream_root),
    )
    orders = RealMoneyOrders(db.session_factory, links)
    yield links, orders
    orders.close()
    assert list(tmp_path.iterdir()) == []


def test_an_angel_account_logs_in_with_a_typed_code_and_trades_after_confirmation(
    db, angel: AngelStandIn, angel_links: tuple[BrokerAccounts, RealMoneyOrders], make_user
) -> None:
    links, orders = angel_links
    ada = make_user("ada")
    values = {"api_key": angel.api_key, "client_code": angel.client_code, "pin": angel.pin}
    link = links.add(ada, "angel", "Angel main", values)
    assert links.get(ada, link.id).hints["Trading PIN"] == "••••"  # a PIN is never hinted
    assert links.login_url(ada, link.id) is None  # no browser: a typed code
    with pytest.raises(BrokerAccountError, match="AB1050"):
        links.log_in(ada, link.id, {"totp": f"{(int(angel.totp_now()) + 500_000) % 1_000_000:06d}"})
    links.log_in(ada, link.id, {"totp": angel.totp_now()})

    with pytest.raises(RealOrderRefused, match=r"tick size 0\.05"):  # the adapter's instrument master, read first
        orders.preview(ada, link.id, RealOrderTicket.parse("NSE:INFY", "buy", "1", "limit", limit_price="1500.01"))
    confirmation = orders.preview(
        ada, link.id, RealOrderTicket.parse("NSE:INFY", "buy", "3", "limit", limit_price="1500.05")
    )
    assert confirmation.account_text() == f"Angel One (SmartAPI) · 'Angel main' · account {angel.client_code}"
    assert confirmation.order_text() == "BUY 3 NSE:INFY · LIMIT ₹1,500.05 · DAY · product CNC"
    placed = orders.place(confirmation, "Angel main")
    assert placed.broker_order_id in angel.order_ids()
