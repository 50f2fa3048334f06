"""Live equals backtest: a paper session's orders and fills beside a backtest's over the same bars.

A session decides each closed bar as ``run_backtest`` over its history window plus the live bars decides it (the
window as ``BacktestConfig.warmup_bars``), and the SimBroker fills on the shared fill model as the engine does;
so with the session's capital as the backtest's starting cash, both must place the same orders and get the same
fills, trade for trade. This module puts both sides in one shape (:class:`FillRow`, :class:`OrderRow`, keyed by
the open time of a bar, which both know) and lists the differences as sentences: the parity test requires none,
and ``bench.sessions`` prints how many (``parity_mismatches``).

* :func:`session_fills` / :func:`session_orders` read a session's rows from the database (the ledger's fills and
  entry orders carrying its ``session_id``); :func:`backtest_fills` / :func:`backtest_orders` read a run.
* :func:`compare_fills` / :func:`compare_orders` return the mismatches, empty when the two sides agree.

A backtest is one symbol with one cash; a session trading several symbols shares one book between them, so the
two compare exactly only when money never binds differently: one session per symbol with the backtest's cash as
its capital, or a strategy whose sizes do not depend on cash. Bracket legs are compared as fills (each exit is
one); as orders they are their entry's ``take_profit``/``stop_loss``. Orders the broker refused (status
``rejected``) never worked and are left out, as the backtest records such an intent as a rejection, not an order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.backtest.engine import BacktestRun
from core.db.models import Fill, Order, TradingSession
from core.db.models import Signal as SignalRow
from core.domain.bars import timeframe_delta

Factory = sessionmaker[Session]


class FillRow(NamedTuple):
    """One fill: which bar it happened on (its open time, UTC), and what it did."""

    symbol: str
    bar_time: datetime
    side: str  # "buy" | "sell"
    qty: Decimal
    price: Decimal
    fee: Decimal


class OrderRow(NamedTuple):
    """One order as placed: the bar whose close decided it (open time, UTC), and what was asked for."""

    symbol: str
    bar_time: datetime
    side: str  # "buy" | "sell"
    type: str  # "market" | "limit" | "stop" | "stop_limit"
    qty: Decimal
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    take_profit_price: Decimal | None = None
    stop_loss_price: Decimal | None = None


def session_fills(factory: Factory, session_id: uuid.UUID) -> list[FillRow]:
    """The session's ledger fills (bracket exits included), oldest first. A fill is stamped with the end of the
    bar it happened on; its bar is the one of the session's timeframe that ends then."""
    with factory() as s:
        timeframe = s.scalar(select(TradingSession.timeframe).where(TradingSession.id == session_id))
        step = timeframe_delta(timeframe or "1Min")
        rows = s.execute(
            select(Fill.symbol, Fill.executed_at, Fill.side, Fill.quantity, Fill.price, Fill.fees)
            .join(Order, Order.id == Fill.order_id)
            .where(Order.session_id == session_id, Fill.source == "ledger")
            .order_by(Fill.executed_at, Fill.id)
        ).all()
    return sorted(FillRow(sym, _utc(at) - step, side, _num(qty), _num(price), _num(fee))
                  for sym, at, side, qty, price, fee in rows)  # fmt: skip


def session_orders(factory: Factory, session_id: uuid.UUID) -> list[OrderRow]:
    """The session's entry orders (bracket legs are their entry's prices), at the bar of the signal that asked
    for each; orders the broker refused are left out."""
    with factory() as s:
        rows = s.execute(
            select(Order.symbol, SignalRow.bar_timestamp, Order.side, Order.order_type, Order.quantity,
                   Order.limit_price, Order.stop_price, Order.take_profit_price, Order.stop_loss_price)
            .join(SignalRow, SignalRow.id == Order.signal_id)
            .where(Order.session_id == session_id, Order.parent_order_id.is_(None), Order.status != "rejected")
        ).all()  # fmt: skip
    return sorted(
        OrderRow(sym, _utc(at), side, kind, _num(qty), _opt(lim), _opt(stop), _opt(tp), _opt(sl))
        for sym, at, side, kind, qty, lim, stop, tp, sl in rows if at is not None
    )  # fmt: skip


