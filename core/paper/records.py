"""The session's rows: ``trading_sessions``, ``signals``, ``session_snapshots``, and the reads they need.

Status changes out of RUNNING/PAUSED are conditional (``WHERE status IN ('RUNNING', 'PAUSED')``), so a stop
and a failure racing each other end the session once, as whichever came first. Each function is one short
transaction: a worker thread never holds a database connection while its strategy thinks.

A function that takes the id of a session, signal or strategy and a ``user_id`` sees only that user's rows:
another user's row is missing, with a missing one's answer (None, False, nothing, or the same
PaperSessionError), so its ids cannot be probed. The session's own bookkeeping (``finish``, ``touch``,
``save_snapshot``, ``resolve_signal``, ``open_entry_orders``, ``version_id``) takes ``user_id`` as a keyword
(its worker knows the session's user); without it, it trusts the id it was given.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, Interval, func, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import Order, SessionSnapshot, StrategyVersion, TradingSession
from core.db.models import Signal as SignalRow
from core.db.models import Strategy as StrategyRow
from core.domain.orders import OPEN_LEDGER_STATUSES
from core.paper.book import SessionBook
from core.paper.rejections import repeated
from core.paper.types import ACTIVE_STATUSES, PAPER, PENDING, REJECTED, RUNNING, PaperSessionError, SignalInfo

Factory = sessionmaker[Session]
ACTIVE_INDEX = "uq_trading_sessions_active_strategy_mode"


@dataclass(frozen=True)
class PaperSessionRow:
    """A ``trading_sessions`` row with the strategy's name and the number of signals, read in one query."""

    row: TradingSession
    strategy_name: str
    signal_count: int


def version_id(
    factory: Factory, strategy_id: uuid.UUID, version: int, *, user_id: uuid.UUID
) -> uuid.UUID | None:
    """The id of the strategy's ``version`` (None: no such version, or not ``user_id``'s strategy)."""
    query = (
        select(StrategyVersion.id)
        .join(StrategyRow, StrategyRow.id == StrategyVersion.strategy_id)
        .where(StrategyVersion.strategy_id == strategy_id, StrategyVersion.version == version,
               StrategyRow.user_id == user_id)
    )  # fmt: skip
    with factory() as s:
        return s.scalar(query)


def active_session(factory: Factory, user_id: uuid.UUID, strategy_id: uuid.UUID) -> TradingSession | None:
    with factory() as s:
        return s.scalar(
            select(TradingSession).where(
                TradingSession.user_id == user_id, TradingSession.strategy_id == strategy_id,
                TradingSession.mode == PAPER, TradingSession.status.in_(ACTIVE_STATUSES),
            )
        )  # fmt: skip


def insert_session(
    factory: Factory, *, user_id: uuid.UUID, strategy_id: uuid.UUID, strategy_version_id: uuid.UUID | None,
    symbols: Sequence[str], timeframe: str, parameters: dict[str, Any], initial_capital: Decimal | None,
    metadata: dict[str, Any], now: datetime, already_running: str,
) -> uuid.UUID:  # fmt: skip
    """Insert a PAPER session RUNNING; PaperSessionError(``already_running``) when the strategy already runs, and
    "No such strategy." when the strategy (or the version) is not the user's own."""
    session_id = uuid.uuid4()
    row = TradingSession(
        id=session_id, user_id=user_id, strategy_id=strategy_id, strategy_version_id=strategy_version_id,
        mode=PAPER, status=RUNNING, symbols=list(symbols), timeframe=timeframe, parameters=dict(parameters),
        initial_capital=initial_capital, current_capital=initial_capital, started_at=now,
        state_metadata=dict(metadata),
    )  # fmt: skip
    with factory() as s:
        owned = select(StrategyRow.id).where(StrategyRow.id == strategy_id, StrategyRow.user_id == user_id)
        if strategy_version_id is not None:
            owned = owned.join(StrategyVersion, StrategyVersion.strategy_id == StrategyRow.id).where(
                StrategyVersion.id == strategy_version_id
            )
        if s.scalar(owned) is None:
            raise PaperSessionError("No such strategy.")
        s.add(row)
        try:
            s.commit()
        except IntegrityError as exc:
            s.rollback()
            if ACTIVE_INDEX in str(exc.orig):
                raise PaperSessionError(already_running) from None
            raise
    return session_id


