"""Probe runs against a real PostgreSQL: catalog sync, one result per (probe, symbol, NYSE day), trades equal to
a direct run of the day, resume, cancel, failures, the leaderboard and run isolation."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from core.backtest.probe_store import money, probe_leaderboard, probe_results_frame, sync_catalog
from core.backtest.probes import run_probes, session_slices
from core.backtest.vectorized import run_vectorized
from core.db.models import ProbeStrategy, StrategyProbeResult, StrategyProbeTrade
from core.market.calendar import TradingCalendar
from core.market.frames import check_frame
from core.market.store import BarStore
from core.strategy.api import BarData
from core.strategy.probe_catalog import CATALOG, ProbeDefinition, ProbeSignals, probe_named

# Friday, then Monday 20 January 2025 (Martin Luther King Jr. Day: NYSE closed) and a weekend, then Tue and Wed.
DAYS = (date(2025, 1, 17), date(2025, 1, 21), date(2025, 1, 22))
NEW_YORK = ZoneInfo("America/New_York")
START, END = datetime(2025, 1, 17, tzinfo=NEW_YORK), datetime(2025, 1, 23, tzinfo=NEW_YORK)
SYMBOLS = ("AAA", "BBB")
CALENDAR = TradingCalendar(2026)
FEW = [probe_named(n) for n in ("sma_cross_10_30", "opening_range_15", "rsi_oversold_2_10")]


def session_frame(day: date, seed: int, *, regular: int = 390, after: int = 90) -> pd.DataFrame:
    """Minute bars from 09:30 New York (14:30 UTC in January): ``regular`` session bars trending up then
    reverting, then ``after`` after-hours bars (past 00:00 UTC when long enough), which probes must ignore."""
    rng = np.random.default_rng(seed)
    n = regular + after
    x = np.arange(n)
    drift = np.where(x < regular // 2, 0.0006, -0.0009)
    close = 100 * np.exp(np.cumsum(drift + rng.normal(0, 0.0008, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0, 0.0004, n)) * close
    frame = pd.DataFrame({
        "timestamp": pd.date_range(datetime(day.year, day.month, day.day, 14, 30, tzinfo=UTC), periods=n,
                                   freq="1min"),
        "open": open_, "high": np.maximum(open_, close) + spread, "low": np.minimum(open_, close) - spread,
        "close": close, "volume": rng.integers(100, 10_000, n).astype(float),
    })  # fmt: skip
    return check_frame(frame).valid


def regular_bars(frame: pd.DataFrame, symbol: str, regular: int = 390) -> BarData:
    part = frame.iloc[:regular]
    seconds = part["timestamp"].to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
    cols = (part[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume"))
    return BarData.from_arrays(symbol, seconds, *cols)


@pytest.fixture
def store(db):
    s = BarStore(db.engine)
    yield s
    s.close()


@pytest.fixture
def stored(store) -> dict[tuple[str, date], BarData]:
    """2 symbols x 3 NYSE days in the store (plus a holiday gap); returns each day's regular-hours bars."""
    days = {}
    for i, symbol in enumerate(SYMBOLS):
        frames = [session_frame(day, seed=10 * i + j) for j, day in enumerate(DAYS)]
        store.insert(symbol, "1Min", pd.concat(frames, ignore_index=True), source="alpaca")
        days.update({(symbol, day): regular_bars(f, symbol) for day, f in zip(DAYS, frames, strict=True)})
    return days


def count(db, model, **where) -> int:
    with db.session_factory() as s:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return s.scalar(query)


def test_sessions_are_nyse_days_by_new_york_date():
    frame = pd.concat([session_frame(day, seed=1, after=300) for day in DAYS], ignore_index=True)
    holiday = session_frame(date(2025, 1, 20), seed=2, regular=10, after=0)  # stray bars on a closed day
    frame = pd.concat([frame, holiday], ignore_index=True).sort_values("timestamp", ignore_index=True)
    t = frame["timestamp"].to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
    regular = session_slices(t, CALENDAR)
    assert [s.day for s in regular] == list(DAYS)
    assert all(s.stop - s.start == 390 for s in regular)
    assert all(datetime.fromtimestamp(t[s.start], UTC).time().isoformat() == "14:30:00" for s in regular)
    every = session_slices(t, CALENDAR, regular_hours=False)
    assert [s.day for s in every] == list(DAYS)
    # 300 after-hours bars run to 01:59 UTC the next day (20:59 New York): still their New York date's session.
    assert all(s.stop - s.start == 690 for s in every)
    assert datetime.fromtimestamp(t[every[0].stop - 1], UTC) == datetime(2025, 1, 18, 1, 59, tzinfo=UTC)


