"""Backtest results are private, and a result is filed only under the trader's own strategy, version and batch."""

from __future__ import annotations

import inspect
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from core.backtest.batch_jobs import BatchSpec, create_batch
from core.backtest.engine import run_backtest
from core.backtest.results import ResultError, RunRecord, load_result, save_detail, save_failure, save_result
from core.backtest.service import (
    BacktestError,
    BacktestRequest,
    ResultNotFound,
    load_for_display,
    past_results,
    run_and_store,
)
from core.backtest.strategy_ref import StrategyRef
from core.market.store import BarStore
from core.services.backtests import Backtests
from tests.backtest.test_vectorized import SmaSignals, walk
from tests.scoping.rows import saved_strategy, version_of

START, END = datetime(2025, 3, 3, tzinfo=UTC), datetime(2025, 3, 8, tzinfo=UTC)
REFERENCES = ("strategy_id", "strategy_version_id", "batch_job_id")


def _record(user_id: uuid.UUID, **refs: Any) -> RunRecord:
    return RunRecord(
        user_id=user_id, strategy_name="SmaSignals", source=inspect.getsource(SmaSignals), parameters={},
        symbol="ACME", timeframe="1Min", start=START, end=END, **refs,
    )  # fmt: skip


def _anns_references(sessions, ann: uuid.UUID) -> dict[str, uuid.UUID]:
    strategy = saved_strategy(sessions, ann)
    batch = create_batch(sessions, BatchSpec(ann, "b", StrategyRef.of_class(SmaSignals), "ACME", START, END))
    return {"strategy_id": strategy.id, "strategy_version_id": version_of(sessions, strategy), "batch_job_id": batch}


@pytest.fixture
def anns_result(sessions, ann) -> uuid.UUID:
    return save_failure(sessions, _record(ann, **_anns_references(sessions, ann)), "no bars")


@pytest.fixture
def backtests(db) -> Backtests:
    return Backtests(db.session_factory, lambda: BarStore(db.engine))


# --- core.backtest.results ---


def test_load_result_answers_none_for_another_traders_result(sessions, ann, bob, anns_result, answered_as_missing):
    assert load_result(sessions, anns_result, ann) is not None
    assert answered_as_missing(lambda: load_result(sessions, anns_result, bob),
                               lambda: load_result(sessions, uuid.uuid4(), bob)) is None  # fmt: skip


def _save_result(sessions, record: RunRecord) -> uuid.UUID:
    data = walk(300, seed=3)
    run = run_backtest(SmaSignals(), data)
    return save_result(sessions, record, times=run.times, equity=run.equity, trades=run.trades,
                       metrics=run.metrics(data.close), duration_ms=1)  # fmt: skip


def _save_detail(sessions, record: RunRecord) -> uuid.UUID:
    return save_detail(sessions, record, {"trades": [], "metrics": {}, "times": [], "equity": []}, 1)


def _save_failure(sessions, record: RunRecord) -> uuid.UUID:
    return save_failure(sessions, record, "no bars")


@pytest.mark.parametrize("reference", REFERENCES)
@pytest.mark.parametrize("save", [_save_result, _save_detail, _save_failure], ids=["save_result", "save_detail",
                                                                                     "save_failure"])  # fmt: skip
def test_save_result_save_detail_and_save_failure_refuse_another_traders_reference(
    sessions, ann, bob, refused, save, reference
) -> None:
    theirs = _anns_references(sessions, ann)[reference]
    message = refused(ResultError, lambda: save(sessions, _record(bob, **{reference: theirs})),
                      lambda: save(sessions, _record(bob, **{reference: uuid.uuid4()})))  # fmt: skip
    assert message.startswith("no such ")


def test_save_failure_refuses_a_version_of_another_strategy_than_the_one_named(sessions, bob, refused) -> None:
    first, second = saved_strategy(sessions, bob, "First"), saved_strategy(sessions, bob, "Second")
    mixed = _record(bob, strategy_id=first.id, strategy_version_id=version_of(sessions, second))
    with pytest.raises(ResultError, match="no such strategy version"):
        save_failure(sessions, mixed, "no bars")
    own = _record(bob, strategy_id=second.id, strategy_version_id=version_of(sessions, second))
    assert load_result(sessions, save_failure(sessions, own, "no bars"), bob) is not None


# --- core.backtest.service and core.services.backtests.Backtests ---


def test_load_for_display_refuses_another_traders_result(sessions, bob, anns_result, refused) -> None:
    refused(ResultNotFound, lambda: load_for_display(sessions, bob, anns_result),
            lambda: load_for_display(sessions, bob, uuid.uuid4()))  # fmt: skip


def _request(user_id: uuid.UUID, strategy_id: uuid.UUID) -> BacktestRequest:
    return BacktestRequest(user_id=user_id, symbol="ACME", timeframe="1Min", start=START, end=END,
                           strategy_id=strategy_id)  # fmt: skip


def test_run_and_store_refuses_another_traders_strategy(db, sessions, ann, bob, refused) -> None:
    theirs = saved_strategy(sessions, ann)
    store = BarStore(db.engine)
    try:
        message = refused(BacktestError, lambda: run_and_store(sessions, store, _request(bob, theirs.id)),
                          lambda: run_and_store(sessions, store, _request(bob, uuid.uuid4())))  # fmt: skip
    finally:
        store.close()
    assert message == "no such strategy"


def test_past_results_of_another_traders_strategy_are_none(sessions, ann, bob, anns_result, answered_as_missing):
    strategy_id = load_result(sessions, anns_result, ann).strategy_id
    assert answered_as_missing(lambda: past_results(sessions, bob, strategy_id),
                               lambda: past_results(sessions, bob, uuid.uuid4())) == []  # fmt: skip


def test_backtests_result_refuses_another_traders_result(backtests, bob, anns_result, refused) -> None:
    refused(ResultNotFound, lambda: backtests.result(bob, anns_result), lambda: backtests.result(bob, uuid.uuid4()))


def test_backtests_run_refuses_another_traders_strategy(sessions, backtests, ann, bob, refused) -> None:
    theirs = saved_strategy(sessions, ann)
    refused(BacktestError, lambda: backtests.run(_request(bob, theirs.id)),
            lambda: backtests.run(_request(bob, uuid.uuid4())))  # fmt: skip