def finish(
    factory: Factory, session_id: uuid.UUID, status: str, *, now: datetime, error: str | None = None,
    stop_reason: str | None = None, details: str | None = None, final_pnl: Decimal | None = None,
    current_capital: Decimal | None = None, user_id: uuid.UUID,
) -> bool:  # fmt: skip
    """End an active session (True), or do nothing if it already ended, or is not ``user_id``'s (False)."""
    extra: dict[str, Any] = {}
    if stop_reason:
        extra["stop_reason"] = stop_reason
    if details:
        extra["error_details"] = details
    values: dict[str, Any] = {
        "status": status, "ended_at": now, "error_message": error, "final_pnl": final_pnl,
        "state_metadata": _merged(extra),
    }  # fmt: skip
    if current_capital is not None:
        values["current_capital"] = current_capital
    with factory() as s:
        # a DML statement's result is a CursorResult (Session.execute is typed as returning any Result)
        done = cast(
            CursorResult[Any],
            s.execute(
                update(TradingSession)
                .where(TradingSession.id == session_id, TradingSession.status.in_(ACTIVE_STATUSES), *_of_user(user_id))
                .values(**values)
            ),
        ).rowcount
        s.commit()
    return bool(done)


def touch(factory: Factory, session_id: uuid.UUID, metadata: dict[str, Any],
          current_capital: Decimal | None = None, *, user_id: uuid.UUID) -> None:  # fmt: skip
    """Merge ``metadata`` into the row's state (a heartbeat: the update also moves ``updated_at``); nothing for
    another user's session."""
    values: dict[str, Any] = {"state_metadata": _merged(metadata)}
    if current_capital is not None:
        values["current_capital"] = current_capital
    with factory() as s:
        s.execute(update(TradingSession).where(TradingSession.id == session_id, *_of_user(user_id)).values(**values))
        s.commit()


def _of_user(user_id: uuid.UUID) -> tuple[Any, ...]:
    """The condition that keeps a session statement to ``user_id``'s row."""
    return (TradingSession.user_id == user_id,)


def _merged(metadata: dict[str, Any]) -> Any:
    """The row's state with ``metadata``'s keys replaced (JSONB ``||``), in the same statement."""
    return TradingSession.state_metadata.op("||")(literal(metadata, JSONB))


def session_rows(
    factory: Factory, user_id: uuid.UUID, session_id: uuid.UUID | None = None, limit: int = 200
) -> list[PaperSessionRow]:
    """The user's PAPER sessions (or the one asked for), newest first."""
    counts = (
        select(SignalRow.session_id, func.count().label("n")).group_by(SignalRow.session_id).subquery()
    )  # fmt: skip
    query = (
        select(TradingSession, StrategyRow.name, func.coalesce(counts.c.n, 0))
        .outerjoin(StrategyRow, StrategyRow.id == TradingSession.strategy_id)
        .outerjoin(counts, counts.c.session_id == TradingSession.id)
        .where(TradingSession.user_id == user_id, TradingSession.mode == PAPER)
    )
    if session_id is not None:
        query = query.where(TradingSession.id == session_id)
    query = query.order_by(TradingSession.started_at.desc(), TradingSession.id).limit(limit)
    with factory() as s:
        return [PaperSessionRow(row, name or "(deleted strategy)", int(n)) for row, name, n in s.execute(query).all()]


def active_ids(factory: Factory, user_id: uuid.UUID) -> list[uuid.UUID]:
    """The user's PAPER sessions that are running (or paused)."""
    query = select(TradingSession.id).where(
        TradingSession.user_id == user_id, TradingSession.mode == PAPER, TradingSession.status.in_(ACTIVE_STATUSES)
    )
    with factory() as s:
        return list(s.scalars(query))


