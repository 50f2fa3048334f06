"""Market data (003 tickers/ohlcv_bars/data_sync_log/computed_features; 000/001/004 market_data).

Bars are keyed by their natural key (ticker, timeframe, timestamp) rather than a
surrogate: it is the unique key the seeds name, the key every query uses, and
TimescaleDB requires the time column in every unique index of a hypertable.
Prices are double precision: bars are float64 arrays everywhere in StratForge;
money (orders, fills, balances) is NUMERIC.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, created_ts, enum_check, tstz, updated_ts, uuid_pk
from core.domain.timeframes import Timeframe

TIMEFRAMES = tuple(Timeframe)
BAR_SOURCES = ("alpaca", "finnhub", "csv_import", "parquet_import", "aggregated", "simulated")
SYNC_STATUSES = ("success", "partial", "failed")


class Ticker(Base):
    __tablename__ = "tickers"

    id: Mapped[uuid_pk]
    symbol: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    exchange: Mapped[str | None] = mapped_column(String(50))
    asset_type: Mapped[str] = mapped_column(String(20), server_default="stock")
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    tradable: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    fractionable: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]


class OhlcvBar(Base):
    __tablename__ = "ohlcv_bars"
    __table_args__ = (
        CheckConstraint(enum_check("timeframe", TIMEFRAMES), name="timeframe"),
        CheckConstraint(enum_check("source", BAR_SOURCES), name="source"),
        CheckConstraint("high >= low", name="high_gte_low"),
        CheckConstraint("high >= open AND high >= close", name="high_gte_open_close"),
        CheckConstraint("low <= open AND low <= close", name="low_lte_open_close"),
        CheckConstraint("open > 0 AND high > 0 AND low > 0 AND close > 0", name="prices_positive"),
        CheckConstraint("volume >= 0", name="volume_non_negative"),
        CheckConstraint("trade_count IS NULL OR trade_count >= 0", name="trade_count_non_negative"),
        CheckConstraint("vwap IS NULL OR vwap > 0", name="vwap_positive"),
    )

    # No foreign key to tickers and no timestamp-only index: both measured too dear for bulk inserts
    # (migration 0004); BarStore creates the ticker first and deletes a symbol's bars itself.
    ticker_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    timeframe: Mapped[str] = mapped_column(String(10), primary_key=True)
    timestamp: Mapped[datetime] = mapped_column(primary_key=True)  # bar open time, UTC
    open: Mapped[float] = mapped_column(Double)
    high: Mapped[float] = mapped_column(Double)
    low: Mapped[float] = mapped_column(Double)
    close: Mapped[float] = mapped_column(Double)
    volume: Mapped[int] = mapped_column(BigInteger)
    trade_count: Mapped[int | None] = mapped_column(Integer)
    vwap: Mapped[float | None] = mapped_column(Double)
    source: Mapped[str] = mapped_column(String(20), server_default="alpaca")
    created_at: Mapped[created_ts]


class DataSyncLog(Base):
    """One history sync of a (ticker, timeframe) range: what was asked, what came back (003)."""

    __tablename__ = "data_sync_log"
    __table_args__ = (
        CheckConstraint(enum_check("status", SYNC_STATUSES), name="status"),
        CheckConstraint(enum_check("timeframe", TIMEFRAMES), name="timeframe"),
        CheckConstraint("range_end >= range_start", name="range_order"),
        CheckConstraint("bars_fetched >= 0 AND total_bars >= 0", name="counts_non_negative"),
        Index("ix_data_sync_log_ticker_id_timeframe_range", "ticker_id", "timeframe", "range_start", "range_end"),
    )

    id: Mapped[uuid_pk]
    ticker_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickers.id", ondelete="CASCADE"))
    timeframe: Mapped[str] = mapped_column(String(10))
    range_start: Mapped[datetime]
    range_end: Mapped[datetime]
    first_synced_timestamp: Mapped[tstz | None]
    last_synced_timestamp: Mapped[tstz | None]
    last_sync_at: Mapped[created_ts]
    bars_fetched: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    total_bars: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    status: Mapped[str] = mapped_column(String(20))
    error_message: Mapped[str | None] = mapped_column(Text)


class ComputedFeature(Base):
    """Feature values and regime state of one bar (003 computed_features, 004 indicator_values)."""

    __tablename__ = "computed_features"
    __table_args__ = (
        UniqueConstraint("ticker_id", "timeframe", "timestamp", "feature_version"),
        ForeignKeyConstraint(
            ["ticker_id", "timeframe", "timestamp"],
            ["ohlcv_bars.ticker_id", "ohlcv_bars.timeframe", "ohlcv_bars.timestamp"],
            ondelete="CASCADE",
            name="fk_computed_features_bar_ohlcv_bars",
        ),
        CheckConstraint("state_id IS NULL OR state_id >= -1", name="state_id_range"),  # -1 = out of distribution
        CheckConstraint("state_prob IS NULL OR (state_prob >= 0 AND state_prob <= 1)", name="state_prob_range"),
        Index("ix_computed_features_model_id", "model_id"),
    )

    id: Mapped[uuid_pk]
    ticker_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickers.id", ondelete="CASCADE"))
    timeframe: Mapped[str] = mapped_column(String(10))
    timestamp: Mapped[datetime]
    feature_version: Mapped[str] = mapped_column(String(20))
    features: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    model_id: Mapped[str | None] = mapped_column(String(50))
    state_id: Mapped[int | None] = mapped_column(Integer)
    state_prob: Mapped[float | None] = mapped_column(Double)
    log_likelihood: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[created_ts]
