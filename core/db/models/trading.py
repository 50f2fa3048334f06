"""Sessions, signals, orders, fills and positions: the virtualization proxy's tables.

- ``trading_sessions`` = 000/001 ``sessions`` + 002 ``active_strategies``.
- ``orders`` = 002 ``execution_orders`` + 004 ``trades`` (an order's lifecycle,
  including bracket legs linked by ``parent_order_id``).
- ``fills`` = 000/001 ``trades`` + 003 ``trade_fills``: immutable, one row per
  broker execution, unique execution id, so a fill is attributed exactly once.
- ``positions`` = 000/001/004 ``positions``, one row per (user, symbol).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, Money, Quantity, Ratio, created_ts, enum_check, tstz, updated_ts, uuid_pk
from core.domain.orders import LedgerOrderStatus, OrderClass, OrderSide, OrderType, TimeInForce
from core.domain.trading_sessions import SignalAction, SignalStatus, TradingSessionMode, TradingSessionStatus

SESSION_MODES = tuple(TradingSessionMode)
SESSION_STATUSES = tuple(TradingSessionStatus)
REBALANCE_FREQUENCIES = ("daily", "weekly", "monthly")


class TradingSession(Base):
    """A strategy (or a manual trader) running in one mode with its own capital."""

    __tablename__ = "trading_sessions"
    __table_args__ = (
        CheckConstraint(enum_check("mode", SESSION_MODES), name="mode"),
        CheckConstraint(enum_check("status", SESSION_STATUSES), name="status"),
        CheckConstraint(
            "rebalance_frequency IS NULL OR " + enum_check("rebalance_frequency", REBALANCE_FREQUENCIES),
            name="rebalance_frequency",
        ),
        CheckConstraint("initial_capital IS NULL OR initial_capital > 0", name="initial_capital_positive"),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ended_after_started"),
        CheckConstraint("mode = 'MANUAL' OR strategy_id IS NOT NULL OR status <> 'RUNNING'", name="strategy_run"),
        # 002: one active deployment of a strategy per user and mode.
        Index(
            "uq_trading_sessions_active_strategy_mode",
            "user_id",
            "strategy_id",
            "mode",
            unique=True,
            postgresql_where=text("status IN ('RUNNING', 'PAUSED') AND strategy_id IS NOT NULL"),
        ),
        Index("ix_trading_sessions_user_id_status", "user_id", "status"),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    strategy_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("strategies.id", ondelete="SET NULL"), index=True)
    strategy_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("strategy_versions.id", ondelete="SET NULL")
    )
    mode: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12), server_default="RUNNING")
    symbols: Mapped[list[str]] = mapped_column(ARRAY(String(20)), server_default=text("'{}'"))
    timeframe: Mapped[str | None] = mapped_column(String(10))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    initial_capital: Mapped[Decimal | None] = mapped_column(Money)
    current_capital: Mapped[Decimal | None] = mapped_column(Money)
    rebalance_frequency: Mapped[str | None] = mapped_column(String(10))
    rebalance_time: Mapped[time | None] = mapped_column(Time)
    started_at: Mapped[created_ts]
    ended_at: Mapped[tstz | None]
    last_rebalance_at: Mapped[tstz | None]
    final_pnl: Mapped[Decimal | None] = mapped_column(Money)
    error_message: Mapped[str | None] = mapped_column(Text)
    state_metadata: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    updated_at: Mapped[updated_ts]


class SessionSnapshot(Base):
    """End-of-day equity of one session (002 ``active_strategy_snapshots``)."""

    __tablename__ = "session_snapshots"
    __table_args__ = (
        UniqueConstraint("session_id", "snapshot_date"),
        Index("ix_session_snapshots_snapshot_date", text("snapshot_date DESC")),
    )

    id: Mapped[uuid_pk]
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("trading_sessions.id", ondelete="CASCADE"))
    snapshot_date: Mapped[date] = mapped_column(Date)
    equity: Mapped[Decimal] = mapped_column(Money)
    holdings: Mapped[list[Any] | None] = mapped_column(JSONB)
    daily_return: Mapped[Decimal | None] = mapped_column(Ratio)
    cumulative_return: Mapped[Decimal | None] = mapped_column(Ratio)
    created_at: Mapped[created_ts]


class StrategyPerformance(Base):
    """Daily performance of a strategy across its sessions (004)."""

    __tablename__ = "strategy_performance"
    __table_args__ = (
        UniqueConstraint("strategy_id", "date"),
        CheckConstraint(
            "winning_trades >= 0 AND losing_trades >= 0 AND winning_trades + losing_trades <= total_trades",
            name="trade_counts",
        ),
        CheckConstraint("win_rate IS NULL OR (win_rate >= 0 AND win_rate <= 100)", name="win_rate_pct"),
        Index("ix_strategy_performance_date", "date"),
    )

    id: Mapped[uuid_pk]
    strategy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("strategies.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    date: Mapped[date] = mapped_column(Date)
    total_trades: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    winning_trades: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    losing_trades: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    total_pnl: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    max_drawdown: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    sharpe_ratio: Mapped[Decimal | None] = mapped_column(Numeric(10, 4))
    win_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]


SIGNAL_ACTIONS = tuple(SignalAction)
SIGNAL_STATUSES = tuple(SignalStatus)


class Signal(Base):
    """A strategy's trade intent (000/001); the ledger turns it into an order or rejects it."""

    __tablename__ = "signals"
    __table_args__ = (
        CheckConstraint(enum_check("action", SIGNAL_ACTIONS), name="action"),
        CheckConstraint(enum_check("status", SIGNAL_STATUSES), name="status"),
        CheckConstraint("confidence IS NULL OR (confidence >= 0 AND confidence <= 1)", name="confidence_range"),
        CheckConstraint("quantity IS NULL OR quantity > 0", name="quantity_positive"),
        Index("ix_signals_session_id_generated_at", "session_id", "generated_at"),
        Index("ix_signals_status", "status", postgresql_where=text("status = 'PENDING'")),
    )

    id: Mapped[uuid_pk]
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("trading_sessions.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    symbol: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Decimal | None] = mapped_column(Quantity)
    confidence: Mapped[Decimal | None] = mapped_column(Numeric(4, 3))
    bar_timestamp: Mapped[tstz | None]
    generated_at: Mapped[created_ts]
    processed_at: Mapped[tstz | None]
    status: Mapped[str] = mapped_column(String(10), server_default="PENDING")
    reason: Mapped[str | None] = mapped_column(Text)
    # "metadata" is reserved by SQLAlchemy's declarative API; the column keeps the seed's name.
    signal_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default=text("'{}'::jsonb"))


