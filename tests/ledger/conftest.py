"""Ledger fixtures: a ManualBroker, last prices, and users made through the real accounts service."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import update

from core.accounts import AccountService
from core.db.database import Database
from core.db.models import RiskSettings
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from tests.ledger.manual_broker import ManualBroker

PASSWORD = "Tr4ding-Pass-2026"


@pytest.fixture
def broker() -> ManualBroker:
    return ManualBroker()


@pytest.fixture
def prices() -> LastPrices:
    return LastPrices({"AAPL": Decimal("100"), "MSFT": Decimal("400"), "PENNY": Decimal("0.5")})


@pytest.fixture
def ledger(db: Database, broker: ManualBroker, prices: LastPrices) -> Ledger:
    return Ledger(db.session_factory, broker, prices)


@pytest.fixture
def make_user(db: Database, accounts: AccountService):
    def make(name: str, **risk: object) -> uuid.UUID:
        user = accounts.sign_up(f"{name}@example.com", name, PASSWORD)
        if risk:
            with db.session_factory() as s:
                s.execute(update(RiskSettings).where(RiskSettings.user_id == user.id).values(**risk))
                s.commit()
        return user.id

    return make
