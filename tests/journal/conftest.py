"""Journal fixtures: users made through the real accounts service, a ledger on a hand-driven broker."""

from __future__ import annotations

import dataclasses
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import update

from core.accounts import AccountService
from core.db.database import Database
from core.db.models import RiskSettings
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from tests.ledger.manual_broker import ManualBroker

PASSWORD = "Tr4ding-Pass-2026"


@pytest.fixture
def sessions(db: Database):
    return db.session_factory


@pytest.fixture
def make_user(db: Database, accounts: AccountService):
    """A signed-up user (default profile, rules none) whose duplicate-order window is off."""

    def make(name: str) -> uuid.UUID:
        user = accounts.sign_up(f"{name}@example.com", name, PASSWORD)
        with db.session_factory() as s:
            s.execute(update(RiskSettings).where(RiskSettings.user_id == user.id).values(duplicate_window_seconds=0))
            s.commit()
        return user.id

    return make


@pytest.fixture
def broker() -> ManualBroker:
    return ManualBroker()


@pytest.fixture
def prices() -> LastPrices:
    return LastPrices({"AAPL": Decimal("100"), "MSFT": Decimal("400")})


@pytest.fixture
def ledger(db: Database, broker: ManualBroker, prices: LastPrices) -> Ledger:
    return Ledger(db.session_factory, broker, prices)


@pytest.fixture
def trade(ledger: Ledger, broker: ManualBroker):
    """Place an order through the ledger and fill it at ``price``, stamped ``when``; returns the order."""

    def run(user_id: uuid.UUID, side: str, qty: str, price: str, when, *, symbol: str = "AAPL", fee: str = "0",
            strategy_id: uuid.UUID | None = None, **ticket):  # fmt: skip
        ticket = OrderTicket(symbol, OrderSide(side), Decimal(qty), **ticket)
        placed = ledger.place_order(user_id, ticket, strategy_id=strategy_id)
        event = broker.fill(placed.client_order_id, qty, price, fee=fee, deliver=False)
        broker.deliver(dataclasses.replace(event, timestamp=when))
        return placed

    return run
