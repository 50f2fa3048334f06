"""The same batch on a Dask cluster (a local one here) gives the same rows as on local processes."""

from __future__ import annotations

import pytest
from distributed import LocalCluster

from core.backtest.assignments import Variable
from core.backtest.batch_jobs import BatchError, create_batch, query_runs, run_batch
from core.backtest.executors import DaskExecutor, LocalExecutor
from core.backtest.strategy_ref import StrategyRef
from tests.backtest.test_batch_jobs import SLOW, bars, spec, stored
from tests.backtest.test_sandboxed_backtest import SIGNALS

PASSWORD = "Correct-Horse-2026"


@pytest.fixture
def user(accounts):
    return accounts.sign_up("quant@example.com", "quant", PASSWORD).id


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, as separate machines would be (the bars reach them by scatter, not by fork)."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local


def metrics_of(db, job):
    return {i: (r.variables, r.metrics, r.status) for i, r in stored(db, job).items()}


@pytest.mark.parametrize("ref", [StrategyRef("SmaSignals", module="tests.backtest.test_vectorized"),
                                 StrategyRef("Sig", source=SIGNALS)], ids=["built-in", "sandboxed"])  # fmt: skip
def test_dask_and_local_processes_store_the_same_results(db, user, cluster, ref):
    variables = (Variable("ticker", ("AAA", "BBB")), Variable("fast", (4, 7, 10)), SLOW)
    on_dask = create_batch(db.session_factory, spec(user, *variables, ref=ref))
    progress: list[int] = []
    state = run_batch(db.session_factory, on_dask, user, bars=bars, executor=DaskExecutor(cluster.scheduler_address),
                      on_progress=lambda done, total: progress.append(done))  # fmt: skip
    assert (state.status, state.completed, state.failed_runs) == ("finished", 18, 0)
    assert progress[-1] == 18
    local = create_batch(db.session_factory, spec(user, *variables, ref=ref))
    run_batch(db.session_factory, local, user, bars=bars, executor=LocalExecutor(2))
    assert metrics_of(db, on_dask) == metrics_of(db, local)
    best = query_runs(db.session_factory, on_dask, user, limit=1)[0]
    assert best.metrics["total_return"] == max(r.metrics["total_return"] for r in stored(db, local).values())


def test_an_unreachable_scheduler_fails_the_batch_with_a_clear_error(db, user):
    job = create_batch(db.session_factory, spec(user, Variable("fast", (4, 7))))
    with pytest.raises(BatchError, match=r"could not reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        run_batch(db.session_factory, job, user, bars=bars,
                  executor=DaskExecutor("tcp://127.0.0.1:9", connect_timeout_s=2))  # fmt: skip
    with db.session_factory() as s:
        from core.db.models import BatchJob

        row = s.get(BatchJob, job)
        assert row.status == "failed" and "could not reach" in row.error and row.completed == 0