ORDER_SIDES = tuple(OrderSide)
ORDER_TYPES = tuple(OrderType)
TIME_IN_FORCE = tuple(TimeInForce)
ORDER_CLASSES = tuple(OrderClass)
ORDER_STATUSES = tuple(LedgerOrderStatus)  # "pending": written, risk-checked and reserved; not yet at the broker
ORDER_LEG_ROLES = ("entry", "take_profit", "stop_loss")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(enum_check("side", ORDER_SIDES), name="side"),
        CheckConstraint(enum_check("order_type", ORDER_TYPES), name="order_type"),
        CheckConstraint(enum_check("time_in_force", TIME_IN_FORCE), name="time_in_force"),
        CheckConstraint(enum_check("order_class", ORDER_CLASSES), name="order_class"),
        CheckConstraint(enum_check("status", ORDER_STATUSES), name="status"),
        CheckConstraint("leg_role IS NULL OR " + enum_check("leg_role", ORDER_LEG_ROLES), name="leg_role"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("filled_quantity >= 0 AND filled_quantity <= quantity", name="filled_quantity_range"),
        CheckConstraint("reserved_amount >= 0", name="reserved_amount_non_negative"),
        CheckConstraint("fees >= 0", name="fees_non_negative"),
        CheckConstraint(
            "order_type NOT IN ('limit', 'stop_limit') OR limit_price IS NOT NULL",
            name="limit_price_required",
        ),
        CheckConstraint(
            "order_type NOT IN ('stop', 'stop_limit') OR stop_price IS NOT NULL", name="stop_price_required"
        ),
        CheckConstraint(
            "(limit_price IS NULL OR limit_price > 0) AND (stop_price IS NULL OR stop_price > 0)"
            " AND (take_profit_price IS NULL OR take_profit_price > 0)"
            " AND (stop_loss_price IS NULL OR stop_loss_price > 0)",
            name="prices_positive",
        ),
        Index(
            "ix_orders_open",
            "user_id",
            postgresql_where=text(
                "status IN ('pending', 'submitted', 'accepted', 'partially_filled', 'pending_cancel')"
            ),
        ),
        Index("ix_orders_user_id_symbol_created_at", "user_id", "symbol", "created_at"),  # duplicate-order guard
        # Partial: these columns are NULL on many orders, and every reader asks for a value (migration 0009).
        Index("ix_orders_submitted_at", text("submitted_at DESC"), postgresql_where=text("submitted_at IS NOT NULL")),
        *(
            Index(f"ix_orders_{column}", column, postgresql_where=text(f"{column} IS NOT NULL"))
            for column in ("session_id", "signal_id", "parent_order_id")
        ),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("trading_sessions.id", ondelete="SET NULL"))
    signal_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("signals.id", ondelete="SET NULL"))
    strategy_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("strategies.id", ondelete="SET NULL"))
    broker_connection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("broker_connections.id", ondelete="SET NULL")
    )
    parent_order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    # The club order request it was placed for (migration 0012): unique, so a request is never placed twice.
    request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("order_requests.id", ondelete="SET NULL"), unique=True
    )
    leg_role: Mapped[str | None] = mapped_column(String(12))
    # The id we send to the broker; unique and traceable back to this row.
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    broker_order_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    broker: Mapped[str] = mapped_column(String(20), server_default="sim")
    symbol: Mapped[str] = mapped_column(String(20))
    exchange: Mapped[str | None] = mapped_column(String(20))
    asset_class: Mapped[str] = mapped_column(String(20), server_default="us_equity")
    side: Mapped[str] = mapped_column(String(4))
    order_type: Mapped[str] = mapped_column(String(12))
    time_in_force: Mapped[str] = mapped_column(String(4), server_default="day")
    order_class: Mapped[str] = mapped_column(String(8), server_default="simple")
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    limit_price: Mapped[Decimal | None] = mapped_column(Money)
    stop_price: Mapped[Decimal | None] = mapped_column(Money)
    take_profit_price: Mapped[Decimal | None] = mapped_column(Money)  # 004 "target"
    stop_loss_price: Mapped[Decimal | None] = mapped_column(Money)  # 004 "stoploss"
    extended_hours: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    reserved_amount: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    filled_quantity: Mapped[Decimal] = mapped_column(Quantity, server_default=text("0"))
    filled_avg_price: Mapped[Decimal | None] = mapped_column(Money)
    fees: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    error_message: Mapped[str | None] = mapped_column(Text)
    order_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]
    submitted_at: Mapped[tstz | None]
    filled_at: Mapped[tstz | None]
    canceled_at: Mapped[tstz | None]


