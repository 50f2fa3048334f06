"""Backtest history, batch sweeps and saved variable lists (002)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, Money, created_ts, enum_check, tstz, updated_ts, uuid_pk
from core.domain.timeframes import Timeframe

BACKTEST_STATUSES = ("completed", "failed", "canceled")


class BacktestResult(Base):
    """One backtest run, with a snapshot of the exact code and parameters it ran."""

    __tablename__ = "backtest_results"
    __table_args__ = (
        CheckConstraint(enum_check("status", BACKTEST_STATUSES), name="status"),
        CheckConstraint("end_at >= start_at", name="range_order"),
        CheckConstraint("initial_capital > 0", name="initial_capital_positive"),
        Index("ix_backtest_results_created_at", text("created_at DESC")),
        Index("ix_backtest_results_user_id_created_at", "user_id", text("created_at DESC")),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    strategy_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("strategies.id", ondelete="SET NULL"), index=True)
    strategy_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("strategy_versions.id", ondelete="SET NULL")
    )
    batch_job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("batch_jobs.id", ondelete="SET NULL"))
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), server_default="completed")
    symbols: Mapped[list[str]] = mapped_column(ARRAY(String(20)), server_default=text("'{}'"))
    timeframe: Mapped[str] = mapped_column(String(10), server_default=Timeframe.MIN_1)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    benchmark_symbol: Mapped[str | None] = mapped_column(String(20))
    initial_capital: Mapped[Decimal] = mapped_column(Money, server_default=text("100000"))
    # Snapshot: code, elements, parameters, fill model settings (002 strategy_elements).
    strategy_snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    equity_curve: Mapped[list[Any] | None] = mapped_column(JSONB)
    trades: Mapped[list[Any] | None] = mapped_column(JSONB)
    positions: Mapped[list[Any] | None] = mapped_column(JSONB)
    error_message: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[created_ts]


BATCH_KINDS = ("local", "server", "dask")
BATCH_STATUSES = ("queued", "running", "finished", "failed", "canceled")


class BatchJob(Base):
    """A sweep of one base strategy over every assignment of its variable lists."""

    __tablename__ = "batch_jobs"
    __table_args__ = (
        CheckConstraint(enum_check("kind", BATCH_KINDS), name="kind"),
        CheckConstraint(enum_check("status", BATCH_STATUSES), name="status"),
        CheckConstraint("total >= 0 AND completed >= 0 AND completed <= total", name="progress_range"),
        Index("ix_batch_jobs_status", "status"),
        Index("ix_batch_jobs_created_at", text("created_at DESC")),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    strategy_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("strategies.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(10), server_default="local")
    status: Mapped[str] = mapped_column(String(10), server_default="queued")
    total: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    completed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    failed_runs: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(Text)
    truncated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # [{"name": "ticker", "values": ["SPY", "QQQ"], "count": 2}]
    variables: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    strategy_snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB)
    symbols: Mapped[list[str]] = mapped_column(ARRAY(String(20)), server_default=text("'{}'"))
    timeframe: Mapped[str] = mapped_column(String(10), server_default=Timeframe.MIN_1)
    start_at: Mapped[tstz | None]
    end_at: Mapped[tstz | None]
    benchmark_symbol: Mapped[str | None] = mapped_column(String(20))
    assignments_preview: Mapped[list[Any] | None] = mapped_column(JSONB)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # best, worst, average
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]
    completed_at: Mapped[tstz | None]


class BatchJobRun(Base):
    """One assignment of a batch job; a row per run so metrics can be queried in SQL."""

    __tablename__ = "batch_job_runs"
    __table_args__ = (
        UniqueConstraint("batch_job_id", "run_index"),
        CheckConstraint("run_index >= 0", name="run_index_non_negative"),
        CheckConstraint(enum_check("status", ("finished", "failed")), name="status"),
        Index("ix_batch_job_runs_metrics", "metrics", postgresql_using="gin"),
    )

    id: Mapped[uuid_pk]
    batch_job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("batch_jobs.id", ondelete="CASCADE"))
    run_index: Mapped[int] = mapped_column(Integer)
    variables: Mapped[dict[str, Any]] = mapped_column(JSONB)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(10), server_default="finished")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created_ts]


VARIABLE_TYPES = ("ticker", "number", "date", "string")


class VariableList(Base):
    __tablename__ = "variable_lists"
    __table_args__ = (
        UniqueConstraint("user_id", "name"),
        CheckConstraint(enum_check("type", VARIABLE_TYPES), name="type"),
        CheckConstraint("jsonb_typeof(values) = 'array'", name="values_is_array"),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(10))
    values: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    description: Mapped[str | None] = mapped_column(Text)
    is_shared: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]
