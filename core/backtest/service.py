"""One backtest for the app: load the bars, run the strategy in the sandbox, store the result, read history.

The Backtest panel calls these functions on a worker thread (they block on the database and on the sandbox
child), so nothing here knows about Qt. The flow is ``stratforge backtest``'s (``core.cli.backtest``), with
two differences the app needs: a run can be cancelled (the strategy host is killed), and a run that fails
(no bars, the strategy raised) is stored as a failed result, so the history shows what was tried and why it
broke. A cancelled run is not stored: the trader stopped it, there is nothing to explain later.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.backtest.bar_source import NoBarsError, stored_bars
from core.backtest.engine import BacktestConfig
from core.backtest.metrics import drawdown
from core.backtest.results import RunRecord, save_detail, save_failure
from core.backtest.strategy_ref import SandboxLimits, StrategyRef, run_detailed
from core.db.models import BacktestResult, StrategyVersion
from core.domain.symbols import normalize_symbol
from core.market.store import BarStore
from core.strategy.api import StrategyError
from core.strategy.library import LibraryError, load_strategy
from core.strategy.sandbox import StrategyCancelled, StrategyRunError
from core.strategy.source import pick_strategy_class


class BacktestError(Exception):
    """A backtest that could not be run or shown; ``str()`` is for the trader, ``details`` is the longer story
    (the strategy's trace and printed output, what was asked for); ``result_id`` is the failed row stored for
    the history, None when nothing was stored (the request itself was wrong)."""

    def __init__(self, message: str, *, details: str = "", result_id: uuid.UUID | None = None) -> None:
        super().__init__(message)
        self.details = details
        self.result_id = result_id


class BacktestCancelled(BacktestError):
    """The caller cancelled the run (the strategy host was stopped); nothing was stored."""


class ResultNotFound(BacktestError):
    """No such result for this user (results are private: another user's is "not found" too)."""


@dataclass(frozen=True)
class BacktestRequest:
    """What to run. The strategy is a saved one (``strategy_id``: its current code and version are used) or
    code given as ``source`` (+ ``class_name`` when it defines several classes)."""

    user_id: uuid.UUID
    symbol: str
    timeframe: str
    start: datetime
    end: datetime
    strategy_id: uuid.UUID | None = None
    source: str | None = None
    class_name: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    config: BacktestConfig = field(default_factory=BacktestConfig)
    limits: SandboxLimits | None = None


@dataclass(frozen=True)
class ResultDisplay:
    """A result as the panel shows it: curves as float arrays (x = epoch seconds), trades as plain dicts."""

    id: uuid.UUID
    name: str
    status: str
    error_message: str | None
    symbols: tuple[str, ...]
    timeframe: str
    start: datetime
    end: datetime
    created_at: datetime | None
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    initial_capital: float
    times: np.ndarray
    equity: np.ndarray
    drawdown: np.ndarray  # fractions below the running peak (<= 0), per point of ``equity``
    trades: list[dict[str, Any]]
    duration_ms: int | None


@dataclass(frozen=True)
class StoredRun:
    """A finished, stored run: its result id, the raw detail from ``run_detailed`` and the display built from
    it (full-resolution curves; the stored row holds them thinned)."""

    result_id: uuid.UUID
    detail: dict[str, Any]
    display: ResultDisplay
    bar_count: int


@dataclass(frozen=True)
class ResultSummary:
    """One line of the history: enough to pick a result without loading its curves and trades."""

    id: uuid.UUID
    name: str
    status: str
    created_at: datetime
    symbols: tuple[str, ...]
    timeframe: str
    start: datetime
    end: datetime
    strategy_id: uuid.UUID | None
    total_return: float | None
    sharpe: float | None
    max_drawdown: float | None
    trade_count: int | None
    error_message: str | None


@dataclass(frozen=True)
class _Resolved:
    ref: StrategyRef
    name: str
    strategy_id: uuid.UUID | None
    version_id: uuid.UUID | None


def run_and_store(
    sessions: sessionmaker[Session],
    store: BarStore,
    request: BacktestRequest,
    cancel: threading.Event | None = None,
) -> StoredRun:
    """Run ``request`` and store it. Raises BacktestCancelled when ``cancel`` is set, and BacktestError for a
    failure: a wrong request (unknown strategy or class, a range ending before it starts) is not stored; a run
    that fails on the data or in the strategy is stored as a failed result (``result_id`` on the error)."""
    if request.end <= request.start:
        raise BacktestError("the end date must be after the start date")
    symbol = normalize_symbol(request.symbol)
    if not symbol:
        raise BacktestError("enter a symbol")
    resolved = _resolve(sessions, request)
    record = RunRecord(
        user_id=request.user_id, strategy_name=resolved.name, source=resolved.ref.source or "",
        parameters=dict(request.params), symbol=symbol, timeframe=request.timeframe, start=request.start,
        end=request.end, config=request.config, strategy_id=resolved.strategy_id,
        strategy_version_id=resolved.version_id,
    )  # fmt: skip
    started = time.perf_counter()
    try:
        data = stored_bars(store, request.timeframe, request.start, request.end)(symbol)
        if cancel is not None and cancel.is_set():
            raise StrategyCancelled("the run was cancelled")
        detail = run_detailed(resolved.ref, data, dict(request.params), request.config, request.limits, cancel)
    except StrategyCancelled as exc:
        raise BacktestCancelled("the backtest was cancelled") from exc
    except (NoBarsError, StrategyError) as exc:
        duration_ms = int((time.perf_counter() - started) * 1000)
        result_id = save_failure(sessions, record, str(exc), duration_ms)
        raise BacktestError(str(exc), details=_details(exc, record), result_id=result_id) from exc
    duration_ms = int((time.perf_counter() - started) * 1000)
    record = replace(record, parameters=dict(detail["params"]), path=detail["path"])
    result_id = save_detail(sessions, record, detail, duration_ms)
    display = _display_of_detail(result_id, record, detail, duration_ms)
    return StoredRun(result_id, detail, display, len(data))


def past_results(
    sessions: sessionmaker[Session], user_id: uuid.UUID, strategy_id: uuid.UUID | None = None, limit: int = 50
) -> list[ResultSummary]:
    """The user's results, newest first (only the columns a list needs: curves and trades stay in the DB)."""
    r = BacktestResult
    query = select(
        r.id, r.name, r.status, r.created_at, r.symbols, r.timeframe, r.start_at, r.end_at, r.strategy_id,
        r.metrics, r.error_message,
    ).where(r.user_id == user_id)  # fmt: skip
    if strategy_id is not None:
        query = query.where(r.strategy_id == strategy_id)
    query = query.order_by(r.created_at.desc(), r.id).limit(limit)
    with sessions() as s:
        rows = s.execute(query).all()
    out = []
    for row in rows:
        m = row.metrics or {}
        out.append(ResultSummary(
            row.id, row.name or "", row.status, row.created_at, tuple(row.symbols), row.timeframe, row.start_at,
            row.end_at, row.strategy_id, m.get("total_return"), m.get("sharpe"), m.get("max_drawdown"),
            m.get("trade_count"), row.error_message,
        ))  # fmt: skip
    return out


def load_for_display(sessions: sessionmaker[Session], user_id: uuid.UUID, result_id: uuid.UUID) -> ResultDisplay:
    """A stored result with its (thinned) curves and trades; ResultNotFound if it is not the user's."""
    with sessions() as s:
        row = s.get(BacktestResult, result_id)
        if row is None or row.user_id != user_id:
            raise ResultNotFound("no such backtest result")
        curve = np.asarray(row.equity_curve or [], dtype=np.float64).reshape(-1, 2)
        capital = float(row.initial_capital)
        times, equity = curve[:, 0].copy(), curve[:, 1].copy()
        return ResultDisplay(
            id=row.id, name=row.name or "", status=row.status, error_message=row.error_message,
            symbols=tuple(row.symbols), timeframe=row.timeframe, start=row.start_at, end=row.end_at,
            created_at=row.created_at, parameters=dict(row.parameters or {}), metrics=dict(row.metrics or {}),
            initial_capital=capital, times=times, equity=equity, drawdown=_drawdown(equity, capital),
            trades=list(row.trades or []), duration_ms=row.duration_ms,
        )  # fmt: skip


def _resolve(sessions: sessionmaker[Session], request: BacktestRequest) -> _Resolved:
    strategy_id = version_id = None
    name = None
    if request.strategy_id is not None:
        try:
            saved = load_strategy(sessions, request.user_id, request.strategy_id)
        except LibraryError as exc:
            raise BacktestError(str(exc)) from exc
        source, strategy_id, name = saved.python_code, saved.id, saved.name
        with sessions() as s:
            version_id = s.scalar(
                select(StrategyVersion.id).where(
                    StrategyVersion.strategy_id == saved.id, StrategyVersion.version == saved.version
                )
            )
    elif request.source is not None:
        source = request.source
    else:
        raise BacktestError("choose a strategy to run")
    try:
        chosen = pick_strategy_class(source, request.class_name)
    except SyntaxError as exc:
        raise BacktestError(f"line {exc.lineno}: {exc.msg}") from exc
    except ValueError as exc:
        raise BacktestError(str(exc)) from exc
    return _Resolved(StrategyRef(chosen, source=source), name or chosen, strategy_id, version_id)


def _details(exc: Exception, record: RunRecord) -> str:
    """The long form of a failure: what ran, the error's kind, and the strategy's own trace and output."""
    lines = [
        f"{type(exc).__name__}: {exc}",
        "",
        f"strategy: {record.strategy_name}",
        f"symbol: {record.symbol} {record.timeframe}, {record.start:%Y-%m-%d %H:%M} to {record.end:%Y-%m-%d %H:%M} UTC",
        f"parameters: {record.parameters or 'defaults'}",
    ]
    if isinstance(exc, StrategyRunError):
        if exc.trace:
            lines += ["", "strategy trace (outermost first):"] + [f"  line {n} in {fn}" for n, fn in exc.trace]
        if exc.output:
            lines += ["", "the strategy printed:", exc.output.rstrip()]
    return "\n".join(lines)


def _drawdown(equity: np.ndarray, capital: float) -> np.ndarray:
    if equity.size == 0 or not np.all(np.isfinite(equity)):
        return np.zeros_like(equity)
    return drawdown(equity, initial_peak=capital if capital > 0 else None)


def _display_of_detail(
    result_id: uuid.UUID, record: RunRecord, detail: dict[str, Any], duration_ms: int
) -> ResultDisplay:
    times = np.asarray(detail["times"], dtype=np.float64)
    equity = np.asarray(detail["equity"], dtype=np.float64)
    capital = float(record.config.starting_cash)
    return ResultDisplay(
        id=result_id, name=f"{record.strategy_name} {record.symbol} {record.timeframe}", status="completed",
        error_message=None, symbols=(record.symbol,), timeframe=record.timeframe, start=record.start, end=record.end,
        created_at=None, parameters=dict(record.parameters), metrics=dict(detail["metrics"]),
        initial_capital=capital, times=times, equity=equity, drawdown=_drawdown(equity, capital),
        trades=list(detail["trades"]), duration_ms=duration_ms,
    )  # fmt: skip
