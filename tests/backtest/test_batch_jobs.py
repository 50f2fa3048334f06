"""Batch jobs in the database: every assignment stored once, summary and queries in SQL, cancel and resume,
one runner per batch, privacy, and traders' code run through the sandbox."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.backtest.assignments import Variable
from core.backtest.batch_jobs import (
    BatchError,
    BatchSpec,
    batch_info,
    batch_state,
    create_batch,
    failed_runs,
    list_batches,
    query_runs,
    run_batch,
    summarize,
)
from core.backtest.engine import BacktestConfig
from core.backtest.executors import LocalExecutor
from core.backtest.strategy_ref import StrategyRef
from core.backtest.sweep import run_one
from core.broker.fill_costs import PerShareCommission
from core.broker.fill_model import FillModel
from core.db.advisory import advisory_key
from core.db.models import BatchJob, BatchJobRun
from tests.backtest.test_sandboxed_backtest import SIGNALS, in_process
from tests.backtest.test_vectorized import SmaSignals, walk

PASSWORD = "Correct-Horse-2026"
SEEDS = {"AAA": 11, "BBB": 12}
CONFIG = BacktestConfig(
    starting_cash=Decimal("50000"), fill_model=FillModel(commission=PerShareCommission(Decimal("0.005"), Decimal("1")))
)


def bars(symbol: str):
    if symbol not in SEEDS:
        raise LookupError(f"nothing stored for {symbol}")
    return walk(4_000, seed=SEEDS[symbol])


@pytest.fixture
def user(accounts):
    return accounts.sign_up("quant@example.com", "quant", PASSWORD).id


@pytest.fixture
def other(accounts):
    return accounts.sign_up("other@example.com", "other", PASSWORD).id


def spec(user_id, *variables, ref=None, **kw) -> BatchSpec:
    fields = {"start": datetime(2025, 1, 2, tzinfo=UTC), "end": datetime(2025, 2, 1, tzinfo=UTC), "config": CONFIG,
              "name": "sma sweep"}  # fmt: skip
    return BatchSpec(user_id=user_id, strategy=ref or StrategyRef.of_class(SmaSignals),
                     symbol="AAA", variables=variables, **(fields | kw))  # fmt: skip


FAST = Variable("fast", (4, 6, 8, 10, 12))
SLOW = Variable("slow", (30, 45, 60))


def stored(db, job_id) -> dict[int, BatchJobRun]:
    with db.session_factory() as s:
        return {r.run_index: r for r in s.scalars(select(BatchJobRun).where(BatchJobRun.batch_job_id == job_id))}


def test_a_batch_stores_every_assignment_with_the_metrics_of_a_direct_run(db, user):
    job = create_batch(db.session_factory, spec(user, FAST, SLOW))
    assert batch_state(db.session_factory, job, user).status == "queued"
    seen: list[tuple[int, int]] = []
    state = run_batch(db.session_factory, job, user, bars=bars, executor=LocalExecutor(2),
                      on_progress=lambda d, t: seen.append((d, t)))  # fmt: skip
    assert (state.status, state.total, state.completed, state.failed_runs) == ("finished", 15, 15, 0)
    assert seen[-1] == (15, 15) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    rows = stored(db, job)
    assert sorted(rows) == list(range(15))
    assert rows[7].variables == {"fast": 8, "slow": 45}
    direct = run_one(SmaSignals, bars("AAA"), 7, {"fast": 8, "slow": 45}, CONFIG)
    assert rows[7].metrics == direct.metrics
    with db.session_factory() as s:
        job_row = s.get(BatchJob, job)
        assert job_row.kind == "local" and job_row.completed_at is not None and job_row.symbols == ["AAA"]
        assert job_row.assignments_preview[:2] == [{"fast": 4, "slow": 30}, {"fast": 4, "slow": 45}]


def test_summary_and_queries_agree_with_python(db, user):
    job = create_batch(db.session_factory, spec(user, FAST, SLOW))
    run_batch(db.session_factory, job, user, bars=bars, executor=LocalExecutor(1))
    rows = stored(db, job)
    returns = {i: r.metrics["total_return"] for i, r in rows.items()}
    summary = batch_state(db.session_factory, job, user).summary
    best = max(returns, key=lambda i: (returns[i], -i))
    worst = min(returns, key=lambda i: (returns[i], i))
    assert summary["best"]["run_index"] == best and summary["best"]["variables"] == rows[best].variables
    assert summary["worst"]["run_index"] == worst
    assert summary["average"] == pytest.approx(sum(returns.values()) / 15)
    assert summary["runs_with_metric"] == 15 and summary["failed_runs"] == 0

    top = query_runs(db.session_factory, job, user, metric="total_return", limit=4)
    assert [r.run_index for r in top] == sorted(returns, key=lambda i: (-returns[i], i))[:4]
    threshold = sorted(returns.values())[7]
    above = query_runs(db.session_factory, job, user, metric="total_return", minimum=threshold, descending=False)
    assert [r.metrics["total_return"] for r in above] == sorted(v for v in returns.values() if v >= threshold)
    by_trades = summarize(db.session_factory, job, user, "trade_count")
    assert by_trades["best"]["value"] == max(r.metrics["trade_count"] for r in rows.values())
    with pytest.raises(BatchError, match="unknown metric"):
        query_runs(db.session_factory, job, user, metric="total_return; DROP TABLE users")


def test_cancel_then_resume_runs_each_assignment_exactly_once(db, user):
    big = Variable("fast", tuple(range(3, 23)))
    job = create_batch(db.session_factory, spec(user, big, SLOW))
    cancel = threading.Event()

    def stop_early(done: int, total: int) -> None:
        if done >= 6:
            cancel.set()

    first = run_batch(db.session_factory, job, user, bars=bars, executor=LocalExecutor(2), on_progress=stop_early,
                      cancel=cancel)  # fmt: skip
    assert first.status == "canceled" and 6 <= first.completed < 60
    partial = stored(db, job)
    resumed = run_batch(db.session_factory, job, user, bars=bars, executor=LocalExecutor(2))
    assert (resumed.status, resumed.completed) == ("finished", 60)
    rows = stored(db, job)
    assert sorted(rows) == list(range(60))
    assert all(rows[i].id == partial[i].id for i in partial)  # the first session's rows were kept, not redone
    fresh = create_batch(db.session_factory, spec(user, big, SLOW))
    run_batch(db.session_factory, fresh, user, bars=bars, executor=LocalExecutor(2))
    assert {i: r.metrics for i, r in stored(db, fresh).items()} == {i: r.metrics for i, r in rows.items()}


def test_the_ticker_variable_switches_symbols_and_a_symbol_without_bars_fails_alone(db, user):
    loads: list[str] = []

    def counting(symbol):
        loads.append(symbol)
        return bars(symbol)

    job = create_batch(
        db.session_factory, spec(user, Variable("ticker", ("aaa", "zzz", "bbb")), Variable("fast", (5, 9)))
    )
    state = run_batch(db.session_factory, job, user, bars=counting, executor=LocalExecutor(1))
    assert sorted(loads) == ["AAA", "BBB", "ZZZ"]  # each symbol's bars loaded once
    assert (state.status, state.completed, state.failed_runs) == ("finished", 6, 2)
    failures = failed_runs(db.session_factory, job, user)
    assert [f.variables for f in failures] == [{"ticker": "ZZZ", "fast": 5}, {"ticker": "ZZZ", "fast": 9}]
    assert all(f.error == "no bars for ZZZ: nothing stored for ZZZ" for f in failures)
    rows = stored(db, job)
    assert rows[5].metrics == run_one(SmaSignals, bars("BBB"), 5, {"fast": 9}, CONFIG).metrics


def test_truncation_is_recorded(db, user):
    job = create_batch(db.session_factory, spec(user, FAST, SLOW, cap=4))
    with db.session_factory() as s:
        row = s.get(BatchJob, job)
        assert (row.total, row.truncated, row.strategy_snapshot["full_count"]) == (4, True, 15)
    assert run_batch(db.session_factory, job, user, bars=bars, executor=LocalExecutor(1)).completed == 4


def test_a_batch_where_every_run_fails_is_failed_with_the_first_error(db, user):
    job = create_batch(db.session_factory, spec(user, Variable("fast", (1, 0))))  # below the parameter's minimum
    state = run_batch(db.session_factory, job, user, bars=bars, executor=LocalExecutor(1))
    assert state.status == "failed" and state.failed_runs == 2
    assert state.error.startswith("every run failed; the first error: StrategyParamError") and "fast" in state.error


def test_only_one_runner_at_a_time(db, user):
    job = create_batch(db.session_factory, spec(user, FAST))
    with db.session_factory() as holder:
        assert holder.execute(select(func.pg_try_advisory_lock(advisory_key(f"batch:{job}")))).scalar()
        with pytest.raises(BatchError, match="already running"):
            run_batch(db.session_factory, job, user, bars=bars, executor=LocalExecutor(1))
        holder.execute(select(func.pg_advisory_unlock(advisory_key(f"batch:{job}"))))
    assert run_batch(db.session_factory, job, user, bars=bars, executor=LocalExecutor(1)).status == "finished"


def test_another_users_batch_cannot_be_seen_run_or_queried(db, user, other):
    job = create_batch(db.session_factory, spec(user, FAST))
    for call in (
        lambda: batch_state(db.session_factory, job, other),
        lambda: run_batch(db.session_factory, job, other, bars=bars, executor=LocalExecutor(1)),
        lambda: query_runs(db.session_factory, job, other),
    ):
        with pytest.raises(BatchError, match="no such batch"):
            call()
    assert stored(db, job) == {}


def test_bad_batches_are_refused_before_anything_is_stored(db, user):
    with pytest.raises(BatchError, match="end after it starts"):
        create_batch(db.session_factory, spec(user, FAST, start=datetime(2025, 3, 1, tzinfo=UTC)))
    with pytest.raises(BatchError, match="timezone-aware"):
        create_batch(db.session_factory, spec(user, FAST, start=datetime(2025, 1, 1)))  # noqa: DTZ001
    with db.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(BatchJob)) == 0


def test_a_traders_strategy_runs_sandboxed_with_the_same_results(db, user):
    ref = StrategyRef("Sig", source=SIGNALS)
    job = create_batch(
        db.session_factory, spec(user, Variable("fast", (5, 8, 11)), Variable("slow", (40, 80)), ref=ref)
    )
    state = run_batch(db.session_factory, job, user, bars=bars, executor=LocalExecutor(2))
    assert (state.status, state.completed, state.failed_runs) == ("finished", 6, 0)
    rows = stored(db, job)
    local = in_process(SIGNALS, "Sig")
    assert rows[3].metrics == run_one(local, bars("AAA"), 3, {"fast": 8, "slow": 80}, CONFIG).metrics
    with db.session_factory() as s:
        assert s.get(BatchJob, job).strategy_snapshot["source"] == SIGNALS


def test_batches_are_listed_newest_first_with_what_a_resume_needs(db, user, other):
    first = create_batch(db.session_factory, spec(user, FAST))
    second = create_batch(db.session_factory, spec(user, FAST, SLOW, name="wide sweep"))
    listed = list_batches(db.session_factory, user)
    assert [b.id for b in listed] == [second, first]
    info = batch_info(db.session_factory, second, user)
    assert (info.name, info.timeframe, info.variable_names, info.state.total) == (
        "wide sweep",
        "1Min",
        ("fast", "slow"),
        15,
    )
    assert info.start == datetime(2025, 1, 2, tzinfo=UTC) and info.state.status == "queued"
    assert list_batches(db.session_factory, other) == []
    with pytest.raises(BatchError, match="no such batch"):
        batch_info(db.session_factory, second, other)