def stale_active(factory: Factory, user_id: uuid.UUID, exclude: Iterable[uuid.UUID],
                 stale_after: timedelta) -> list[uuid.UUID]:  # fmt: skip
    """Active PAPER sessions of the user not in ``exclude`` whose row has not been touched for ``stale_after``
    (by the database's clock, which every client shares)."""
    query = select(TradingSession.id).where(
        TradingSession.user_id == user_id, TradingSession.mode == PAPER,
        TradingSession.status.in_(ACTIVE_STATUSES),
        TradingSession.updated_at <= func.now() - literal(stale_after, Interval()),
    )  # fmt: skip
    skip = set(exclude)
    with factory() as s:
        return [i for i in s.scalars(query) if i not in skip]


# ---- signals ---------------------------------------------------------------------------------------------


def signal_info(row: SignalRow) -> SignalInfo:
    meta = dict(row.signal_metadata or {})
    order = meta.get("order_id")
    close = meta.get("bar_close")
    return SignalInfo(
        row.id, row.session_id, row.symbol, row.action, row.quantity, row.status, row.reason, row.bar_timestamp,
        row.generated_at, row.processed_at, uuid.UUID(order) if order else None,
        float(close) if isinstance(close, int | float) else None, meta,
    )  # fmt: skip


def insert_signal(
    factory: Factory, *, session_id: uuid.UUID, user_id: uuid.UUID, symbol: str, action: str,
    quantity: Decimal | None, bar_timestamp: datetime, metadata: dict[str, Any], now: datetime,
    status: str = PENDING, reason: str | None = None,
) -> SignalInfo:  # fmt: skip
    """Record a signal of the user's session; PaperSessionError when the session is not the user's (or gone)."""
    row = SignalRow(
        id=uuid.uuid4(), session_id=session_id, user_id=user_id, symbol=symbol, action=action, quantity=quantity,
        bar_timestamp=bar_timestamp, generated_at=now, status=status, reason=reason,
        processed_at=None if status == PENDING else now, signal_metadata=metadata,
    )  # fmt: skip
    with factory() as s:
        owned = select(TradingSession.id).where(TradingSession.id == session_id, TradingSession.user_id == user_id)
        if s.scalar(owned) is None:
            raise PaperSessionError("the session no longer exists")
        s.add(row)
        s.commit()
        return signal_info(row)


def resolve_signal(
    factory: Factory, signal_id: uuid.UUID, status: str, *, now: datetime, reason: str | None = None,
    order_id: uuid.UUID | None = None, user_id: uuid.UUID, metadata: dict[str, Any] | None = None,
) -> SignalInfo:  # fmt: skip
    """Settle a signal of ``user_id``'s (``metadata``'s keys added to its own); PaperSessionError when it is not
    theirs (or gone)."""
    with factory() as s:
        row = s.get(SignalRow, signal_id, with_for_update=True)
        if row is None or row.user_id != user_id:
            raise PaperSessionError("the signal no longer exists")
        row.status = status
        row.reason = reason
        row.processed_at = now
        extra = dict(metadata or {})
        if order_id is not None:
            extra["order_id"] = str(order_id)
        if extra:
            row.signal_metadata = {**(row.signal_metadata or {}), **extra}
        s.commit()
        return signal_info(row)


def repeat_rejection(
    factory: Factory, signal_id: uuid.UUID, first_id: uuid.UUID, *, now: datetime, reason: str, rule: str,
    count: int, user_id: uuid.UUID,
) -> SignalInfo:  # fmt: skip
    """Signal ``signal_id`` was refused as ``first_id`` was (core.paper.rejections): it is settled REJECTED and
    marked ``repeat_of`` the first, and the first takes the latest ``reason`` and the run's ``count``. Returns the
    first signal, which is what the session's list shows for the run."""
    with factory() as s:
        rows = {r.id: r for r in s.scalars(
            select(SignalRow).where(SignalRow.id.in_((signal_id, first_id)), SignalRow.user_id == user_id)
            .with_for_update()
        )}  # fmt: skip
        row, first = rows.get(signal_id), rows.get(first_id)
        if row is None or first is None:
            raise PaperSessionError("the signal no longer exists")
        row.status, row.reason, row.processed_at = REJECTED, reason, now
        row.signal_metadata = {**(row.signal_metadata or {}), "rule": rule, "repeat_of": str(first_id)}
        first.reason, first.processed_at = repeated(reason, count), now
        first.signal_metadata = {**(first.signal_metadata or {}), "repeated": count}
        s.commit()
        return signal_info(first)


