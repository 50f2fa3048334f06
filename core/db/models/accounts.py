"""Users and everything that belongs to one user's account (seeds 000-004).

``users`` merges 000/001 ``users`` (virtual balance), 002 ``users`` (Discord
OAuth, preferences), 003 ``user_accounts`` (Google OAuth, personal details) and
004 ``users`` (role, is_active, last login). The virtual-account columns
(cash, reserved, starting balance, realized P&L, fees) live on this row so the
ledger can lock exactly one row per user when it places an order.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db.base import Base, Money, created_ts, enum_check, tstz, updated_ts, uuid_pk

USER_ROLES = ("trader", "investor", "admin")
DEFAULT_VIRTUAL_BALANCE = Decimal("100000")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(enum_check("role", USER_ROLES), name="role"),
        CheckConstraint("reserved_balance >= 0", name="reserved_balance_non_negative"),
        CheckConstraint("starting_balance > 0", name="starting_balance_positive"),
        CheckConstraint("fees_paid >= 0", name="fees_paid_non_negative"),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        Index("ix_users_role", "role"),
        Index("ix_users_is_active", "is_active"),
    )

    id: Mapped[uuid_pk]
    email: Mapped[str] = mapped_column(String(255), unique=True)
    username: Mapped[str] = mapped_column(String(50))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), server_default="trader")
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    display_name: Mapped[str | None] = mapped_column(String(255))
    # Virtual account (000/001): cash available (it may dip below zero only when a real fill costs more
    # than its reservation, e.g. a market order gapping up), cash held by open orders,
    # the balance the account started from, and the running totals the ledger
    # invariant needs: cash + reserved + cost(positions) - realized + fees = start.
    virtual_balance: Mapped[Decimal] = mapped_column(Money, server_default=text("100000"))
    reserved_balance: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    starting_balance: Mapped[Decimal] = mapped_column(Money, server_default=text("100000"))
    realized_pnl: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    fees_paid: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    # The daily loss rule's input, kept by sf_apply_event (migration 0008) so that a placement reads it
    # instead of summing the day's fills: the UTC date of the latest booked ledger fill, and the realized
    # P&L net of fees of that date's ledger fills.
    realized_day: Mapped[date | None] = mapped_column(Date)
    realized_day_pnl: Mapped[Decimal] = mapped_column(Money, server_default=text("0"))
    # External identities (002 Discord, 003 Google); optional for local accounts.
    discord_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    google_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    external_user_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    auth_provider: Mapped[str] = mapped_column(String(50), server_default="local")
    avatar_url: Mapped[str | None] = mapped_column(Text)
    # Personal details (003), all optional.
    phone: Mapped[str | None] = mapped_column(String(50))
    address: Mapped[str | None] = mapped_column(Text)
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(20))
    preferences: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]
    last_login_at: Mapped[tstz | None]

    profile: Mapped[UserProfile] = relationship(back_populates="user", uselist=False, passive_deletes=True)
    risk_settings: Mapped[RiskSettings] = relationship(back_populates="user", uselist=False, passive_deletes=True)


# Usernames are unique regardless of case so "Alice" and "alice" cannot both log in.
# (cast: SQLAlchemy types a mapped class's __table__ as any FromClause; a class with a __tablename__ maps a Table)
Index("uq_users_username_lower", text("lower(username)"), unique=True, _table=cast(Table, User.__table__))


class UserProfile(Base):
    """Trading, risk and site preferences (003), one row per user."""

    __tablename__ = "user_profiles"

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    profile: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    risk_profile: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    site_prefs: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    user: Mapped[User] = relationship(back_populates="profile")


class UserRule(Base):
    """A user's custom behavioural rule (003), read by the journal's checks."""

    __tablename__ = "user_rules"
    __table_args__ = (UniqueConstraint("user_id", "rule_code"),)

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    rule_code: Mapped[str] = mapped_column(String(50))
    evaluator: Mapped[str] = mapped_column(String(100))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    is_enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]


class RiskSettings(Base):
    """Pre-trade risk limits (004), the defaults of the ledger's risk rule chain."""

    __tablename__ = "risk_settings"
    __table_args__ = (
        CheckConstraint("daily_loss_limit >= 0", name="daily_loss_limit_non_negative"),
        CheckConstraint("max_position_size > 0", name="max_position_size_positive"),
        CheckConstraint("max_order_value > 0", name="max_order_value_positive"),
        CheckConstraint("max_open_orders > 0", name="max_open_orders_positive"),
        CheckConstraint("max_drawdown_percent > 0 AND max_drawdown_percent <= 100", name="max_drawdown_pct"),
        CheckConstraint("max_risk_per_trade > 0 AND max_risk_per_trade <= 100", name="max_risk_per_trade_pct"),
        CheckConstraint("duplicate_window_seconds >= 0", name="duplicate_window_non_negative"),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    daily_loss_limit: Mapped[Decimal] = mapped_column(Money)
    max_position_size: Mapped[Decimal] = mapped_column(Money)  # market value of one symbol, in dollars
    max_order_value: Mapped[Decimal] = mapped_column(Money)
    max_open_orders: Mapped[int] = mapped_column(Integer)
    max_drawdown_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    max_risk_per_trade: Mapped[Decimal] = mapped_column(Numeric(5, 2))  # percent of equity
    duplicate_window_seconds: Mapped[int] = mapped_column(Integer, server_default=text("5"))
    allow_fractional: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]

    user: Mapped[User] = relationship(back_populates="risk_settings")


