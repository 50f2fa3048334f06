"""Small read helpers shared by the ledger integration tests (SimBroker, Alpaca stand-in, crash recovery)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import func, select

from core.db.models import Fill, Order, Position, User
from core.ledger.invariant import check_user


def user_row(db, user_id: uuid.UUID) -> User:
    with db.session_factory() as s:
        return s.get(User, user_id)


def order_row(db, order_id: uuid.UUID) -> Order:
    with db.session_factory() as s:
        return s.get(Order, order_id)


def legs_of(db, parent_id: uuid.UUID) -> dict[str, Order]:
    with db.session_factory() as s:
        return {o.leg_role: o for o in s.scalars(select(Order).where(Order.parent_order_id == parent_id))}


def position(db, user_id: uuid.UUID, symbol: str = "AAPL") -> Position | None:
    with db.session_factory() as s:
        return s.scalar(select(Position).where(Position.user_id == user_id, Position.symbol == symbol))


def fills_of(db, order_id: uuid.UUID) -> list[Fill]:
    with db.session_factory() as s:
        return list(s.scalars(select(Fill).where(Fill.order_id == order_id).order_by(Fill.executed_at)))


def booked_qty(db, order_id: uuid.UUID) -> Decimal:
    with db.session_factory() as s:
        return s.scalar(select(func.coalesce(func.sum(Fill.quantity), 0)).where(Fill.order_id == order_id))


def fill_count(db, user_id: uuid.UUID | None = None) -> int:
    with db.session_factory() as s:
        q = select(func.count()).select_from(Fill)
        if user_id is not None:
            q = q.where(Fill.user_id == user_id)
        return s.scalar(q)


def assert_books_balance(db, *user_ids: uuid.UUID) -> None:
    with db.session_factory() as s:
        for uid in user_ids:
            report = check_user(s, uid)
            assert report.holds, report