def test_sync_is_idempotent_and_deactivates_instead_of_deleting(db):
    ids = sync_catalog(db.session_factory)
    assert set(ids) == {p.name for p in CATALOG}
    with db.session_factory() as s:
        before = {r.name: (r.id, r.updated_at, r.details) for r in s.scalars(select(ProbeStrategy))}
    assert sync_catalog(db.session_factory) == ids
    with db.session_factory() as s:
        after = {r.name: (r.id, r.updated_at, r.details) for r in s.scalars(select(ProbeStrategy))}
    assert after == before
    row = before["macd_12_26_9"][2]
    assert row == {"family": "trend", "module": "core.strategy.probe_catalog", "class_name": "MacdCross",
                   "params": {"fast": 12, "slow": 26, "signal": 9, "size": 1.0}}  # fmt: skip

    sync_catalog(db.session_factory, CATALOG[1:])
    with db.session_factory() as s:
        active = dict(s.execute(select(ProbeStrategy.name, ProbeStrategy.is_active)).all())
    assert len(active) == len(CATALOG) and active[CATALOG[0].name] is False
    assert sum(active.values()) == len(CATALOG) - 1
    assert sync_catalog(db.session_factory)[CATALOG[0].name] == ids[CATALOG[0].name]  # back, same row
    assert count(db, ProbeStrategy, is_active=True) == len(CATALOG)


def test_a_run_stores_one_result_per_probe_symbol_and_day_with_the_days_trades(db, store, stored):
    progress = []
    summary = run_probes(db.session_factory, store, SYMBOLS, START, END, run_id="r1", calendar=CALENDAR,
                         on_progress=lambda done, total: progress.append((done, total)))  # fmt: skip
    expected = len(CATALOG) * len(SYMBOLS) * len(DAYS)
    assert summary.results_written == count(db, StrategyProbeResult, run_id="r1") == expected
    assert (summary.days_run, summary.errors, summary.cancelled) == (6, 0, False)
    assert progress == [(i, 6) for i in range(1, 7)]
    frame = probe_results_frame(db.session_factory, "r1")
    assert len(frame) == expected and set(frame["open_day"]) == set(DAYS)
    assert frame.groupby(["probe", "symbol"]).size().eq(3).all()

    with db.session_factory() as s:
        results = s.scalars(select(StrategyProbeResult).where(StrategyProbeResult.run_id == "r1")).all()
        trades = defaultdict(list)
        for t in s.scalars(select(StrategyProbeTrade).order_by(StrategyProbeTrade.entry_time)):
            trades[t.result_id].append(t)
        names = dict(s.execute(select(ProbeStrategy.id, ProbeStrategy.name)).all())
    assert summary.trades_written == sum(map(len, trades.values())) > 100
    for r in results:
        bars = stored[(r.symbol, r.open_day)]
        assert r.period_start == datetime.fromtimestamp(bars.time[0], UTC) and r.period_start.tzinfo is not None
        assert r.period_end == datetime.fromtimestamp(bars.time[-1], UTC)  # the after-hours bars were left out
        direct = run_vectorized(probe_named(names[r.probe_strategy_id]).build(), bars)
        mine = trades[r.id]
        assert r.total_trades == len(mine) == len(direct.trades) == r.metrics["trade_count"]
        for row, t in zip(mine, direct.trades, strict=True):
            assert (row.side, row.symbol, row.exit_reason) == ("long", r.symbol, t.exit_reason)
            assert row.entry_time == datetime.fromtimestamp(t.entry_time, UTC)
            assert row.exit_time == datetime.fromtimestamp(t.exit_time, UTC)
            assert (row.entry_price, row.exit_price) == (money(t.entry_price), money(t.exit_price))
            assert row.quantity == Decimal(repr(t.size)) and row.pnl == money(t.pnl)
        assert isinstance(r.total_pnl, Decimal) and r.total_pnl == sum((t.pnl for t in mine), Decimal(0))
        assert float(r.total_pnl) == pytest.approx(direct.final_cash - 100_000, abs=1e-5)  # flat at the close
        assert r.win_rate == direct.metrics().win_rate and r.metrics["warmed_up"] is True


