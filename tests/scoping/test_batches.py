"""Batch tests: another trader's batch cannot be read, summarised, queried or run, and a batch cannot be filed
under another trader's strategy (issue 26: ``summarize`` took no user and gave anyone's metrics back)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, update

from core.backtest.assignments import Variable
from core.backtest.batch_jobs import (
    BatchError,
    BatchInfo,
    BatchSpec,
    batch_info,
    batch_state,
    create_batch,
    failed_runs,
    query_runs,
    run_batch,
    summarize,
)
from core.backtest.executors import LocalExecutor
from core.backtest.strategy_ref import StrategyRef
from core.db.models import BatchJobRun
from core.db.models import Strategy as StrategyRow
from core.market.store import BarStore
from core.services.batches import Batches
from tests.backtest.test_vectorized import SmaSignals
from tests.scoping.rows import saved_strategy

START, END = datetime(2025, 3, 3, tzinfo=UTC), datetime(2025, 3, 8, tzinfo=UTC)


def _spec(user_id: uuid.UUID, strategy_id: uuid.UUID | None = None) -> BatchSpec:
    return BatchSpec(
        user_id=user_id, name="sma", strategy=StrategyRef.of_class(SmaSignals), symbol="ACME", start=START, end=END,
        variables=(Variable("fast", (4, 8)),), strategy_id=strategy_id,
    )  # fmt: skip


@pytest.fixture
def anns_batch(sessions, ann) -> uuid.UUID:
    """Ann's batch of two runs, one finished (with metrics) and one failed, filed under her strategy."""
    job = create_batch(sessions, _spec(ann, saved_strategy(sessions, ann).id))
    with sessions() as s:
        s.execute(insert(BatchJobRun), [
            {"id": uuid.uuid4(), "batch_job_id": job, "run_index": 0, "variables": {"fast": 4},
             "metrics": {"total_return": 0.25}, "status": "finished"},
            {"id": uuid.uuid4(), "batch_job_id": job, "run_index": 1, "variables": {"fast": 8}, "metrics": {},
             "status": "failed", "error": "boom"},
        ])  # fmt: skip
        s.commit()
    return job


@pytest.fixture
def batches(db) -> Batches:
    return Batches(db.session_factory, lambda: BarStore(db.engine))


# --- core.backtest.batch_jobs ---


def test_summarize_refuses_another_traders_batch(sessions, ann, bob, anns_batch, refused) -> None:
    assert summarize(sessions, anns_batch, ann)["best"]["value"] == 0.25  # what Bob must not see
    message = refused(BatchError, lambda: summarize(sessions, anns_batch, bob),
                      lambda: summarize(sessions, uuid.uuid4(), bob))  # fmt: skip
    assert message == "no such batch"


def test_create_batch_refuses_another_traders_strategy(sessions, ann, bob, refused) -> None:
    theirs = saved_strategy(sessions, ann)
    message = refused(BatchError, lambda: create_batch(sessions, _spec(bob, theirs.id)),
                      lambda: create_batch(sessions, _spec(bob, uuid.uuid4())))  # fmt: skip
    assert message == "no such strategy"


def test_create_batch_refuses_another_traders_public_strategy_too(sessions, ann, bob, refused) -> None:
    """A batch is filed under the trader's own strategy only: the panel and the command line offer no other."""
    theirs = saved_strategy(sessions, ann)
    with sessions() as s:
        s.execute(update(StrategyRow).where(StrategyRow.id == theirs.id).values(is_public=True))
        s.commit()
    refused(BatchError, lambda: create_batch(sessions, _spec(bob, theirs.id)),
            lambda: create_batch(sessions, _spec(bob, uuid.uuid4())))  # fmt: skip


def test_create_batch_files_a_batch_under_the_traders_own_strategy(sessions, bob) -> None:
    own = saved_strategy(sessions, bob)
    job = create_batch(sessions, _spec(bob, own.id))
    assert batch_state(sessions, job, bob).total == 2


def test_batch_state_refuses_another_traders_batch(sessions, bob, anns_batch, refused) -> None:
    refused(BatchError, lambda: batch_state(sessions, anns_batch, bob),
            lambda: batch_state(sessions, uuid.uuid4(), bob))  # fmt: skip


def test_batch_info_refuses_another_traders_batch(sessions, bob, anns_batch, refused) -> None:
    refused(BatchError, lambda: batch_info(sessions, anns_batch, bob), lambda: batch_info(sessions, uuid.uuid4(), bob))


def _run(sessions, job: uuid.UUID, user_id: uuid.UUID):
    def no_bars(symbol: str):
        raise AssertionError("a refused batch loads no bars")

    return run_batch(sessions, job, user_id, bars=no_bars, executor=LocalExecutor(1))


def test_run_batch_refuses_another_traders_batch(sessions, bob, anns_batch, refused) -> None:
    refused(BatchError, lambda: _run(sessions, anns_batch, bob), lambda: _run(sessions, uuid.uuid4(), bob))


def test_query_runs_refuses_another_traders_batch(sessions, bob, anns_batch, refused) -> None:
    refused(BatchError, lambda: query_runs(sessions, anns_batch, bob), lambda: query_runs(sessions, uuid.uuid4(), bob))


def test_failed_runs_refuses_another_traders_batch(sessions, bob, anns_batch, refused) -> None:
    refused(BatchError, lambda: failed_runs(sessions, anns_batch, bob),
            lambda: failed_runs(sessions, uuid.uuid4(), bob))  # fmt: skip


# --- core.services.batches.Batches (the Batch panel's and ``stratforge batch``'s service) ---


def test_batches_create_refuses_another_traders_strategy(sessions, batches, ann, bob, refused) -> None:
    theirs = saved_strategy(sessions, ann)
    refused(BatchError, lambda: batches.create(_spec(bob, theirs.id)), lambda: batches.create(_spec(bob, uuid.uuid4())))


def test_batches_info_refuses_another_traders_batch(batches, bob, anns_batch, refused) -> None:
    refused(BatchError, lambda: batches.info(anns_batch, bob), lambda: batches.info(uuid.uuid4(), bob))


def test_batches_state_refuses_another_traders_batch(batches, bob, anns_batch, refused) -> None:
    refused(BatchError, lambda: batches.state(anns_batch, bob), lambda: batches.state(uuid.uuid4(), bob))


def test_batches_run_refuses_another_traders_batch(batches, ann, bob, anns_batch, refused) -> None:
    info = batches.info(anns_batch, ann)  # as if Bob had got hold of it
    made_up = replace(info, state=replace(info.state, id=uuid.uuid4()))

    def run(which: BatchInfo):
        return batches.run(which, bob, LocalExecutor(1), lambda done, total: None, threading.Event(), "total_return")

    refused(BatchError, lambda: run(info), lambda: run(made_up))


def test_batches_results_refuses_another_traders_batch(batches, bob, anns_batch, refused) -> None:
    refused(BatchError, lambda: batches.results(anns_batch, bob, "total_return"),
            lambda: batches.results(uuid.uuid4(), bob, "total_return"))  # fmt: skip


def test_batches_top_refuses_another_traders_batch(batches, bob, anns_batch, refused) -> None:
    refused(BatchError, lambda: batches.top(anns_batch, bob, "total_return", 5),
            lambda: batches.top(uuid.uuid4(), bob, "total_return", 5))  # fmt: skip
