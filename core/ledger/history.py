"""Read-only views of a user's order and fill history, for the portfolio panel and its chart markers.

Every query filters by ``user_id`` first: the database is shared by a whole club and a trader sees only their
own rows, whatever else is stored. Rows come back as frozen values (Decimal money, aware UTC times) so the
UI never holds ORM objects across threads.

The equity curve here is the *realized* curve, chosen because it is exact from what is stored: the ledger
keeps every fill (immutable, with its realized P&L and fees) but no price history of open positions, so a
marked-to-market curve between fills would have to be invented. Each point is the starting balance plus the
cumulative realized P&L minus the cumulative fees, at the time of a fill; the account's creation is the first
point. Cash paid for shares still held is not a loss, so the curve moves only when money is really made or
lost (a sell's realized P&L) or spent (fees). Only fills the ledger booked count: they are the ones that
moved the account's cash, so the curve ends exactly at starting balance + the user's realized P&L - fees.
The caller may append the current, marked-to-market equity as the last point (``current``), the one point
where open positions are valued at market.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import Fill, Order, User
from core.domain.orders import OPEN_LEDGER_STATUSES
from core.ledger.errors import LedgerError

# Only fills the ledger booked moved the virtual account's money (imported history never did).
LEDGER_SOURCE = "ledger"


@dataclass(frozen=True)
class OrderRow:
    """One of the user's orders as the order tables show it."""

    id: uuid.UUID
    symbol: str
    side: str  # "buy" | "sell"
    order_type: str  # "market" | "limit" | "stop" | "stop_limit"
    time_in_force: str
    qty: Decimal
    filled_qty: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    take_profit_price: Decimal | None
    stop_loss_price: Decimal | None
    status: str
    reserved: Decimal  # cash this order still holds
    filled_avg_price: Decimal | None
    created_at: datetime
    leg_role: str | None  # "take_profit" / "stop_loss" for a bracket's legs
    parent_order_id: uuid.UUID | None
    session_id: uuid.UUID | None
    error_message: str | None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_LEDGER_STATUSES


@dataclass(frozen=True)
class FillRow:
    """One execution booked to the user (what the trade history lists and the chart marks)."""

    id: uuid.UUID
    executed_at: datetime
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    fees: Decimal
    realized_pnl: Decimal | None  # None only for fills imported without it
    order_id: uuid.UUID | None
    session_id: uuid.UUID | None


class EquityPoint(NamedTuple):
    """(time, equity): unpacks like the plain pair the chart plots."""

    at: datetime
    equity: Decimal


_ORDER_COLUMNS = (
    Order.id,
    Order.symbol,
    Order.side,
    Order.order_type,
    Order.time_in_force,
    Order.quantity,
    Order.filled_quantity,
    Order.limit_price,
    Order.stop_price,
    Order.take_profit_price,
    Order.stop_loss_price,
    Order.status,
    Order.reserved_amount,
    Order.filled_avg_price,
    Order.created_at,
    Order.leg_role,
    Order.parent_order_id,
    Order.session_id,
    Order.error_message,
)

_FILL_COLUMNS = (
    Fill.id,
    Fill.executed_at,
    Fill.symbol,
    Fill.side,
    Fill.quantity,
    Fill.price,
    Fill.fees,
    Fill.realized_pnl,
    Fill.order_id,
    Fill.session_id,
)


def utc(value: datetime) -> datetime:
    """Times as the UI expects them: aware, in UTC (the driver returns the session's zone)."""
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _order_row(row: Sequence[Any]) -> OrderRow:
    values = list(row)
    values[14] = utc(values[14])
    return OrderRow(*values)


def _fill_row(row: Sequence[Any]) -> FillRow:
    values = list(row)
    values[1] = utc(values[1])
    return FillRow(*values)


def open_orders(session_factory: sessionmaker[Session], user_id: uuid.UUID) -> list[OrderRow]:
    """The user's working orders (pending, submitted, accepted, partially filled, pending cancel), oldest first."""
    query = (
        select(*_ORDER_COLUMNS)
        .where(Order.user_id == user_id, Order.status.in_(OPEN_LEDGER_STATUSES))
        .order_by(Order.created_at, Order.id)
    )
    with session_factory() as s:
        return [_order_row(r) for r in s.execute(query)]


def recent_orders(session_factory: sessionmaker[Session], user_id: uuid.UUID, limit: int = 100) -> list[OrderRow]:
    """The user's latest ``limit`` orders in any status, newest first."""
    query = (
        select(*_ORDER_COLUMNS)
        .where(Order.user_id == user_id)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(limit)
    )
    with session_factory() as s:
        return [_order_row(r) for r in s.execute(query)]


def trade_history(session_factory: sessionmaker[Session], user_id: uuid.UUID, limit: int = 500) -> list[FillRow]:
    """The user's latest ``limit`` fills, newest first."""
    query = (
        select(*_FILL_COLUMNS)
        .where(Fill.user_id == user_id, Fill.source == LEDGER_SOURCE)
        .order_by(Fill.executed_at.desc(), Fill.created_at.desc(), Fill.id.desc())
        .limit(limit)
    )
    with session_factory() as s:
        return [_fill_row(r) for r in s.execute(query)]


def equity_curve(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    *,
    current: tuple[datetime, Decimal] | None = None,
) -> list[EquityPoint]:
    """The realized equity curve (see the module docstring), oldest first.

    First point: (account created, starting balance), moved back to the first fill's time should a broker's
    clock have stamped that earlier. Then one point per distinct fill time: starting balance
    + cumulative (realized P&L - fees) of every fill up to and including that time. ``current`` (e.g.
    ``(now, portfolio.equity)``) is appended as the last, marked-to-market point; it is dropped if it is not
    later than the last fill (a clock behind the broker's must not draw the curve backwards in time)."""
    step = func.sum(func.coalesce(Fill.realized_pnl, 0) - Fill.fees)
    per_time = (
        select(Fill.executed_at, func.sum(step).over(order_by=Fill.executed_at))
        .where(Fill.user_id == user_id, Fill.source == LEDGER_SOURCE)
        .group_by(Fill.executed_at)
        .order_by(Fill.executed_at)
    )
    with session_factory() as s:
        account = s.execute(select(User.created_at, User.starting_balance).where(User.id == user_id)).one_or_none()
        if account is None:
            raise LedgerError("That account no longer exists.")
        created, starting = account
        changes = s.execute(per_time).all()
    # The start is the account's creation, or the first fill if a broker's clock stamped that earlier.
    start = min([utc(created), *(utc(at) for at, _ in changes[:1])])
    points = [EquityPoint(start, starting)]
    points += [EquityPoint(utc(at), starting + cumulative) for at, cumulative in changes]
    if current is not None and utc(current[0]) > points[-1].at:
        points.append(EquityPoint(utc(current[0]), current[1]))
    return points