class LoginSession(Base):
    """A login (004 ``user_sessions``): only the SHA-256 of the token is stored."""

    __tablename__ = "login_sessions"
    __table_args__ = (CheckConstraint("expires_at > created_at", name="expires_after_creation"),)

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    remember: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[created_ts]
    last_seen_at: Mapped[tstz | None]
    revoked_at: Mapped[tstz | None]
    ip_address: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(Text)


WAITLIST_STATUSES = ("waiting", "approved", "rejected")


class WaitlistEntry(Base):
    """People asking to join the club's shared database (003); an admin approves them."""

    __tablename__ = "waitlist"
    __table_args__ = (
        CheckConstraint(enum_check("status", WAITLIST_STATUSES), name="status"),
        CheckConstraint(
            "(auth_provider IS NULL AND provider_subject IS NULL) OR "
            "(auth_provider IN ('google', 'discord') AND provider_subject IS NOT NULL)",
            name="identity",
        ),
    )

    id: Mapped[uuid_pk]
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(20), server_default="waiting", index=True)
    referral_source: Mapped[str | None] = mapped_column(String(255))
    notes: Mapped[str | None] = mapped_column(Text)
    # A club sign-up (migration 0012): the login name asked for and PostgreSQL's SCRAM verifier of the password
    # (never the password), and, once approved, the user it became.
    username: Mapped[str | None] = mapped_column(String(50))
    password_verifier: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[tstz | None]
    # A request filed by signing in with Google or Discord (migration 0015): the provider and its subject id, linked
    # to the user when the admin approves the request.
    auth_provider: Mapped[str | None] = mapped_column(String(50))
    provider_subject: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]


BROKERS = ("alpaca", "snaptrade", "csv", "sim", "zerodha", "angel", "icici")


class BrokerConnection(Base):
    """A broker link: 002 Alpaca keys, 004 ``brokers``, 003 ``snaptrade_users`` + ``broker_connections``.

    Secrets normally stay in the OS keyring (``keyring_service``/``keyring_username``
    name the entry); when one must be shared through the database it is stored
    encrypted in ``credentials_encrypted``, never in clear.
    """

    __tablename__ = "broker_connections"
    __table_args__ = (
        CheckConstraint(enum_check("broker", BROKERS), name="broker"),
        UniqueConstraint("user_id", "label"),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    broker: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(100))
    is_paper: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    api_key_id: Mapped[str | None] = mapped_column(String(255))
    credentials_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    keyring_service: Mapped[str | None] = mapped_column(String(255))
    keyring_username: Mapped[str | None] = mapped_column(String(255))
    external_user_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    brokerage_name: Mapped[str | None] = mapped_column(String(100))
    brokerage_slug: Mapped[str | None] = mapped_column(String(50))
    authorization_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[created_ts]
    updated_at: Mapped[updated_ts]
