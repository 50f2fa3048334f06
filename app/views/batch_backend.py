"""The Batch panel's blocking calls, gathered in plain functions that run on a worker thread.

The panel never touches the database itself: every function here is handed to
`BlockingRunner.call`, so the GUI thread stays free while SQL and sandboxed runs happen. Keeping them
free of Qt also keeps them testable and reusable (they mirror `stratforge batch` in core/cli/backtest.py).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.backtest.assignments import SYMBOL_VARIABLE
from core.backtest.bar_source import stored_bars
from core.backtest.batch_jobs import BatchInfo, BatchState, RunRow, failed_runs, query_runs, run_batch, summarize
from core.backtest.engine import BacktestConfig
from core.backtest.executors import DaskExecutor, Executor, LocalExecutor
from core.backtest.variable_lists import SavedList, visible_lists
from core.broker.fill_costs import PerShareCommission
from core.broker.fill_model import FillModel
from core.market.store import BarStore
from core.strategy.library import SavedStrategy, list_strategies

Sessions = sessionmaker[Session]
StoreFactory = Callable[[], BarStore]
RESULT_LIMIT = 10_000  # every run of a batch at the default cap


def list_type_for(name: str, values: Sequence[Any]) -> str:
    """The saved-list type that fits a row's values, so "Save as list" needs no extra question."""
    if name == SYMBOL_VARIABLE:
        return "ticker"
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "number"
    try:
        for v in values:
            date.fromisoformat(str(v))
    except ValueError:
        return "string"
    return "date" if values else "string"


def commission_config(per_share: float) -> BacktestConfig:
    """The batch's fill costs: a per-share commission (none at 0)."""
    if per_share <= 0:
        return BacktestConfig()
    return BacktestConfig(fill_model=FillModel(commission=PerShareCommission(Decimal(str(per_share)))))


def make_executor(workers: int, dask_address: str) -> Executor:
    """A Dask cluster when an address is given, else local worker processes."""
    address = dask_address.strip()
    return DaskExecutor(address) if address else LocalExecutor(workers)


@dataclass(frozen=True)
class Choices:
    strategies: list[SavedStrategy]
    lists: list[SavedList]


def load_choices(sessions: Sessions, user_id: uuid.UUID) -> Choices:
    return Choices(list_strategies(sessions, user_id), visible_lists(sessions, user_id))


@dataclass(frozen=True)
class BatchResults:
    metric: str
    runs: list[RunRow]  # finished runs, best first by `metric`
    summary: dict[str, Any]
    failed: list[RunRow]


def load_results(sessions: Sessions, job_id: uuid.UUID, user_id: uuid.UUID, metric: str) -> BatchResults:
    """Runs ranked by ``metric`` (query_runs checks the batch is the user's), its summary and the failures."""
    runs = query_runs(sessions, job_id, user_id, metric=metric, descending=True, limit=RESULT_LIMIT)
    return BatchResults(metric, runs, summarize(sessions, job_id, metric), failed_runs(sessions, job_id, user_id))


def execute(
    sessions: Sessions,
    store_factory: StoreFactory,
    info: BatchInfo,
    user_id: uuid.UUID,
    executor: Executor,
    on_progress: Callable[[int, int], None],
    cancel: threading.Event,
    metric: str,
) -> BatchState:
    """Run (or resume) a batch over its stored range; blocks until it finishes, fails or is canceled."""
    store = store_factory()
    try:
        return run_batch(
            sessions, info.id, user_id, bars=stored_bars(store, info.timeframe, info.start, info.end),
            executor=executor, on_progress=on_progress, cancel=cancel, summary_metric=metric,
        )  # fmt: skip
    finally:
        store.close()
