"""The ledger invariant of DESIGN.md, checked from the stored rows alone.

For every user: cash + reserved + cost of positions - realized P&L + fees = starting balance,
and the reserved balance equals what that user's orders still hold.

Cost bases are signed like quantities (migration 0011): a short's is negative, minus what its sale brought into
cash, so the same sum holds with shorts: a short sale adds its proceeds to cash and takes them off the cost, and
covering pays cash, gives the covered cost back and realizes the difference. Also checked, because the daily loss
rule reads it instead of the fills: the day's realized P&L kept on the user's row equals that of the user's
ledger fills of that (UTC) day.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.models import Fill, Order, Position, User
from core.ledger.history import LEDGER_SOURCE


@dataclass(frozen=True)
class InvariantReport:
    user_id: uuid.UUID
    balance_gap: Decimal  # starting - (cash + reserved + cost - realized + fees); 0 when the books add up
    reservation_gap: Decimal  # reserved_balance - sum(orders.reserved_amount)
    day_pnl_gap: Decimal  # realized_day_pnl - the same summed over that day's ledger fills

    @property
    def holds(self) -> bool:
        return self.balance_gap == 0 and self.reservation_gap == 0 and self.day_pnl_gap == 0


def check_user(session: Session, user_id: uuid.UUID) -> InvariantReport:
    user = session.get(User, user_id, populate_existing=True)
    if user is None:
        raise ValueError(f"no user {user_id}")
    # (an aggregate without GROUP BY returns exactly one row, and coalesce makes its value never NULL)
    cost = session.execute(
        select(func.coalesce(func.sum(Position.cost_basis), 0)).where(Position.user_id == user_id)
    ).scalar_one()
    held = session.execute(
        select(func.coalesce(func.sum(Order.reserved_amount), 0)).where(Order.user_id == user_id)
    ).scalar_one()
    books = user.virtual_balance + user.reserved_balance + cost - user.realized_pnl + user.fees_paid
    day_pnl = Decimal(0)
    if user.realized_day is not None:
        day = func.date(func.timezone("UTC", Fill.executed_at))
        day_pnl = session.execute(
            select(func.coalesce(func.sum(func.coalesce(Fill.realized_pnl, 0) - Fill.fees), 0)).where(
                Fill.user_id == user_id, Fill.source == LEDGER_SOURCE, day == user.realized_day
            )
        ).scalar_one()
    return InvariantReport(
        user_id, user.starting_balance - books, user.reserved_balance - held, user.realized_day_pnl - day_pnl
    )


def check_all(session: Session) -> list[InvariantReport]:
    return [check_user(session, uid) for uid in session.scalars(select(User.id))]