def backtest_fills(run: BacktestRun, symbol: str) -> list[FillRow]:
    """The run's fills on ``symbol``'s bars (an ``end_of_data`` valuation is not a trade and is left out)."""
    times = run.times
    return sorted(
        FillRow(symbol, _at(times[f.bar]), f.side.value, _num(f.qty), _num(f.price), _num(f.fee))
        for f in run.fills if f.reason != "end_of_data"
    )  # fmt: skip


def backtest_orders(run: BacktestRun, symbol: str) -> list[OrderRow]:
    """The orders the run placed on ``symbol``'s bars, at the bar whose close decided each."""
    times = run.times
    return sorted(
        OrderRow(symbol, _at(times[o.bar]), o.side.value, o.type.value, _num(o.qty), _opt(o.limit_price),
                 _opt(o.stop_price), _opt(o.take_profit), _opt(o.stop_loss))
        for o in run.orders
    )  # fmt: skip


def compare_fills(session: Sequence[FillRow], backtest: Sequence[FillRow]) -> list[str]:
    """Every difference between a session's fills and a backtest's, one sentence each (empty: the same)."""
    return _compare(session, backtest, _fill_text)


def compare_orders(session: Sequence[OrderRow], backtest: Sequence[OrderRow]) -> list[str]:
    """Every difference between a session's orders and a backtest's, one sentence each (empty: the same)."""
    return _compare(session, backtest, _order_text)


def _compare[R: (FillRow, OrderRow)](session: Sequence[R], backtest: Sequence[R],
                                     text: Callable[[R], str]) -> list[str]:  # fmt: skip
    """Rows matched bar by bar (symbol and bar time); within a bar, in their sorted order."""
    live: dict[tuple[str, datetime], list[R]] = {}
    test: dict[tuple[str, datetime], list[R]] = {}
    for rows, into in ((session, live), (backtest, test)):
        for row in sorted(rows):
            into.setdefault((row.symbol, row.bar_time), []).append(row)
    out: list[str] = []
    for key in sorted(live.keys() | test.keys()):
        a, b = live.get(key, []), test.get(key, [])
        where = f"{key[0]} {key[1]:%Y-%m-%d %H:%M}"
        for i in range(max(len(a), len(b))):
            x, y = (a[i] if i < len(a) else None), (b[i] if i < len(b) else None)
            if x == y:
                continue
            if y is None:
                out.append(f"{where}: only the session: {text(x)}")  # type: ignore[arg-type]
            elif x is None:
                out.append(f"{where}: only the backtest: {text(y)}")
            else:
                out.append(f"{where}: session {text(x)}; backtest {text(y)}")
    return out


def _fill_text(row: FillRow) -> str:
    return f"{row.side} {row.qty.normalize():f} @ {row.price:f} fee {row.fee:f}"


def _order_text(row: OrderRow) -> str:
    prices = [f"{name} {value:f}" for name, value in (
        ("limit", row.limit_price), ("stop", row.stop_price), ("take profit", row.take_profit_price),
        ("stop loss", row.stop_loss_price),
    ) if value is not None]  # fmt: skip
    return " ".join([f"{row.type} {row.side} {row.qty.normalize():f}", *prices])


def _num(value: Decimal | float | int) -> Decimal:
    """A quantity or price normalised for comparison (the database pads to its scale: 97.000000 is 97)."""
    return (value if isinstance(value, Decimal) else Decimal(repr(value))).normalize()


def _opt(value: Decimal | float | None) -> Decimal | None:
    return None if value is None else _num(value)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(float(epoch), UTC)

