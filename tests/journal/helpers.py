"""Hand-made fills for the journal tests: pure values, and rows inserted straight into ``fills``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert

from core.db.models import Fill
from core.journal.fills import JournalFill

D = Decimal
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 New York


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def jf(n: int, side: str, qty: str, price: str, minute: float = 0, *, fees: str = "0", symbol: str = "AAPL",
       created: float | None = None, execution_id: str | None = None) -> JournalFill:  # fmt: skip
    """Fill number ``n`` (its id is UUID(int=n), so tests can name it)."""
    return JournalFill(
        id=uuid.UUID(int=n),
        symbol=symbol,
        side=side,
        quantity=D(qty),
        price=D(price),
        fees=D(fees),
        executed_at=at(minute),
        created_at=at(created if created is not None else minute),
        execution_id=execution_id or f"x{n:04d}",
    )


def fid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


def insert_fill(
    sessions, user_id: uuid.UUID, side: str, qty: str, price: str, when: datetime, *, fees: str = "0",
    symbol: str = "AAPL", source: str = "manual", execution_id: str | None = None,
) -> uuid.UUID:  # fmt: skip
    """A non-ledger fill (manual, broker-synced...) stored directly, as an import would."""
    fill_id = uuid.uuid4()
    with sessions() as s:
        s.execute(
            insert(Fill).values(
                id=fill_id, user_id=user_id, execution_id=execution_id or f"test:{fill_id}", symbol=symbol, side=side,
                quantity=D(qty), price=D(price), fees=D(fees), executed_at=when, source=source,
            )
        )  # fmt: skip
        s.commit()
    return fill_id
