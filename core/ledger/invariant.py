"""The ledger invariant of DESIGN.md, checked from the stored rows alone.

For every user: cash + reserved + cost of positions - realized P&L + fees = starting balance,
and the reserved balance equals what that user's orders still hold.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.models import Order, Position, User


@dataclass(frozen=True)
class InvariantReport:
    user_id: uuid.UUID
    balance_gap: Decimal  # starting - (cash + reserved + cost - realized + fees); 0 when the books add up
    reservation_gap: Decimal  # reserved_balance - sum(orders.reserved_amount)

    @property
    def holds(self) -> bool:
        return self.balance_gap == 0 and self.reservation_gap == 0


def check_user(session: Session, user_id: uuid.UUID) -> InvariantReport:
    user = session.get(User, user_id, populate_existing=True)
    if user is None:
        raise ValueError(f"no user {user_id}")
    cost = session.scalar(select(func.coalesce(func.sum(Position.cost_basis), 0)).where(Position.user_id == user_id))
    held = session.scalar(select(func.coalesce(func.sum(Order.reserved_amount), 0)).where(Order.user_id == user_id))
    books = user.virtual_balance + user.reserved_balance + cost - user.realized_pnl + user.fees_paid
    return InvariantReport(user_id, user.starting_balance - books, user.reserved_balance - held)


def check_all(session: Session) -> list[InvariantReport]:
    return [check_user(session, uid) for uid in session.scalars(select(User.id))]
