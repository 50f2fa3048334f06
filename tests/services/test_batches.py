"""Batch tests through the service the Batch panel and ``stratforge batch`` share: every assignment stored once,
ranked and summarised, variables from saved lists, and a bad batch id refused."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest

from core.backtest.batch_jobs import BatchError, BatchSpec
from core.backtest.strategy_ref import StrategyRef
from core.market.store import BarStore
from core.services.batches import Batches, commission_config, list_type_for, make_executor
from tests.backtest.test_vectorized import SmaSignals
from tests.market.test_store import minutes

T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


@pytest.fixture
def batches(db) -> Batches:
    store = BarStore(db.engine)
    store.insert("ACME", "1Min", minutes(3_000, start=T0, seed=4), source="csv_import")
    store.close()
    return Batches(db.session_factory, lambda: BarStore(db.engine))


@pytest.fixture
def user(accounts) -> uuid.UUID:
    return accounts.sign_up("quant@example.com", "quant", "Correct-Horse-2026").id


def test_a_batch_over_two_by_two_variables_stores_four_ranked_runs(batches, user):
    batches.save_list(user, "slows", "number", [30, 60])
    variables = batches.variables(user, [("fast", "4,8")], [("slow", "slows")])
    spec = BatchSpec(
        user_id=user, name="sma", strategy=StrategyRef.of_class(SmaSignals), symbol="ACME", variables=variables,
        start=T0, end=datetime(2025, 3, 10, tzinfo=UTC), config=commission_config(0.005),
    )  # fmt: skip
    job = batches.create(spec)
    assert batches.state(job, user).total == 4

    seen: list[tuple[int, int]] = []
    state = batches.run(batches.info(job, user), user, make_executor(1, ""), lambda d, t: seen.append((d, t)),
                        threading.Event(), "total_return")  # fmt: skip
    assert (state.status, state.completed, state.failed_runs) == ("finished", 4, 0)
    assert seen[-1] == (4, 4)

    results = batches.results(job, user, "total_return")
    assert len(results.runs) == 4 and results.failed == []
    returns = [r.metrics["total_return"] for r in results.runs]
    assert returns == sorted(returns, reverse=True)
    assert {(r.variables["fast"], r.variables["slow"]) for r in results.runs} == {(4, 30), (4, 60), (8, 30), (8, 60)}
    assert results.summary["best"]["value"] == returns[0]
    assert [r.run_index for r in batches.top(job, user, "total_return", 2)] == [r.run_index for r in results.runs[:2]]
    assert [b.id for b in batches.list(user)] == [job]


def test_someone_elses_batch_is_not_found(batches, user, accounts):
    other = accounts.sign_up("other@example.com", "other", "Correct-Horse-2026").id
    with pytest.raises(BatchError):
        batches.info(uuid.uuid4(), other)


def test_saved_lists_get_the_type_their_values_suggest():
    assert list_type_for("ticker", ["SPY", "QQQ"]) == "ticker"
    assert list_type_for("fast", [4, 8.5]) == "number"
    assert list_type_for("start", ["2025-01-02"]) == "date"
    assert list_type_for("mode", ["fast", "slow"]) == "string"
