"""Booking a brokerage sync into the journal: the trades as fills and the connection's snapshot, one transaction.

Synced fills are ``source = 'broker_synced'`` rows of ``fills``, immutable like every fill, attributed to the
trader's ``broker_connections`` row (``broker_connection_id``) with the brokerage's name in ``venue`` and the
broker's own answer in ``raw_data``. Like CSV imports (``fill_import.py``) they never touch the virtual account:
the ledger's cash, positions, P&L and risk limits read only ``source = 'ledger'`` fills; the journal reads them all,
so the trader's campaigns are rebuilt in the same transaction.

Re-syncing adds nothing: a fill's execution id is ``<broker>:<account id>:<the broker's transaction id>`` and
``(user_id, execution_id)`` is unique, so a transaction booked before is counted as already synced. The namespace
keeps a broker's raw id from ever colliding with a ledger fill's (the ledger books with ``ON CONFLICT DO NOTHING``
on the same pair, so a collision would make it skip a real fill). An id too long for the column is hashed.

The snapshot (``BrokerConnection.meta``: positions per account, their sync time, the connections) is written in the
same transaction as the fills, so a sync lands whole or not at all. In a club this runs as the trader's own role:
row-level security lets it insert only its own non-ledger fills without an order (``trader_import``) that name its
own connection row, and update only its own ``broker_connections`` row.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import BrokerConnection, Fill
from core.journal._common import json_safe, lock_user_journal
from core.journal.campaign_store import rebuild_in_session
from core.journal.errors import InvalidJournalInput, NotFound

SYNCED_SOURCE = "broker_synced"
MAX_EXECUTION_ID = 255
_CHUNK = 1000


@dataclass(frozen=True)
class SyncedTrade:
    """One execution reported by a brokerage, checked by its adapter (positive quantity and price, aware time)."""

    account_id: str
    trade_id: str  # the broker's own id for it; namespaced before it is stored
    symbol: str
    side: str  # buy | sell
    quantity: Decimal
    price: Decimal
    fees: Decimal
    executed_at: datetime
    venue: str | None = None  # the brokerage's name
    asset_type: str = "equity"
    currency: str | None = None
    broker_order_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise InvalidJournalInput(f"A synced trade's side is buy or sell, not {self.side!r}.")
        if self.quantity <= 0 or self.price <= 0 or self.fees < 0:
            raise InvalidJournalInput("A synced trade needs a positive quantity and price and no negative fees.")
        if self.executed_at.tzinfo is None:
            raise InvalidJournalInput("A synced trade's time must carry its zone.")
        if not self.account_id or not self.trade_id:
            raise InvalidJournalInput("A synced trade needs its account and transaction ids.")


@dataclass(frozen=True)
class SyncBooking:
    """What one booking stored: the new fills' ids (oldest first) and how many were there already."""

    fill_ids: tuple[uuid.UUID, ...]
    already_synced: int

    @property
    def new(self) -> int:
        return len(self.fill_ids)


def execution_id(broker: str, account_id: str, trade_id: str) -> str:
    """``<broker>:<account>:<trade>``; hashed when longer than the column (the same input, the same id)."""
    plain = f"{broker}:{account_id}:{trade_id}"
    if len(plain) <= MAX_EXECUTION_ID:
        return plain
    return f"{broker}:h:{hashlib.sha256(plain.encode()).hexdigest()}"


def book_synced_fills(
    session_factory: sessionmaker[Session],
    user_id: uuid.UUID,
    connection_id: uuid.UUID,
    trades: Sequence[SyncedTrade],
    *,
    meta: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> SyncBooking:
    """Store ``trades`` not booked yet as fills of ``connection_id`` and replace the connection's ``meta`` (when
    given), in one transaction (blocking: a worker thread). NotFound when the connection is not the user's."""
    now = now or datetime.now(UTC)
    with session_factory() as s:
        connection = s.execute(
            select(BrokerConnection.id, BrokerConnection.broker)
            .where(BrokerConnection.id == connection_id, BrokerConnection.user_id == user_id)
            .with_for_update()  # two syncs of one link take turns; the second finds the first's fills
        ).one_or_none()
        if connection is None:
            raise NotFound("That brokerage link no longer exists.")
        lock_user_journal(s, user_id)
        inserted = _insert(s, user_id, connection_id, connection.broker, trades, now)
        if inserted:
            rebuild_in_session(s, user_id)
        if meta is not None:
            s.execute(
                update(BrokerConnection)
                .where(BrokerConnection.id == connection_id, BrokerConnection.user_id == user_id)
                .values(meta=json_safe(dict(meta)))
            )
        s.commit()
    return SyncBooking(fill_ids=tuple(inserted), already_synced=len({_key(connection.broker, t) for t in trades}) -
                       len(inserted))  # fmt: skip


def _key(broker: str, trade: SyncedTrade) -> str:
    return execution_id(broker, trade.account_id, trade.trade_id)


def _insert(session: Session, user_id: uuid.UUID, connection_id: uuid.UUID, broker: str,
            trades: Sequence[SyncedTrade], now: datetime) -> list[uuid.UUID]:  # fmt: skip
    """Insert the trades not stored yet, oldest first; the new fills' ids in that order. ``trades`` come in the
    broker's chronological order: the sort is stable, so trades at one time (a date-only day) keep it."""
    ordered = sorted(trades, key=lambda t: t.executed_at)
    rows: dict[str, dict[str, Any]] = {}
    for trade in ordered:
        key = _key(broker, trade)
        if key in rows:
            continue  # the same transaction twice in one answer (pages shifting under a new trade)
        rows[key] = {
            "id": uuid.uuid4(),
            "user_id": user_id,
            "broker_connection_id": connection_id,
            "execution_id": key,
            "broker_order_id": (trade.broker_order_id or None) and trade.broker_order_id[:255],
            "symbol": trade.symbol,
            "side": trade.side,
            "quantity": trade.quantity,
            "price": trade.price,
            "fees": trade.fees,
            "executed_at": trade.executed_at,
            "broker": broker,
            "venue": (trade.venue or None) and trade.venue[:100],
            "asset_type": trade.asset_type,
            "currency": (trade.currency or "USD")[:10],
            "source": SYNCED_SOURCE,
            "raw_data": json_safe({"account_id": trade.account_id, "activity": dict(trade.raw)}),
            "created_at": now + timedelta(microseconds=len(rows)),  # equal times replay in the broker's order
        }
    values = list(rows.values())
    inserted: dict[uuid.UUID, None] = {}
    for start in range(0, len(values), _CHUNK):
        stmt = (
            insert(Fill)
            .values(values[start : start + _CHUNK])
            .on_conflict_do_nothing(index_elements=[Fill.user_id, Fill.execution_id])
            .returning(Fill.id)
        )
        inserted.update((fill_id, None) for (fill_id,) in session.execute(stmt))
    return [row["id"] for row in values if row["id"] in inserted]
