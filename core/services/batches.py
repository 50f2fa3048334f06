"""Batch tests as a use case: set one up, run or resume it, read its results, keep variable lists.

The Batch panel and ``stratforge batch`` both call this, so a batch created or resumed from either behaves the
same (same fill costs, same executor choice, same bars, same ranking). Every method blocks (SQL, sandboxed runs),
so the GUI calls them on a worker thread; none of them knows about Qt or about printing.
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

from core.backtest.assignments import SYMBOL_VARIABLE, Variable, parse_values
from core.backtest.bar_source import stored_bars
from core.backtest.batch_jobs import (
    BatchInfo,
    BatchSpec,
    BatchState,
    RunRow,
    batch_info,
    batch_state,
    create_batch,
    failed_runs,
    list_batches,
    query_runs,
    run_batch,
    summarize,
)
from core.backtest.executors import DaskExecutor, Executor, LocalExecutor
from core.backtest.variable_lists import SavedList, get_list, save_list, visible_lists
from core.market.store import BarStore
from core.services.fill_settings import BacktestConfig, per_share_config
from core.strategy.library import SavedStrategy, list_strategies

Sessions = sessionmaker[Session]
StoreFactory = Callable[[], BarStore]
Progress = Callable[[int, int], None]
RunRows = list[RunRow]  # (inside Batches, ``list`` is its method)
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
    """The batch panel's fill costs: a per-share commission (none at 0)."""
    return per_share_config(Decimal(str(per_share)))


def make_executor(workers: int | None, dask_address: str | None) -> Executor:
    """A Dask cluster when an address is given, else local worker processes (None: one per core)."""
    address = (dask_address or "").strip()
    return DaskExecutor(address) if address else LocalExecutor(workers)


@dataclass(frozen=True)
class Choices:
    """What a new batch can be made of: the trader's saved strategies and the variable lists they can use."""

    strategies: list[SavedStrategy]
    lists: list[SavedList]


@dataclass(frozen=True)
class BatchResults:
    metric: str
    runs: list[RunRow]  # finished runs, best first by `metric`
    summary: dict[str, Any]
    failed: list[RunRow]


class Batches:
    """One trader's batch tests over one database; ``store_factory`` opens a bar store per run (closed after)."""

    def __init__(self, sessions: Sessions, store_factory: StoreFactory) -> None:
        self._sessions = sessions
        self._store_factory = store_factory

    # --- choosing ---
    def choices(self, user_id: uuid.UUID) -> Choices:
        return Choices(list_strategies(self._sessions, user_id), visible_lists(self._sessions, user_id))

    def lists(self, user_id: uuid.UUID) -> list[SavedList]:
        return visible_lists(self._sessions, user_id)

    def save_list(self, user_id: uuid.UUID, name: str, kind: str, values: list[Any]) -> list[SavedList]:
        """Save (or replace) a variable list; returns the lists the trader can now use."""
        save_list(self._sessions, user_id, name, kind, values)
        return visible_lists(self._sessions, user_id)

    def variables(
        self, user_id: uuid.UUID, inline: Sequence[tuple[str, str]], saved: Sequence[tuple[str, str]] = ()
    ) -> tuple[Variable, ...]:
        """Variables typed as ``NAME=V1,V2`` pairs, then those taken from saved lists (``NAME=LIST``), in order.
        Raises VariableError / VariableListError with a sentence for the trader."""
        variables = [Variable(name, parse_values(values)) for name, values in inline]
        for name, list_name in saved:
            variables.append(get_list(self._sessions, user_id, list_name).as_variable(name))
        return tuple(variables)

    # --- creating and running ---
    def create(self, spec: BatchSpec) -> uuid.UUID:
        """Store a new batch (its assignments are expanded when it runs); returns its id."""
        return create_batch(self._sessions, spec)

    def info(self, job_id: uuid.UUID, user_id: uuid.UUID) -> BatchInfo:
        """The batch's setup and state; BatchError when it is not this trader's."""
        return batch_info(self._sessions, job_id, user_id)

    def state(self, job_id: uuid.UUID, user_id: uuid.UUID) -> BatchState:
        return batch_state(self._sessions, job_id, user_id)

    def list(self, user_id: uuid.UUID) -> list[BatchInfo]:
        return list_batches(self._sessions, user_id)

    def run(
        self,
        info: BatchInfo,
        user_id: uuid.UUID,
        executor: Executor,
        on_progress: Progress,
        cancel: threading.Event,
        metric: str,
    ) -> BatchState:
        """Run (or resume) a batch over its stored range; blocks until it finishes, fails or is canceled.
        Runs already stored are skipped, so running a canceled batch again finishes it."""
        store = self._store_factory()
        try:
            return run_batch(
                self._sessions, info.id, user_id, bars=stored_bars(store, info.timeframe, info.start, info.end),
                executor=executor, on_progress=on_progress, cancel=cancel, summary_metric=metric,
            )  # fmt: skip
        finally:
            store.close()

    # --- reading ---
    def results(self, job_id: uuid.UUID, user_id: uuid.UUID, metric: str) -> BatchResults:
        """Runs ranked by ``metric`` (query_runs checks the batch is the user's), its summary and the failures."""
        return BatchResults(
            metric,
            self.top(job_id, user_id, metric, RESULT_LIMIT),
            summarize(self._sessions, job_id, user_id, metric),
            failed_runs(self._sessions, job_id, user_id),
        )

    def top(self, job_id: uuid.UUID, user_id: uuid.UUID, metric: str, limit: int) -> RunRows:
        """The ``limit`` best finished runs by ``metric``, best first."""
        return query_runs(self._sessions, job_id, user_id, metric=metric, descending=True, limit=limit)