def test_running_the_same_run_again_adds_nothing(db, store, stored):
    first = run_probes(db.session_factory, store, SYMBOLS, START, END, FEW, run_id="again", calendar=CALENDAR)
    again = run_probes(db.session_factory, store, SYMBOLS, START, END, FEW, run_id="again", calendar=CALENDAR)
    assert first.results_written == 18 and first.trades_written > 0
    assert (again.results_written, again.trades_written, again.days_run, again.days_resumed) == (0, 0, 0, 6)
    assert count(db, StrategyProbeResult) == 18
    assert count(db, StrategyProbeTrade) == first.trades_written


def test_cancel_stops_between_days_and_the_run_resumes_where_it_stopped(db, store, stored):
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done == 2:
            cancel.set()

    stopped = run_probes(db.session_factory, store, SYMBOLS, START, END, FEW, run_id="c", calendar=CALENDAR,
                         on_progress=progress, cancel=cancel)  # fmt: skip
    assert stopped.cancelled and stopped.units_done == 2 and stopped.days_run == 2
    frame = probe_results_frame(db.session_factory, "c")
    assert len(frame) == 2 * len(FEW)
    assert set(zip(frame["symbol"], frame["open_day"], strict=True)) == {("AAA", DAYS[0]), ("AAA", DAYS[1])}

    resumed = run_probes(db.session_factory, store, SYMBOLS, START, END, FEW, run_id="c", calendar=CALENDAR)
    assert (resumed.days_resumed, resumed.days_run, resumed.cancelled) == (2, 4, False)
    assert count(db, StrategyProbeResult, run_id="c") == 6 * len(FEW)


class Exploding(ProbeSignals):
    """Fails on Tuesdays, so a failing probe and a working day live in one run."""

    def signals(self, data):
        if datetime.fromtimestamp(data.time[0], UTC).weekday() == 1:
            raise ZeroDivisionError("boom")
        return np.zeros(len(data), bool), np.zeros(len(data), bool)

    def warmup_bars(self) -> int:
        return 0


def test_a_probe_that_raises_is_recorded_and_the_run_goes_on(db, store, stored):
    broken = ProbeDefinition("test_exploding", "Exploding", "volatility", "Breaks on Tuesdays.", Exploding)
    summary = run_probes(db.session_factory, store, SYMBOLS, START, END, [broken, FEW[0]], run_id="e",
                         calendar=CALENDAR)  # fmt: skip
    assert summary.results_written == 12 and summary.errors == 2
    frame = probe_results_frame(db.session_factory, "e")
    failed = frame[frame["error"].notna()]
    assert set(failed["probe"]) == {"test_exploding"} and set(failed["open_day"]) == {DAYS[1]}
    assert failed["error"].str.contains("ZeroDivisionError: boom").all()
    assert failed["total_pnl"].isna().all() and (failed["total_trades"] == 0).all()
    board = {row.probe: row for row in probe_leaderboard(db.session_factory, "e")}
    assert (board["test_exploding"].days, board["test_exploding"].errors) == (4, 2)
    assert board["test_exploding"].mean_pnl == 0 and board["test_exploding"].mean_win_rate is None


