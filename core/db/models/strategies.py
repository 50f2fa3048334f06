"""Strategies (all seeds), their versions (003) and the probe catalog (003).

One ``strategies`` row covers both kinds the seeds describe: Python-code
strategies with a plain-English explanation (000/001) and allocation strategies
made of weighted tickers (002 ``elements``), plus 003's risk and family fields
and 004's parameters.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, created_ts, enum_check, tstz, updated_ts, uuid_pk

STRATEGY_KINDS = ("code", "allocation")
DIRECTIONS = ("long", "short", "both")
STRATEGY_FAMILIES = ("trend", "breakout", "momentum", "mean_reversion", "volatility")


class Strategy(Base):
    __tablename__ = "strategies"
    __table_args__ = (
        UniqueConstraint("user_id", "name"),
        CheckConstraint(enum_check("kind", STRATEGY_KINDS), name="kind"),
        CheckConstraint(enum_check("direction", DIRECTIONS), name="direction"),
        CheckConstraint(
            "implied_strategy_family IS NULL OR " + enum_check("implied_strategy_family", STRATEGY_FAMILIES),
            name="implied_strategy_family",
        ),
        CheckConstraint("kind <> 'code' OR python_code IS NOT NULL", name="code_strategy_has_code"),
        CheckConstraint("current_version >= 1", name="current_version_positive"),
        Index("ix_strategies_created_at", text("created_at DESC")),
        Index("ix_strategies_is_public", "is_public", postgresql_where=text("is_public")),
        Index("ix_strategies_tags", "tags", postgresql_using="gin"),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20), server_default="code")
    python_code: Mapped[str | None] = mapped_column(Text)
    logic_explanation: Mapped[str | None] = mapped_column(Text)
    symbols: Mapped[list[str]] = mapped_column(ARRAY(String(20)), server_default=text("'{}'"))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # Allocation strategies (002): [{"type": "ticker", "ticker": "SPY", "weight": "1"}, ...]
    elements: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    benchmark_symbol: Mapped[str | None] = mapped_column(String(20), server_default="SPY")
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    direction: Mapped[str] = mapped_column(String(10), server_default="long")
    timeframes: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[\"1Min\"]'::jsonb"))
    entry_criteria: Mapped[str | None] = mapped_column(Text)
    exit_criteria: Mapped[str | None] = mapped_column(Text)
    max_risk_pct: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    min_risk_reward: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    risk_profile: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    implied_strategy_family: Mapped[str | None] = mapped_column(String(50))
    strategy_type: Mapped[str | None] = mapped_column(String(50))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(255)), server_default=text("'{}'"))
    is_public: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_archived: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    current_version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]
    last_run_at: Mapped[tstz | None]


class StrategyVersion(Base):
    """An immutable snapshot of a strategy each time it is saved (003 versioning)."""

    __tablename__ = "strategy_versions"
    __table_args__ = (
        UniqueConstraint("strategy_id", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[uuid_pk]
    strategy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("strategies.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    python_code: Mapped[str | None] = mapped_column(Text)
    logic_explanation: Mapped[str | None] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    elements: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    change_note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20), server_default="manual")  # manual | ai | import
    created_at: Mapped[created_ts]


class ProbeStrategy(Base):
    """The catalog of benchmark strategies the probe system runs across symbols (003)."""

    __tablename__ = "probe_strategies"
    __table_args__ = (CheckConstraint(enum_check("direction", DIRECTIONS), name="direction"),)

    id: Mapped[uuid_pk]
    name: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    philosophy: Mapped[str | None] = mapped_column(String(500))
    strategy_type: Mapped[str | None] = mapped_column(String(50))
    direction: Mapped[str] = mapped_column(String(15), server_default="long")
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]


class StrategyProbeResult(Base):
    """Aggregated result of one probe strategy on one symbol and trading day (003)."""

    __tablename__ = "strategy_probe_results"
    __table_args__ = (
        UniqueConstraint("run_id", "probe_strategy_id", "symbol", "open_day"),
        CheckConstraint("period_end >= period_start", name="period_order"),
        CheckConstraint("total_trades >= 0", name="total_trades_non_negative"),
        CheckConstraint("win_rate IS NULL OR (win_rate >= 0 AND win_rate <= 1)", name="win_rate_range"),
        Index("ix_strategy_probe_results_open_day", "open_day"),
        Index("ix_strategy_probe_results_symbol_open_day", "symbol", "open_day"),
    )

    id: Mapped[uuid_pk]
    run_id: Mapped[str] = mapped_column(String(50), index=True)
    probe_strategy_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("probe_strategies.id", ondelete="CASCADE"), index=True
    )
    symbol: Mapped[str] = mapped_column(String(20))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    open_day: Mapped[date] = mapped_column(Date)
    total_trades: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    win_rate: Mapped[float | None] = mapped_column(Double)
    profit_factor: Mapped[float | None] = mapped_column(Double)
    total_pnl: Mapped[Decimal | None]
    max_drawdown: Mapped[float | None] = mapped_column(Double)
    sharpe_ratio: Mapped[float | None] = mapped_column(Double)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[created_ts]


class StrategyProbeTrade(Base):
    """One simulated trade of a probe run (003)."""

    __tablename__ = "strategy_probe_trades"
    __table_args__ = (
        CheckConstraint(enum_check("side", ("long", "short")), name="side"),
        CheckConstraint("exit_time IS NULL OR exit_time >= entry_time", name="exit_after_entry"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[uuid_pk]
    result_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("strategy_probe_results.id", ondelete="CASCADE"), index=True
    )
    symbol: Mapped[str] = mapped_column(String(20))
    side: Mapped[str] = mapped_column(String(10))
    entry_time: Mapped[datetime]
    exit_time: Mapped[tstz | None]
    entry_price: Mapped[Decimal]
    exit_price: Mapped[Decimal | None]
    quantity: Mapped[Decimal] = mapped_column(Numeric(24, 9))
    pnl: Mapped[Decimal | None]
    return_pct: Mapped[float | None] = mapped_column(Double)
    exit_reason: Mapped[str | None] = mapped_column(String(50))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[created_ts]
