"""Probe rows in the database: the catalog (``probe_strategies``), each day's results and trades, and queries.

Results reference catalog rows, so catalog rows are never deleted: a probe dropped from the code is marked
inactive and its history stays readable. A (symbol, day) is written in one transaction, results and trades
together, so a run that dies leaves whole days or nothing, and a resumed run can trust what it finds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pandas as pd
from sqlalchemy import or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import ProbeStrategy, StrategyProbeResult, StrategyProbeTrade
from core.strategy.probe_catalog import CATALOG, ProbeDefinition

MONEY_STEP = Decimal("0.000001")  # the scale of the NUMERIC(20, 6) money columns


def money(value: float) -> Decimal:
    """A float amount as the Decimal the database stores (6 places), via its shortest repr, not its binary
    expansion: 10.1 becomes 10.100000, never 10.0999999999999996447."""
    return Decimal(repr(float(value))).quantize(MONEY_STEP, ROUND_HALF_EVEN)


# ---- the catalog --------------------------------------------------------------------------------------------


def sync_catalog(sessions: sessionmaker[Session], catalog: Sequence[ProbeDefinition] = CATALOG) -> dict[str, uuid.UUID]:
    """Make ``probe_strategies`` match ``catalog``: insert new names, update changed ones, reactivate returning
    ones, and mark names no longer in the catalog inactive (never deleted: results reference them).

    Idempotent: a second call with the same catalog changes no row. Returns the ids by name."""
    with sessions() as s, s.begin():
        ids = _upsert(s, catalog)
        s.execute(
            update(ProbeStrategy)
            .where(ProbeStrategy.name.not_in([p.name for p in catalog]), ProbeStrategy.is_active)
            .values(is_active=False)
        )
    return ids


def ensure_probes(sessions: sessionmaker[Session], probes: Sequence[ProbeDefinition]) -> dict[str, uuid.UUID]:
    """Catalog rows for ``probes`` (upserted, others untouched): a run of a few probes must not deactivate the
    rest of the catalog."""
    with sessions() as s, s.begin():
        return _upsert(s, probes)


def _upsert(s: Session, probes: Sequence[ProbeDefinition]) -> dict[str, uuid.UUID]:
    if not probes:
        return {}
    rows = [
        {
            "id": uuid.uuid4(), "name": p.name, "display_name": p.display_name, "philosophy": p.philosophy,
            "strategy_type": p.family, "direction": p.direction, "details": p.details(), "is_active": True,
        }
        for p in probes
    ]  # fmt: skip
    stmt = insert(ProbeStrategy).values(rows)
    changing = ("display_name", "philosophy", "strategy_type", "direction", "details", "is_active")
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"],
        set_={c: excluded[c] for c in changing},
        # Only rows that differ are rewritten, so an unchanged catalog keeps its updated_at.
        where=or_(*(getattr(ProbeStrategy, c).is_distinct_from(excluded[c]) for c in changing)),
    )
    s.execute(stmt)
    found = s.execute(
        select(ProbeStrategy.name, ProbeStrategy.id).where(ProbeStrategy.name.in_([p.name for p in probes]))
    )
    return {name: pid for name, pid in found}


# ---- results ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TradeRow:
    """One closed probe trade, ready for ``strategy_probe_trades``."""

    entry_time: datetime
    exit_time: datetime
    entry_price: Decimal
    exit_price: Decimal
    quantity: Decimal
    pnl: Decimal
    return_pct: float
    exit_reason: str
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DayResult:
    """One probe on one symbol and day, ready for ``strategy_probe_results`` (trades included)."""

    probe_id: uuid.UUID
    symbol: str
    open_day: date
    period_start: datetime
    period_end: datetime
    total_trades: int
    win_rate: float | None
    profit_factor: float | None
    total_pnl: Decimal | None
    max_drawdown: float | None
    sharpe_ratio: float | None
    metrics: dict[str, Any]
    trades: tuple[TradeRow, ...] = ()


def stored_keys(
    sessions: sessionmaker[Session], run_id: str, symbols: Iterable[str]
) -> set[tuple[uuid.UUID, str, date]]:
    """(probe id, symbol, open day) of every result ``run_id`` already stored for ``symbols``: what a
    resumed run skips."""
    with sessions() as s:
        rows = s.execute(
            select(StrategyProbeResult.probe_strategy_id, StrategyProbeResult.symbol, StrategyProbeResult.open_day)
            .where(StrategyProbeResult.run_id == run_id, StrategyProbeResult.symbol.in_(list(symbols)))
        )  # fmt: skip
        return {(pid, symbol, day) for pid, symbol, day in rows}


def save_day(sessions: sessionmaker[Session], run_id: str, results: Sequence[DayResult]) -> tuple[int, int]:
    """Store one (symbol, day)'s results and trades in one transaction; returns (results, trades) written.

    A result already stored for the same key (another runner of the same run got there first) is kept and
    its trades are not written twice."""
    written = trades = 0
    with sessions() as s, s.begin():
        for result in results:
            rid = s.execute(
                insert(StrategyProbeResult)
                .values(_result_row(run_id, result))
                .on_conflict_do_nothing(index_elements=["run_id", "probe_strategy_id", "symbol", "open_day"])
                .returning(StrategyProbeResult.id)
            ).scalar_one_or_none()
            if rid is None:
                continue
            written += 1
            if result.trades:
                s.execute(insert(StrategyProbeTrade), [_trade_row(rid, result.symbol, t) for t in result.trades])
                trades += len(result.trades)
    return written, trades


def _result_row(run_id: str, r: DayResult) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(), "run_id": run_id, "probe_strategy_id": r.probe_id, "symbol": r.symbol,
        "open_day": r.open_day, "period_start": r.period_start, "period_end": r.period_end,
        "total_trades": r.total_trades, "win_rate": r.win_rate, "profit_factor": r.profit_factor,
        "total_pnl": r.total_pnl, "max_drawdown": r.max_drawdown, "sharpe_ratio": r.sharpe_ratio,
        "metrics": r.metrics,
    }  # fmt: skip


def _trade_row(result_id: uuid.UUID, symbol: str, t: TradeRow) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(), "result_id": result_id, "symbol": symbol, "side": "long", "entry_time": t.entry_time,
        "exit_time": t.exit_time, "entry_price": t.entry_price, "exit_price": t.exit_price, "quantity": t.quantity,
        "pnl": t.pnl, "return_pct": t.return_pct, "exit_reason": t.exit_reason, "metrics": t.metrics,
    }  # fmt: skip


# ---- queries ------------------------------------------------------------------------------------------------

RESULT_COLUMNS = (
    "probe", "family", "symbol", "open_day", "period_start", "period_end", "total_trades", "win_rate",
    "profit_factor", "total_pnl", "max_drawdown", "sharpe_ratio", "error",
)  # fmt: skip

_RESULTS_SQL = text(
    """
    SELECT p.name, p.details->>'family', r.symbol, r.open_day, r.period_start, r.period_end, r.total_trades,
           r.win_rate, r.profit_factor, r.total_pnl, r.max_drawdown, r.sharpe_ratio, r.metrics->>'error'
      FROM strategy_probe_results r JOIN probe_strategies p ON p.id = r.probe_strategy_id
     WHERE r.run_id = :run
     ORDER BY p.name, r.symbol, r.open_day
    """
)


def probe_results_frame(sessions: sessionmaker[Session], run_id: str) -> pd.DataFrame:
    """Every result of ``run_id``, one row per (probe, symbol, day), ordered so. ``total_pnl`` stays Decimal
    (exact money); ``error`` is the failure of a probe that raised that day, else None."""
    with sessions() as s:
        rows = s.execute(_RESULTS_SQL, {"run": run_id}).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=list(RESULT_COLUMNS))


@dataclass(frozen=True)
class LeaderboardRow:
    """One probe's record over a run. ``mean_pnl`` averages the days it ran (days without trades count as 0);
    ``mean_win_rate`` averages the days with trades (a day without trades has no win rate, not a 0% one);
    failed days are counted in ``errors`` and left out of both."""

    probe: str
    family: str
    days: int
    errors: int
    symbols: int
    trades: int
    mean_pnl: Decimal | None
    mean_win_rate: float | None


_LEADERBOARD_SQL = text(
    """
    SELECT p.name, p.details->>'family',
           count(*) FILTER (WHERE r.metrics->>'error' IS NULL),
           count(*) FILTER (WHERE r.metrics->>'error' IS NOT NULL),
           count(DISTINCT r.symbol),
           coalesce(sum(r.total_trades), 0),
           avg(r.total_pnl) FILTER (WHERE r.metrics->>'error' IS NULL),
           avg(r.win_rate) FILTER (WHERE r.metrics->>'error' IS NULL)
      FROM strategy_probe_results r JOIN probe_strategies p ON p.id = r.probe_strategy_id
     WHERE r.run_id = :run
     GROUP BY p.name, p.details->>'family'
     ORDER BY 7 DESC NULLS LAST, p.name
    """
)


def probe_leaderboard(sessions: sessionmaker[Session], run_id: str) -> list[LeaderboardRow]:
    """Probes of ``run_id`` ranked by mean daily P&L, aggregated in the database (a run can hold millions of
    rows; only one row per probe comes back)."""
    with sessions() as s:
        rows = s.execute(_LEADERBOARD_SQL, {"run": run_id}).all()
    return [
        LeaderboardRow(
            name, family, int(days), int(errors), int(symbols), int(trades), mean_pnl,
            None if win is None else float(win),
        )
        for name, family, days, errors, symbols, trades, mean_pnl, win in rows
    ]  # fmt: skip
