"""The audit trail (002 ``api_usage_logs``, 004 ``trade_logs`` and ``system_logs``).

Append-only rows with a retention policy applied by a maintenance job, never by
the code paths that write them.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, created_ts, enum_check, uuid_pk

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class TradeLog(Base):
    """What happened to one order, step by step (004), for the order's audit trail."""

    __tablename__ = "trade_logs"
    __table_args__ = (
        CheckConstraint(enum_check("log_level", LOG_LEVELS), name="log_level"),
        Index("ix_trade_logs_created_at", "created_at"),
    )

    id: Mapped[uuid_pk]
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    log_level: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[created_ts]


class SystemLog(Base):
    """Application-wide events worth keeping (004): feed elections, reconciliation reports, crashes."""

    __tablename__ = "system_logs"
    __table_args__ = (
        CheckConstraint(enum_check("log_level", LOG_LEVELS), name="log_level"),
        Index("ix_system_logs_component_created_at", "component", "created_at"),
        Index("ix_system_logs_created_at", "created_at"),
    )

    id: Mapped[uuid_pk]
    # Who appended it (migration 0012): a trader's role may append and read its own, never change or delete.
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, server_default=text("sf_uid()")
    )
    component: Mapped[str] = mapped_column(String(50))
    log_level: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[created_ts]


class ApiUsageLog(Base):
    """One call to an external API (002); calls on the shared Alpaca account form the club's rate budget."""

    __tablename__ = "api_usage_logs"
    __table_args__ = (Index("ix_api_usage_logs_service_created_at", "service", "created_at"),)

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    service: Mapped[str] = mapped_column(String(30), server_default="alpaca")
    endpoint: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[created_ts]
