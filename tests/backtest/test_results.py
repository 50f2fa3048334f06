"""Backtest results in the database: a snapshot of what ran, thinned curves, trades, failures, privacy."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime

import numpy as np
import pytest

from core.backtest.engine import run_backtest
from core.backtest.results import RunRecord, load_result, save_failure, save_result, thin_curve
from core.backtest.vectorized import run_vectorized
from tests.backtest.test_vectorized import SmaSignals, walk

PASSWORD = "Correct-Horse-2026"


@pytest.fixture
def user(accounts):
    return accounts.sign_up("quant@example.com", "quant", PASSWORD).id


def record(user_id, **kw) -> RunRecord:
    return RunRecord(
        user_id=user_id, strategy_name="SmaSignals", source=inspect.getsource(SmaSignals),
        parameters={"fast": 10, "slow": 50, "size": 1.0}, symbol="X", timeframe="1Min",
        start=datetime(2025, 1, 2, tzinfo=UTC), end=datetime(2025, 3, 1, tzinfo=UTC), **kw,
    )  # fmt: skip


def test_thinned_curves_keep_the_ends_and_the_worst_point():
    values = np.concatenate([np.linspace(100, 200, 50_000), [37.5], np.linspace(150, 300, 49_999)])
    times = np.arange(len(values), dtype=np.float64)
    thin = thin_curve(times, values, points=500)
    assert len(thin) <= 501
    assert thin[0] == [0.0, 100.0] and thin[-1] == [99_999.0, 300.0]
    assert [50_000.0, 37.5] in thin
    assert thin_curve(times[:3], values[:3]) == [[0.0, 100.0], [1.0, values[1]], [2.0, values[2]]]


def test_a_finished_run_is_stored_with_its_snapshot(db, user):
    data = walk(5_000, seed=3)
    run = run_backtest(SmaSignals(), data)
    metrics = run.metrics(data.close)
    rid = save_result(
        db.session_factory, record(user), times=run.times, equity=run.equity, trades=run.trades, metrics=metrics,
        duration_ms=12,
    )  # fmt: skip
    row = load_result(db.session_factory, rid, user)
    assert row is not None and row.status == "completed"
    assert "def signals" in row.strategy_snapshot["source"] and row.parameters["slow"] == 50
    assert row.strategy_snapshot["trade_count"] == len(run.trades)
    assert row.metrics["trade_count"] == len(run.trades)
    assert row.metrics["total_return"] == pytest.approx(metrics.total_return)
    assert len(row.trades) == len(run.trades) and row.trades[0]["exit_reason"] in ("signal", "end_of_data")
    assert row.equity_curve[-1][1] == pytest.approx(float(run.final_cash))
    json.dumps(row.metrics, allow_nan=False)  # JSONB never held NaN


def test_vectorized_runs_store_the_same_way(db, user):
    data = walk(3_000, seed=5)
    run = run_vectorized(SmaSignals(), data)
    rid = save_result(
        db.session_factory, record(user, path="vectorized"), times=run.times, equity=run.equity, trades=run.trades,
        metrics=run.metrics(), duration_ms=1,
    )  # fmt: skip
    row = load_result(db.session_factory, rid, user)
    assert row.strategy_snapshot["path"] == "vectorized" and len(row.trades) == len(run.qty)


def test_failures_are_stored_and_results_are_private(db, user, accounts):
    rid = save_failure(db.session_factory, record(user), "ZeroDivisionError at line 7", duration_ms=3)
    row = load_result(db.session_factory, rid, user)
    assert row.status == "failed" and "line 7" in row.error_message
    other = accounts.sign_up("other@example.com", "other", PASSWORD).id
    assert load_result(db.session_factory, rid, other) is None


def test_a_backwards_range_is_refused(db, user):
    bad = RunRecord(user, "S", "", {}, "X", "1Min", datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="end before it starts"):
        save_failure(db.session_factory, bad, "x")
