"""Journal fills: every execution of a trader, whatever booked it, as one immutable value.

The ledger's own fills (``source = 'ledger'``) and imported broker history (``csv_import``, ``broker_synced``,
``manual``) live in one table, ``fills``. The journal reads them all: behaviour is the trader's, wherever the
trade happened. (The ledger, conversely, counts only its own fills: only those moved the virtual account.)

One order of fills is used everywhere the journal replays them (campaigns, FIFO P&L, the pre-trade state
query): ``executed_at``, then ``created_at`` (the order rows were written: a CSV import stamps its rows in
file order), then ``execution_id`` (byte order, PostgreSQL ``COLLATE "C"``), then ``id``. Every key is fixed
once a fill is stored, so a rebuild always groups the same way.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import DecisionContext, Fill
from core.domain.symbols import normalize_symbol
from core.journal._common import utc

BUY, SELL = "buy", "sell"
SIDES = (BUY, SELL)

# The same order in SQL as ``JournalFill.sort_key`` (execution ids compared byte-wise, as Python compares str).
SQL_FILL_ORDER = 'f.executed_at, f.created_at, f.execution_id COLLATE "C", f.id'


@dataclass(frozen=True)
class JournalFill:
    """One execution. ``quantity`` is positive; ``side`` says which way."""

    id: uuid.UUID
    symbol: str
    side: str  # "buy" | "sell"
    quantity: Decimal
    price: Decimal
    fees: Decimal
    executed_at: datetime
    created_at: datetime | None = None
    execution_id: str = ""
    source: str = "ledger"
    order_id: uuid.UUID | None = None
    import_batch_id: uuid.UUID | None = None

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity if self.side == BUY else -self.quantity

    @property
    def sort_key(self) -> tuple:
        return (self.executed_at, self.created_at or self.executed_at, self.execution_id, self.id)


_COLUMNS = (
    Fill.id,
    Fill.symbol,
    Fill.side,
    Fill.quantity,
    Fill.price,
    Fill.fees,
    Fill.executed_at,
    Fill.created_at,
    Fill.execution_id,
    Fill.source,
    Fill.order_id,
    Fill.import_batch_id,
)


def fill_from_row(row) -> JournalFill:
    return JournalFill(
        id=row.id,
        symbol=row.symbol,
        side=row.side,
        quantity=row.quantity,
        price=row.price,
        fees=row.fees,
        executed_at=utc(row.executed_at),
        created_at=utc(row.created_at) if row.created_at is not None else None,
        execution_id=row.execution_id,
        source=row.source,
        order_id=row.order_id,
        import_batch_id=row.import_batch_id,
    )


def fills_query(user_id: uuid.UUID, symbol: str | None = None) -> Select:
    """The user's fills (optionally one symbol's) in replay order."""
    query = select(*_COLUMNS).where(Fill.user_id == user_id)
    if symbol is not None:
        query = query.where(Fill.symbol == symbol)
    return query.order_by(Fill.executed_at, Fill.created_at, Fill.execution_id.collate("C"), Fill.id)


def load_fills(session: Session, user_id: uuid.UUID, symbol: str | None = None) -> list[JournalFill]:
    return [fill_from_row(r) for r in session.execute(fills_query(user_id, symbol))]


def get_fill(session: Session, user_id: uuid.UUID, fill_id: uuid.UUID) -> JournalFill | None:
    """The user's fill, or None (also when it belongs to someone else)."""
    row = session.execute(select(*_COLUMNS).where(Fill.id == fill_id, Fill.user_id == user_id)).one_or_none()
    return fill_from_row(row) if row is not None else None


@dataclass(frozen=True)
class JournalFillRow:
    """A fill as the journal's fill list shows it: the execution and whether it has a decision context."""

    fill: JournalFill
    decision_context_id: uuid.UUID | None
    context_type: str | None


def list_fills(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    *,
    symbol: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    sources: tuple[str, ...] | None = None,
    limit: int = 500,
) -> list[JournalFillRow]:
    """The user's fills, newest first (one query). ``since`` inclusive, ``until`` exclusive."""
    query = (
        select(*_COLUMNS, DecisionContext.id.label("context_id"), DecisionContext.context_type)
        .outerjoin(DecisionContext, (DecisionContext.fill_id == Fill.id) & (DecisionContext.user_id == user_id))
        .where(Fill.user_id == user_id)
    )
    if symbol is not None:
        query = query.where(Fill.symbol == normalize_symbol(symbol))
    if since is not None:
        query = query.where(Fill.executed_at >= since)
    if until is not None:
        query = query.where(Fill.executed_at < until)
    if sources:
        query = query.where(Fill.source.in_(sources))
    query = query.order_by(
        Fill.executed_at.desc(), Fill.created_at.desc(), Fill.execution_id.collate("C").desc(), Fill.id.desc()
    ).limit(limit)
    with session_factory() as s:
        return [JournalFillRow(fill_from_row(r), r.context_id, r.context_type) for r in s.execute(query)]
