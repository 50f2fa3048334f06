"""Run the probe catalog across symbols and trading days, and store one result per (probe, symbol, day).

Each probe runs on each day's bars alone, as an intraday strategy: indicators warm up inside the day and any
position is closed at the day's last close. Why per day rather than over the whole range: the question a
probe answers is "what kind of behaviour did this market reward *today*", and days are what the results
are grouped, compared and resumed by. Days are NYSE sessions (``TradingCalendar``), named by their New York
date, so an evening bar after 19:00 New York (past midnight UTC) still belongs to its own session.

A run is identified by ``run_id``. Each (symbol, day) is stored in one transaction, and a run started again
with the same id skips what is already stored, so a crashed or cancelled run is resumed by calling it again.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from core.backtest.engine import BacktestConfig
from core.backtest.metrics import Trade
from core.backtest.probe_store import (
    DayResult,
    LeaderboardRow,
    TradeRow,
    ensure_probes,
    money,
    probe_leaderboard,
    probe_results_frame,
    save_day,
    stored_keys,
    sync_catalog,
)
from core.backtest.vectorized import run_vectorized
from core.domain.symbols import normalize_symbol
from core.domain.timeframes import Timeframe
from core.market.calendar import TradingCalendar
from core.market.store import BarStore
from core.strategy.api import BarData, StrategyError, describe_failure
from core.strategy.probe_catalog import CATALOG, ProbeDefinition, probe_named

__all__ = [
    "BarLoader",
    "DaySlice",
    "LeaderboardRow",
    "ProbeRunSummary",
    "probe_leaderboard",
    "probe_results_frame",
    "run_probes",
    "session_slices",
    "sync_catalog",
]

BarLoader = Callable[[str, datetime, datetime], BarData]
"""``(symbol, start, end) -> BarData``: the 1-minute bars with ``start <= open time < end``, in time order."""

_EPOCH = date(1970, 1, 1)
RUN_ID_LENGTH = 50  # strategy_probe_results.run_id is VARCHAR(50)
_COLUMNS = ("time", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class DaySlice:
    """The bars ``[start, stop)`` of a series that belong to the NYSE session of ``day`` (New York date)."""

    day: date
    start: int
    stop: int


@dataclass
class ProbeRunSummary:
    """What a run did. ``units_*`` count (symbol, session) pairs, the unit of progress; a session a symbol
    has no bars for counts as done."""

    run_id: str
    probes: int
    symbols: tuple[str, ...]
    units_total: int = 0
    units_done: int = 0
    days_run: int = 0  # (symbol, day)s where at least one probe ran
    days_resumed: int = 0  # (symbol, day)s already fully stored by an earlier call with this run_id
    results_written: int = 0
    trades_written: int = 0
    errors: int = 0  # results recording a probe that raised
    cancelled: bool = False
    symbols_without_bars: list[str] = dataclasses.field(default_factory=list)


def run_probes(
    sessions: sessionmaker[Session],
    bar_source: BarStore | BarLoader,
    symbols: Sequence[str],
    start: datetime,
    end: datetime,
    probes: Sequence[ProbeDefinition | str] | None = None,
    config: BacktestConfig | None = None,
    run_id: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    *,
    calendar: TradingCalendar | None = None,
    regular_hours: bool = True,
) -> ProbeRunSummary:
    """Run ``probes`` (default: the whole catalog) on every NYSE day of ``[start, end)`` for each symbol.

    ``bar_source`` is a :class:`BarStore` (1-minute bars) or a loader callable. ``regular_hours`` keeps only
    bars inside each session's regular hours (09:30 to the close, early closes included); otherwise every bar
    of the session's New York date counts. ``on_progress(done, total)`` is called after each (symbol,
    session); ``cancel`` is checked before each day, so a cancelled run stops between days with every stored
    day complete. Raises StrategyError up front for a ``config`` the vectorised path cannot model."""
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise ValueError("start and end must be timezone-aware, with end after start")
    if run_id is not None and not 0 < len(run_id) <= RUN_ID_LENGTH:
        raise ValueError(f"a run id has 1 to {RUN_ID_LENGTH} characters, got {run_id!r}")
    given = [probe_named(p) if isinstance(p, str) else p for p in (CATALOG if probes is None else probes)]
    chosen = list({p.name: p for p in given}.values())  # a probe named twice runs once
    cfg = _intraday(config)
    cal = calendar or TradingCalendar()
    names = list(dict.fromkeys(normalize_symbol(s) for s in symbols))
    summary = ProbeRunSummary(run_id or f"probe-{uuid.uuid4().hex}", len(chosen), tuple(names))
    ids = ensure_probes(sessions, chosen)
    done = stored_keys(sessions, summary.run_id, names)
    days = cal.trading_days(start, end)
    summary.units_total = len(days) * len(names)
    for symbol in names:
        if cancel is not None and cancel.is_set():
            summary.cancelled = True
            break
        data = _load(bar_source, symbol, start, end)
        if len(data) == 0:
            summary.symbols_without_bars.append(symbol)
        by_day = {s.day: s for s in session_slices(data.time, cal, regular_hours=regular_hours)}
        for day in days:
            part = by_day.get(day)
            if part is not None:
                if cancel is not None and cancel.is_set():
                    summary.cancelled = True
                    return summary
                _run_day(sessions, summary, chosen, ids, done, _slice(data, part), day, cfg)
            summary.units_done += 1
            if on_progress is not None:
                on_progress(summary.units_done, summary.units_total)
    return summary


def session_slices(times: np.ndarray, calendar: TradingCalendar, *, regular_hours: bool = True) -> list[DaySlice]:
    """Split bar open times (epoch seconds, ascending) into NYSE sessions; bars outside any session (weekends,
    holidays, and with ``regular_hours`` the pre- and after-market) belong to none and are left out."""
    t = np.asarray(times, dtype=np.float64)
    if len(t) > 1 and not np.all(np.diff(t) > 0):
        raise ValueError("bar times must be strictly increasing")
    session_day, opens_ns, closes_ns = calendar.trading_day_arrays()
    if regular_hours:
        opens, closes = opens_ns / 1e9, closes_ns / 1e9  # whole seconds: exact in float64
        index = np.searchsorted(opens, t, side="right") - 1
        inside = (index >= 0) & (t < closes[np.maximum(index, 0)])
        day = np.where(inside, session_day[np.maximum(index, 0)], -1)
    else:
        day = _new_york_dates(t)
        day = np.where(np.isin(day, session_day), day, -1)
    kept = np.flatnonzero(day >= 0)  # ascending times, so each session's bars are one contiguous run
    groups = np.split(kept, np.flatnonzero(np.diff(day[kept])) + 1) if len(kept) else []
    return [DaySlice(_EPOCH + timedelta(days=int(day[g[0]])), int(g[0]), int(g[-1]) + 1) for g in groups]


def _new_york_dates(t: np.ndarray) -> np.ndarray:
    """The New York date of each epoch-second time, as days since 1970-01-01."""
    local = pd.DatetimeIndex(pd.to_datetime(t, unit="s", utc=True)).tz_convert("America/New_York")
    return local.tz_localize(None).normalize().as_unit("s").asi8 // 86_400


def _intraday(config: BacktestConfig | None) -> BacktestConfig:
    """``config`` with positions closed at the day's last close, or StrategyError if the vectorised path
    cannot model it (better refused once than recorded as an error on every day)."""
    cfg = dataclasses.replace(config or BacktestConfig(), close_at_end=True)
    if cfg.fractional or cfg.fill_model.max_volume_fraction is not None:
        raise StrategyError("probes run on the vectorised path: whole shares and no volume cap")
    return cfg


def _load(source: BarStore | BarLoader, symbol: str, start: datetime, end: datetime) -> BarData:
    if isinstance(source, BarStore):
        a = source.load(symbol, Timeframe.MIN_1, start, end)
        return BarData.from_arrays(symbol, a.t, a.open, a.high, a.low, a.close, a.volume)
    data = source(symbol, start, end)
    t = np.asarray(data.time, dtype=np.float64)
    inside = (t >= start.timestamp()) & (t < end.timestamp())
    if inside.all():
        return data
    return BarData(data.symbol, *(np.asarray(getattr(data, c))[inside] for c in _COLUMNS))  # a generous loader


def _slice(data: BarData, part: DaySlice) -> BarData:
    return BarData(data.symbol, *(getattr(data, c)[part.start : part.stop] for c in _COLUMNS))


def _run_day(
    sessions: sessionmaker[Session], summary: ProbeRunSummary, probes: list[ProbeDefinition],
    ids: dict[str, uuid.UUID], done: set[tuple[uuid.UUID, str, date]], data: BarData, day: date,
    cfg: BacktestConfig,
) -> None:  # fmt: skip
    pending = [p for p in probes if (ids[p.name], data.symbol, day) not in done]
    if not pending:
        summary.days_resumed += 1
        return
    results = [run_probe_day(p, ids[p.name], data, day, cfg) for p in pending]
    written, trades = save_day(sessions, summary.run_id, results)
    summary.days_run += 1
    summary.results_written += written
    summary.trades_written += trades
    summary.errors += sum(1 for r in results if "error" in r.metrics)


def run_probe_day(
    probe: ProbeDefinition, probe_id: uuid.UUID, data: BarData, day: date, config: BacktestConfig
) -> DayResult:
    """One probe on one day's bars, as a storable result. A probe that raises becomes a result recording the
    error (one broken probe must not stop a run over thousands of days)."""
    n = len(data)
    first, last = (datetime.fromtimestamp(float(data.time[i]), UTC) for i in (0, n - 1))
    try:
        strategy = probe.build()
        run = run_vectorized(strategy, data, config)
        metrics = run.metrics(data.close)
        warmup = strategy.warmup_bars() if hasattr(strategy, "warmup_bars") else 0
    except Exception as exc:
        return DayResult(probe_id, data.symbol, day, first, last, 0, None, None, None, None, None,
                         {"error": describe_failure(exc), "bar_count": n})  # fmt: skip
    trades = tuple(_trade(t) for t in run.trades)
    stats = {**metrics.to_dict(), "warmup_bars": warmup, "warmed_up": n > warmup}
    return DayResult(
        probe_id, data.symbol, day, first, last, len(trades), metrics.win_rate, metrics.profit_factor,
        sum((t.pnl for t in trades), money(0.0)), metrics.max_drawdown, metrics.sharpe, stats, trades,
    )  # fmt: skip


def _trade(t: Trade) -> TradeRow:
    return TradeRow(
        datetime.fromtimestamp(t.entry_time, UTC), datetime.fromtimestamp(t.exit_time, UTC), money(t.entry_price),
        money(t.exit_price), Decimal(repr(t.size)), money(t.pnl), float(t.return_pct), t.exit_reason,
        {"fees": t.fees, "entry_bar": t.entry_bar, "exit_bar": t.exit_bar},
    )  # fmt: skip