def test_days_too_short_for_the_warm_up_are_results_without_trades(db, store):
    store.insert("TINY", "1Min", session_frame(DAYS[0], seed=3, regular=12, after=0), source="alpaca")
    summary = run_probes(db.session_factory, store, ["tiny", "NOBARS"], START, END, run_id="w", calendar=CALENDAR)
    assert summary.results_written == len(CATALOG) and summary.errors == 0
    assert summary.symbols_without_bars == ["NOBARS"] and summary.units_total == 6
    with db.session_factory() as s:
        rows = s.execute(select(StrategyProbeResult.total_trades, StrategyProbeResult.total_pnl,
                                StrategyProbeResult.metrics)).all()  # fmt: skip
    cold = [(trades, pnl, m) for trades, pnl, m in rows if not m["warmed_up"]]
    assert len(cold) == sum(p.build().warmup_bars() >= 12 for p in CATALOG) >= len(CATALOG) - 4
    assert all(trades == 0 and pnl == 0 and m["bar_count"] == 12 for trades, pnl, m in cold)


def test_the_leaderboard_is_the_mean_over_symbols_and_days(db, store, stored):
    run_probes(db.session_factory, store, SYMBOLS, START, END, run_id="lb", calendar=CALENDAR)
    frame = probe_results_frame(db.session_factory, "lb")
    board = probe_leaderboard(db.session_factory, "lb")
    assert len(board) == len(CATALOG)
    means = [row.mean_pnl for row in board]
    assert means == sorted(means, reverse=True)
    for row in board:
        mine = frame[frame["probe"] == row.probe]
        assert (row.days, row.errors, row.symbols) == (6, 0, 2)
        assert row.family == probe_named(row.probe).family
        assert row.trades == mine["total_trades"].sum()
        exact = sum(mine["total_pnl"], Decimal(0)) / len(mine)
        assert row.mean_pnl.quantize(Decimal("1e-9")) == exact.quantize(Decimal("1e-9"))
        rates = mine["win_rate"].dropna()
        assert row.mean_win_rate == (pytest.approx(rates.mean()) if len(rates) else None)


def test_runs_do_not_mix(db, store, stored):
    run_probes(db.session_factory, store, SYMBOLS, START, END, FEW, run_id="a", calendar=CALENDAR)
    other = run_probes(db.session_factory, store, ["BBB"], START, END, FEW[:1], calendar=CALENDAR)
    assert other.run_id.startswith("probe-") and other.results_written == 3  # a fresh run, not a resume of "a"
    a, b = probe_results_frame(db.session_factory, "a"), probe_results_frame(db.session_factory, other.run_id)
    assert len(a) == 18 and len(b) == 3
    assert set(b["symbol"]) == {"BBB"} and set(b["probe"]) == {FEW[0].name}
    assert [r.probe for r in probe_leaderboard(db.session_factory, other.run_id)] == [FEW[0].name]
    same = a[(a["probe"] == FEW[0].name) & (a["symbol"] == "BBB")].reset_index(drop=True)
    assert same.equals(b)  # the same probe on the same bars gives the same result
    assert probe_results_frame(db.session_factory, "missing").empty
    with pytest.raises(ValueError, match="1 to 50 characters"):
        run_probes(db.session_factory, store, SYMBOLS, START, END, FEW, run_id="x" * 51, calendar=CALENDAR)


def test_a_loader_callable_runs_like_the_bar_store(db, store, stored):
    frames = {symbol: pd.concat([session_frame(day, seed=10 * i + j) for j, day in enumerate(DAYS)])
              for i, symbol in enumerate(SYMBOLS)}  # fmt: skip
    asked = []

    def loader(symbol: str, start: datetime, end: datetime) -> BarData:
        asked.append((symbol, start, end))
        early = session_frame(date(2025, 1, 16), seed=99)  # before the range: the runner must drop it
        both = pd.concat([early, frames[symbol]], ignore_index=True)
        return regular_bars(both, symbol, regular=len(both))  # after-hours bars included

    run_probes(db.session_factory, loader, SYMBOLS, START, END, FEW, run_id="loaded", calendar=CALENDAR)
    run_probes(db.session_factory, store, SYMBOLS, START, END, FEW, run_id="from_store", calendar=CALENDAR)
    assert asked == [(s, START, END) for s in SYMBOLS]
    loaded, from_store = (probe_results_frame(db.session_factory, r) for r in ("loaded", "from_store"))
    assert len(loaded) == 18 and loaded.equals(from_store)
