"""Reading a user's books in one statement, so balances and positions come from one snapshot
(two statements could straddle a fill and show equity off by that fill)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg

_READ_BOOKS = """
SELECT u.starting_balance, u.virtual_balance, u.reserved_balance, u.realized_pnl, u.fees_paid,
       p.symbols, p.quantities, p.averages, p.costs, p.realized, p.opened
  FROM users u
 CROSS JOIN LATERAL (
        SELECT array_agg(symbol ORDER BY symbol) AS symbols,
               array_agg(quantity ORDER BY symbol) AS quantities,
               array_agg(average_entry_price ORDER BY symbol) AS averages,
               array_agg(cost_basis ORDER BY symbol) AS costs,
               array_agg(realized_pnl ORDER BY symbol) AS realized,
               array_agg(opened_at ORDER BY symbol) AS opened
          FROM positions WHERE user_id = u.id AND status = 'OPEN') p
 WHERE u.id = %s
"""


@dataclass(frozen=True)
class HeldPosition:
    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
    cost_basis: Decimal
    realized_pnl: Decimal
    opened_at: datetime | None


@dataclass(frozen=True)
class Books:
    starting_balance: Decimal
    cash: Decimal
    reserved: Decimal
    realized_pnl: Decimal
    fees: Decimal
    positions: tuple[HeldPosition, ...]  # open ones, by symbol


def read_books(conn: psycopg.Connection, user_id: uuid.UUID) -> Books | None:
    """None when the account does not exist."""
    row = conn.execute(_READ_BOOKS, (user_id,), prepare=True).fetchone()
    if row is None:
        return None
    starting, cash, reserved, realized, fees, *columns = row
    positions = tuple(HeldPosition(*fields) for fields in zip(*(c or () for c in columns), strict=True))
    return Books(starting, cash, reserved, realized, fees, positions)
