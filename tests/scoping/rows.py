"""Ann's rows for the scoping tests: a saved strategy, a running paper session with a signal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select

from core.db.models import StrategyVersion
from core.paper import records
from core.strategy.library import SavedStrategy, StrategyDraft, save_strategy
from tests.backtest.test_sandboxed_backtest import CROSS

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@dataclass(frozen=True)
class PaperRows:
    strategy: SavedStrategy
    version_id: uuid.UUID
    session_id: uuid.UUID
    signal_id: uuid.UUID


def saved_strategy(sessions, user_id: uuid.UUID, name: str = "Cross") -> SavedStrategy:
    return save_strategy(sessions, user_id, StrategyDraft(name, CROSS))


def version_of(sessions, strategy: SavedStrategy) -> uuid.UUID:
    with sessions() as s:
        return s.scalars(select(StrategyVersion.id).where(StrategyVersion.strategy_id == strategy.id)).one()


def paper_rows(sessions, user_id: uuid.UUID) -> PaperRows:
    """A strategy, its first version, a RUNNING paper session of it on AAPL and one pending signal."""
    strategy = saved_strategy(sessions, user_id)
    version = version_of(sessions, strategy)
    session_id = records.insert_session(
        sessions, user_id=user_id, strategy_id=strategy.id, strategy_version_id=version, symbols=["AAPL"],
        timeframe="1Min", parameters={}, initial_capital=Decimal(10_000), metadata={}, now=T0,
        already_running="running",
    )  # fmt: skip
    signal = records.insert_signal(
        sessions, session_id=session_id, user_id=user_id, symbol="AAPL", action="BUY", quantity=Decimal(1),
        bar_timestamp=T0, metadata={}, now=T0,
    )  # fmt: skip
    return PaperRows(strategy, version, session_id, signal.id)
