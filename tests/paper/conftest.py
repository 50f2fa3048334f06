"""Session fixtures over the scripted market of ``tests.paper.helpers``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import update

from core.accounts import AccountService
from core.broker.sim import SimBroker
from core.db.database import Database
from core.db.models import RiskSettings
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.paper.manager import PaperSessionConfig, PaperSessionManager
from core.strategy.library import SavedStrategy, StrategyDraft, save_strategy
from tests.paper.helpers import (
    CROSS_SOURCE,
    HISTORY,
    PASSWORD,
    T0,
    FakeSubscriptions,
    Market,
    ScriptedHistory,
    SimClock,
    series,
)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(T0)


@pytest.fixture
def history() -> ScriptedHistory:
    h = ScriptedHistory()
    h.add(*series(HISTORY, -len(HISTORY)))
    return h


@pytest.fixture
def prices() -> LastPrices:
    return LastPrices({"ACME": Decimal(repr(HISTORY[-1]))})


@pytest.fixture
def sim(clock: SimClock) -> SimBroker:
    return SimBroker(clock=clock)


@pytest.fixture
def ledger(db: Database, sim: SimBroker, prices: LastPrices) -> Ledger:
    return Ledger(db.session_factory, sim, prices)


@pytest.fixture
def subscriptions() -> FakeSubscriptions:
    return FakeSubscriptions()


@pytest.fixture
def config() -> PaperSessionConfig:
    return PaperSessionConfig(window_bars=500, cpu_seconds=2.0, memory_mb=1024)


@pytest.fixture
def manager(
    db: Database, ledger: Ledger, history: ScriptedHistory, subscriptions: FakeSubscriptions, clock: SimClock,
    config: PaperSessionConfig,
) -> Iterator[PaperSessionManager]:  # fmt: skip
    m = PaperSessionManager(db.session_factory, ledger, history, subscriptions, config=config, clock=clock)
    try:
        yield m
    finally:
        m.shutdown()


@pytest.fixture
def market(clock: SimClock, prices: LastPrices, sim: SimBroker, history: ScriptedHistory,
           manager: PaperSessionManager) -> Market:  # fmt: skip
    m = Market(clock, prices, sim, history)
    m.manager = manager
    return m


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


@pytest.fixture
def save(db: Database):
    def saved(user_id: uuid.UUID, name: str = "Cross", source: str = CROSS_SOURCE, **params: object) -> SavedStrategy:
        return save_strategy(db.session_factory, user_id, StrategyDraft(name, source, parameters=dict(params)))

    return saved
