"""What the session manager hands out: plain values and events, safe to pass to any thread (and to Qt).

Money is Decimal, times are tz-aware UTC. ``PaperSessionInfo.pnl`` is the session's own profit: what its fills
bought and sold, less fees, plus the shares it still holds at the last price. ``initial_capital`` is the money
its book started with; ``current_capital`` its book's equity (``core.paper.book``) at the last snapshot, as the
seeds' ``active_strategies`` kept it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.domain.trading_sessions import SignalStatus, TradingSessionMode, TradingSessionStatus

RUNNING, PAUSED = TradingSessionStatus.RUNNING, TradingSessionStatus.PAUSED
STOPPED, FAILED, COMPLETED = TradingSessionStatus.STOPPED, TradingSessionStatus.FAILED, TradingSessionStatus.COMPLETED
ACTIVE_STATUSES = (RUNNING, PAUSED)
PAPER = TradingSessionMode.PAPER
PENDING, EXECUTED = SignalStatus.PENDING, SignalStatus.EXECUTED
REJECTED, EXPIRED = SignalStatus.REJECTED, SignalStatus.EXPIRED


class PaperSessionError(Exception):
    """A session that cannot be started, found or stopped; ``str()`` is for the trader."""


@dataclass(frozen=True)
class PaperSessionInfo:
    id: uuid.UUID
    user_id: uuid.UUID
    strategy_id: uuid.UUID | None
    strategy_name: str
    strategy_version_id: uuid.UUID | None
    class_name: str
    mode: str
    status: str
    symbols: tuple[str, ...]
    timeframe: str
    parameters: dict[str, Any]
    initial_capital: Decimal | None
    current_capital: Decimal | None
    started_at: datetime
    ended_at: datetime | None
    pnl: Decimal | None  # the final P&L once ended, else the P&L so far
    error_message: str | None
    stop_reason: str | None
    signal_count: int = 0
    last_bar_at: datetime | None = None
    details: str = ""  # a failure's long form: the strategy's trace and printed output
    # time.monotonic() just before the row was read: of two reports of one session, the larger is the newer
    # (they reach a UI by different paths and threads, so they may arrive out of order)
    as_of: float = 0.0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True)
class SignalInfo:
    id: uuid.UUID
    session_id: uuid.UUID
    symbol: str
    action: str  # BUY | SELL
    quantity: Decimal | None  # None when the intent could not be sized (e.g. no cash)
    status: str  # PENDING | EXECUTED | REJECTED | EXPIRED
    reason: str | None
    bar_timestamp: datetime | None  # open time of the bar whose close produced it
    generated_at: datetime
    processed_at: datetime | None = None
    order_id: uuid.UUID | None = None
    price: float | None = None  # the bar's close the strategy decided at (chart markers)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PaperSessionChanged:
    """A session started, stopped, or processed a bar (its P&L and counts may have moved)."""

    session: PaperSessionInfo


@dataclass(frozen=True)
class PaperSessionFailed:
    """A session ended because its strategy (or the session machinery) failed; ``session.error_message`` says why."""

    session: PaperSessionInfo


@dataclass(frozen=True)
class SignalRecorded:
    """A signal reached its outcome (EXECUTED or REJECTED)."""

    signal: SignalInfo


PaperSessionEvent = PaperSessionChanged | PaperSessionFailed | SignalRecorded