FILL_SOURCES = ("ledger", "broker_synced", "csv_import", "manual")
ASSET_TYPES = ("equity", "etf", "option", "crypto")


class Fill(Base):
    """One execution, attributed to one user; never updated (a trigger enforces it)."""

    __tablename__ = "fills"
    __table_args__ = (
        CheckConstraint(enum_check("side", ORDER_SIDES), name="side"),
        CheckConstraint(enum_check("source", FILL_SOURCES), name="source"),
        CheckConstraint(enum_check("asset_type", ASSET_TYPES), name="asset_type"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("fees >= 0", name="fees_non_negative"),
        CheckConstraint("source <> 'ledger' OR order_id IS NOT NULL", name="ledger_fill_has_order"),
        # 003: a broker trade id is unique per account ...
        UniqueConstraint("user_id", "execution_id"),
        # ... and an execution of the shared broker account belongs to exactly one user.
        Index(
            "uq_fills_ledger_execution_id",
            "execution_id",
            unique=True,
            postgresql_where=text("source = 'ledger'"),
        ),
        Index("ix_fills_user_id_executed_at", "user_id", "executed_at"),
        # The ledger's own fills of a user since a time: the daily loss rule reads it on every placement.
        Index(
            "ix_fills_ledger_user_id_executed_at", "user_id", "executed_at", postgresql_where=text("source = 'ledger'")
        ),
        Index("ix_fills_user_id_symbol_executed_at", "user_id", "symbol", "executed_at"),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # NO ACTION (not CASCADE): an order that has fills cannot be deleted on its own.
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"), index=True)
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("trading_sessions.id", ondelete="SET NULL"))
    signal_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("signals.id", ondelete="SET NULL"))
    broker_connection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("broker_connections.id", ondelete="SET NULL")
    )
    execution_id: Mapped[str] = mapped_column(String(255))  # broker execution / trade id
    broker_order_id: Mapped[str | None] = mapped_column(String(255))  # 000/001 alpaca_order_id
    symbol: Mapped[str] = mapped_column(String(20))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    price: Mapped[Decimal] = mapped_column(Money)
    fees: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    realized_pnl: Mapped[Decimal | None] = mapped_column(Money)
    executed_at: Mapped[datetime]
    broker: Mapped[str | None] = mapped_column(String(100))
    asset_type: Mapped[str] = mapped_column(String(20), server_default="equity")
    currency: Mapped[str] = mapped_column(String(10), server_default="USD")
    venue: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(20), server_default="ledger")
    import_batch_id: Mapped[uuid.UUID | None] = mapped_column()
    raw_data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[created_ts]