def signals_of(factory: Factory, session_id: uuid.UUID, user_id: uuid.UUID, limit: int) -> list[SignalInfo]:
    """The session's signals, newest first (only the owner's: another user's session reads as empty)."""
    query = (
        select(SignalRow)
        .where(SignalRow.session_id == session_id, SignalRow.user_id == user_id,
               ~SignalRow.signal_metadata.has_key("repeat_of"))  # a run of rejections shows as its first signal
        .order_by(SignalRow.generated_at.desc(), SignalRow.bar_timestamp.desc().nulls_last(), SignalRow.id)
        .limit(limit)
    )
    with factory() as s:
        return [signal_info(r) for r in s.scalars(query)]


# ---- orders ----------------------------------------------------------------------------------------------


def open_entry_orders(
    factory: Factory, session_id: uuid.UUID, symbol: str | None = None, *, user_id: uuid.UUID
) -> list[uuid.UUID]:
    """The session's working orders, bracket legs excepted (they protect a position the session holds); only
    ``user_id``'s orders."""
    query = select(Order.id).where(
        Order.session_id == session_id, Order.user_id == user_id, Order.status.in_(OPEN_LEDGER_STATUSES),
        Order.parent_order_id.is_(None),
    )
    if symbol is not None:
        query = query.where(Order.symbol == symbol)
    with factory() as s:
        return list(s.scalars(query.order_by(Order.created_at)))


# ---- snapshots -------------------------------------------------------------------------------------------


def holdings_of(book: SessionBook) -> list[dict[str, Any]]:
    """A snapshot's ``holdings``: the shares the session's own book holds, valued."""
    return [{"ticker": p.symbol, "shares": str(p.qty), "value": str(p.market_value)} for p in book.positions]


def save_snapshot(
    factory: Factory, session_id: uuid.UUID, day: date, equity: Decimal, holdings: list[dict[str, Any]],
    initial_capital: Decimal | None, *, user_id: uuid.UUID,
) -> None:  # fmt: skip
    """Upsert the session's snapshot of ``day`` (New York date) and its current capital; PaperSessionError
    when the session is not ``user_id``'s (or gone)."""
    with factory() as s:
        owned = s.scalar(
            update(TradingSession)
            .where(TradingSession.id == session_id, *_of_user(user_id))
            .values(current_capital=equity)
            .returning(TradingSession.id)
        )
        if owned is None:
            raise PaperSessionError("the session no longer exists")
        previous = s.scalar(
            select(SessionSnapshot.equity)
            .where(SessionSnapshot.session_id == session_id, SessionSnapshot.snapshot_date < day)
            .order_by(SessionSnapshot.snapshot_date.desc())
            .limit(1)
        )
        base = previous if previous is not None else initial_capital
        daily = _ratio(equity, base)
        cumulative = _ratio(equity, initial_capital)
        stmt = insert(SessionSnapshot).values(
            id=uuid.uuid4(), session_id=session_id, snapshot_date=day, equity=equity, holdings=holdings,
            daily_return=daily, cumulative_return=cumulative,
        )  # fmt: skip
        s.execute(stmt.on_conflict_do_update(
            index_elements=[SessionSnapshot.session_id, SessionSnapshot.snapshot_date],
            set_={"equity": equity, "holdings": holdings, "daily_return": daily, "cumulative_return": cumulative},
        ))  # fmt: skip
        s.commit()


def _ratio(equity: Decimal, base: Decimal | None) -> Decimal | None:
    if not base:
        return None
    return ((equity - base) / base).quantize(Decimal("0.000001"))
