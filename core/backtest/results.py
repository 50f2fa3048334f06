"""Backtests kept in ``backtest_results``: what ran (a snapshot), on what, and what came out.

A result must stay explainable after the strategy is edited or deleted, so the
row carries the exact source code, the parameter values and the fill settings
it ran with, next to the metrics. Curves are stored thinned to at most
``CURVE_POINTS`` points (a million-bar curve would be tens of megabytes of JSON
for a chart a few thousand pixels wide); trades are stored in full up to
``MAX_TRADES`` (the rest is counted in the snapshot). Failed runs are stored too,
with their error, so a batch can show which assignments broke.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.backtest.engine import BacktestConfig
from core.backtest.metrics import Metrics
from core.db.models import BacktestResult, BatchJob, Strategy, StrategyVersion

CURVE_POINTS = 2_000
MAX_TRADES = 20_000


class ResultError(ValueError):
    """A run that cannot be stored as given; the message is for the trader."""


@dataclass(frozen=True)
class RunRecord:
    """Everything about one run that is not its output."""

    user_id: uuid.UUID
    strategy_name: str
    source: str  # the strategy's code, exactly as it ran
    parameters: dict[str, Any]
    symbol: str
    timeframe: str
    start: datetime
    end: datetime
    config: BacktestConfig = field(default_factory=BacktestConfig)
    path: str = "per_bar"  # or "vectorized"
    strategy_id: uuid.UUID | None = None
    strategy_version_id: uuid.UUID | None = None
    batch_job_id: uuid.UUID | None = None
    benchmark_symbol: str | None = None
    name: str | None = None


def thin_curve(times: np.ndarray, values: np.ndarray, points: int = CURVE_POINTS) -> list[list[float]]:
    """At most ``points`` [time, value] pairs: evenly spaced, always keeping the first, the last and the lowest
    value (a thinned equity curve must not hide its worst drawdown)."""
    n = len(values)
    if n == 0:
        return []
    keep = np.unique(np.concatenate([np.linspace(0, n - 1, min(n, points)).astype(np.int64), [int(np.argmin(values))]]))
    return [[float(times[i]), float(values[i])] for i in keep]


def _trade_row(trade: Any) -> dict[str, Any]:
    return {
        "entry_time": float(trade.entry_time), "exit_time": float(trade.exit_time),
        "entry_bar": int(trade.entry_bar), "exit_bar": int(trade.exit_bar), "size": float(trade.size),
        "entry_price": float(trade.entry_price), "exit_price": float(trade.exit_price), "pnl": float(trade.pnl),
        "return_pct": float(trade.return_pct), "fees": float(trade.fees), "exit_reason": str(trade.exit_reason),
    }  # fmt: skip


def _snapshot(record: RunRecord, trade_count: int) -> dict[str, Any]:
    fm = record.config.fill_model
    return {
        "name": record.strategy_name,
        "source": record.source,
        "path": record.path,
        "fill_model": {
            "slippage": repr(fm.slippage),
            "commission": repr(fm.commission),
            "max_volume_fraction": None if fm.max_volume_fraction is None else str(fm.max_volume_fraction),
        },
        "fractional": record.config.fractional,
        "close_at_end": record.config.close_at_end,
        "trade_count": trade_count,
        "trades_stored": min(trade_count, MAX_TRADES),
    }


def save_result(
    sessions: sessionmaker[Session],
    record: RunRecord,
    *,
    times: np.ndarray,
    equity: np.ndarray,
    trades: Sequence[Any],
    metrics: Metrics,
    duration_ms: int,
) -> uuid.UUID:
    """Store a finished run; returns its id. ResultError when its strategy, version or batch is not the user's."""
    row = _row(record, len(trades))
    row.metrics = metrics.to_dict()
    row.equity_curve = thin_curve(times, equity)
    row.trades = [_trade_row(t) for t in trades[:MAX_TRADES]]
    row.duration_ms = duration_ms
    with sessions() as s:
        _check_references(s, record)
        s.add(row)
        s.commit()
        return row.id


def save_detail(
    sessions: sessionmaker[Session], record: RunRecord, detail: dict[str, Any], duration_ms: int
) -> uuid.UUID:
    """Store a run given as ``strategy_ref.run_detailed`` returns it (plain data from the sandbox)."""
    trades = list(detail["trades"])
    row = _row(record, len(trades))
    row.metrics = dict(detail["metrics"])
    row.equity_curve = thin_curve(np.asarray(detail["times"]), np.asarray(detail["equity"]))
    row.trades = trades[:MAX_TRADES]
    row.duration_ms = duration_ms
    with sessions() as s:
        _check_references(s, record)
        s.add(row)
        s.commit()
        return row.id


def save_failure(sessions: sessionmaker[Session], record: RunRecord, error: str, duration_ms: int = 0) -> uuid.UUID:
    """Store a run that did not finish (the strategy raised, timed out, or the data was missing)."""
    row = _row(record, 0)
    row.status = "failed"
    row.error_message = error
    row.duration_ms = duration_ms
    with sessions() as s:
        _check_references(s, record)
        s.add(row)
        s.commit()
        return row.id


def _check_references(s: Session, record: RunRecord) -> None:
    """The strategy, version and batch a result is filed under must be the user's own (the version one of that
    strategy's): a result filed under another trader's row would show in their history. ResultError "no such
    ..." otherwise, the words a missing one gets, so the ids of others cannot be probed."""
    user = record.user_id
    if (
        record.strategy_id is not None
        and s.scalar(select(Strategy.user_id).where(Strategy.id == record.strategy_id)) != user
    ):
        raise ResultError("no such strategy")
    if record.strategy_version_id is not None:
        owner = s.execute(
            select(Strategy.user_id, Strategy.id)
            .join(StrategyVersion, StrategyVersion.strategy_id == Strategy.id)
            .where(StrategyVersion.id == record.strategy_version_id)
        ).one_or_none()
        if owner is None or owner[0] != user or record.strategy_id not in (None, owner[1]):
            raise ResultError("no such strategy version")
    if (
        record.batch_job_id is not None
        and s.scalar(select(BatchJob.user_id).where(BatchJob.id == record.batch_job_id)) != user
    ):
        raise ResultError("no such batch")


def _row(record: RunRecord, trade_count: int) -> BacktestResult:
    if record.end < record.start:
        raise ValueError("a backtest's range must not end before it starts")
    return BacktestResult(
        id=uuid.uuid4(),
        user_id=record.user_id,
        strategy_id=record.strategy_id,
        strategy_version_id=record.strategy_version_id,
        batch_job_id=record.batch_job_id,
        name=record.name or f"{record.strategy_name} {record.symbol} {record.timeframe}",
        status="completed",
        symbols=[record.symbol],
        timeframe=record.timeframe,
        start_at=record.start.astimezone(UTC),
        end_at=record.end.astimezone(UTC),
        benchmark_symbol=record.benchmark_symbol,
        initial_capital=Decimal(record.config.starting_cash),
        strategy_snapshot=_snapshot(record, trade_count),
        parameters=dict(record.parameters),
    )


def load_result(sessions: sessionmaker[Session], result_id: uuid.UUID, user_id: uuid.UUID) -> BacktestResult | None:
    """One of ``user_id``'s results (None for another user's: results are private)."""
    with sessions() as s:
        row = s.get(BacktestResult, result_id)
        return row if row is not None and row.user_id == user_id else None
