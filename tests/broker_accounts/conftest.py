"""Linked broker accounts against the test database, the in-memory keyring and the SimBroker-backed test broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import update

from core.accounts.credential_vault import CredentialVault, KeyringKeySource
from core.broker.links import BrokerLinkAdapter
from core.db.models import RiskSettings
from core.services.broker_accounts import BrokerAccounts
from core.services.real_money_orders import RealMoneyOrders
from tests.broker_accounts.standin import API_KEY, API_SECRET, CLIENT_CODE, GOOD_TOKEN, SimLink, SimMarket

PASSWORD = "Tr4ding-Pass-2026"
SESSION_DAY = date(2026, 12, 7)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def market() -> SimMarket:
    return SimMarket()


def adapters_for(market: SimMarket) -> Callable[[str], BrokerLinkAdapter]:
    def adapters(name: str) -> BrokerLinkAdapter:
        if name != "zerodha":
            raise ImportError(f"no test adapter for {name}")
        return SimLink(market)

    return adapters


@pytest.fixture
def links(db, market: SimMarket) -> BrokerAccounts:
    vault = CredentialVault(KeyringKeySource())
    return BrokerAccounts(db.session_factory, vault, adapters=adapters_for(market), today=lambda: SESSION_DAY)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def orders(db, links: BrokerAccounts, clock: Clock) -> Iterator[RealMoneyOrders]:
    service = RealMoneyOrders(db.session_factory, links, clock=clock)
    yield service
    service.close()


@pytest.fixture
def make_user(db, accounts) -> Callable[..., uuid.UUID]:
    def make(name: str, **risk: object) -> uuid.UUID:
        user = accounts.sign_up(f"{name}@example.com", name, PASSWORD).id
        if risk:
            with db.session_factory() as s:
                s.execute(update(RiskSettings).where(RiskSettings.user_id == user).values(**risk))
                s.commit()
        return user

    return make


def kite_fields(**overrides: str) -> dict[str, str]:
    values = {"api_key": API_KEY, "api_secret": API_SECRET, "client_code": CLIENT_CODE, "product": "CNC"}
    values.update(overrides)
    return values


def link_and_log_in(links: BrokerAccounts, user: uuid.UUID, label: str = "Kite main") -> uuid.UUID:
    account = links.add(user, "zerodha", label, kite_fields())
    links.log_in(user, account.id, {"request_token": GOOD_TOKEN, "action": "login", "status": "success"})
    return account.id