POSITION_STATUSES = ("OPEN", "CLOSED")


class Position(Base):
    """A user's virtual holding of one symbol (negative when short); quantity 0 with status CLOSED once flat."""

    __tablename__ = "positions"
    __table_args__ = (
        UniqueConstraint("user_id", "symbol"),
        CheckConstraint(enum_check("status", POSITION_STATUSES), name="status"),
        CheckConstraint("average_entry_price >= 0", name="average_entry_price_non_negative"),
        # Signed (migration 0011): a short has a negative quantity and a negative cost basis.
        CheckConstraint(
            "(quantity >= 0 AND cost_basis >= 0) OR (quantity < 0 AND cost_basis <= 0)", name="cost_basis_sign"
        ),
        CheckConstraint("(status = 'CLOSED') = (quantity = 0)", name="status_matches_quantity"),
        Index("ix_positions_user_id_status", "user_id", "status"),
        Index("ix_positions_symbol", "symbol"),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("trading_sessions.id", ondelete="SET NULL"))
    symbol: Mapped[str] = mapped_column(String(20))
    exchange: Mapped[str | None] = mapped_column(String(20))
    asset_class: Mapped[str] = mapped_column(String(20), server_default="us_equity")
    quantity: Mapped[Decimal] = mapped_column(Quantity, server_default=text("0"))
    average_entry_price: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    # Exact money paid for the shares held (sum of fill notionals less what sells removed); for a short, minus
    # what its sales brought in. The average price is derived from it for display; the ledger invariant uses
    # this exact figure.
    cost_basis: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    realized_pnl: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    status: Mapped[str] = mapped_column(String(10), server_default="CLOSED")
    opened_at: Mapped[tstz | None]
    closed_at: Mapped[tstz | None]
    position_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]  # 000/001 "last_updated"


POSITION_ACTIONS = ("OPEN", "CLOSE", "INCREASE", "DECREASE", "REVERSE")  # REVERSE: long to short or back


class PositionHistory(Base):
    """Every change of a position, one row per fill that touched it (004)."""

    __tablename__ = "position_history"
    __table_args__ = (
        CheckConstraint(enum_check("action", POSITION_ACTIONS), name="action"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_position_history_position_id_timestamp", "position_id", "timestamp"),
    )

    id: Mapped[uuid_pk]
    position_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("positions.id", ondelete="CASCADE"))
    fill_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("fills.id", ondelete="SET NULL"), unique=True)
    action: Mapped[str] = mapped_column(String(10))
    quantity: Mapped[Decimal] = mapped_column(Quantity)  # size of the change
    price: Mapped[Decimal] = mapped_column(Money)
    quantity_after: Mapped[Decimal] = mapped_column(Quantity)
    average_price_after: Mapped[Decimal] = mapped_column(Money)
    pnl: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))  # realized by this change
    timestamp: Mapped[datetime]
