"""Batch tests kept in the database (seed 002): create, run, cancel, resume, summarise, query.

A batch is a ``batch_jobs`` row holding everything needed to run it again: the strategy (a snapshot
of its code or its built-in name), the base parameters, the fill settings, the range, and the
expanded variable lists. Each finished assignment is a ``batch_job_runs`` row keyed by its run index.

Why this shape:

* **Resume is by run index.** The assignments are re-expanded from the stored variables in a stable
  order, the indexes already stored are skipped, and a run's row is inserted with ``ON CONFLICT DO
  NOTHING``: a batch interrupted anywhere (cancel, crash, power cut) resumes without repeating or
  losing a run, and the counters are recomputed from the rows in the same transaction.
* **One runner per batch.** A session-level advisory lock on the job's id keeps two clients of a
  shared database from running the same batch at once; it is released when the runner's connection
  ends, even if its process dies.
* **Results are rows, queried in SQL.** Best, worst and average of a metric, and "the runs whose
  Sharpe is above 1, best first", are queries over the JSONB metrics, not a scan in Python.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Double, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from core.backtest.assignments import DEFAULT_CAP, SYMBOL_VARIABLE, Variable, expand
from core.backtest.config_io import config_from_dict, config_to_dict
from core.backtest.engine import BacktestConfig
from core.backtest.executors import Executor
from core.backtest.metrics import Metrics
from core.backtest.strategy_ref import StrategyRef
from core.backtest.sweep import SweepRun
from core.db.advisory import advisory_key
from core.db.models import BatchJob, BatchJobRun, Strategy
from core.domain.timeframes import Timeframe
from core.strategy.api import BarData

SUMMARY_METRIC = "total_return"
PREVIEW_ASSIGNMENTS = 20
# The metrics a batch can be summarised and ordered by: Metrics' numeric fields.
METRIC_NAMES = frozenset(f.name for f in fields(Metrics))
_FLOAT: Double[float] = Double()


class BatchError(RuntimeError):
    """A batch cannot be created or run; the message is for the trader."""


@dataclass(frozen=True)
class BatchSpec:
    user_id: uuid.UUID
    name: str
    strategy: StrategyRef
    symbol: str
    start: datetime
    end: datetime
    variables: tuple[Variable, ...] = ()
    timeframe: str = Timeframe.MIN_1
    base_params: dict[str, Any] = field(default_factory=dict)
    config: BacktestConfig = field(default_factory=BacktestConfig)
    cap: int = DEFAULT_CAP
    strategy_id: uuid.UUID | None = None
    benchmark_symbol: str | None = None


@dataclass(frozen=True)
class RunRow:
    run_index: int
    variables: dict[str, Any]
    metrics: dict[str, Any]
    status: str
    error: str | None


@dataclass(frozen=True)
class BatchState:
    id: uuid.UUID
    status: str
    total: int
    completed: int
    failed_runs: int
    truncated: bool
    summary: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class BatchInfo:
    """A batch as a list shows it: its state plus its name, range and variable names (what a resume needs)."""

    state: BatchState
    name: str
    timeframe: str
    start: datetime
    end: datetime
    variable_names: tuple[str, ...]
    created_at: datetime | None

    @property
    def id(self) -> uuid.UUID:
        return self.state.id


def _utc(stamp: datetime) -> datetime:
    if stamp.tzinfo is None:
        raise BatchError("batch range times must be timezone-aware")
    return stamp.astimezone(UTC)


def create_batch(sessions: sessionmaker[Session], spec: BatchSpec) -> uuid.UUID:
    """Store a queued batch; nothing runs yet. Raises BatchError (or VariableError) on bad input.

    ``spec.strategy_id`` (what the batch is filed under; it runs ``spec.strategy``'s snapshot) must be one of
    the user's own strategies, else BatchError "no such strategy", as for a missing one: a trader's batch must
    not point into another trader's library. Not a public one either: the Batch panel and ``stratforge batch``
    offer the trader's own saved strategies only, and ``core.strategy.library.load_strategy`` opens no other."""
    if not spec.name.strip():
        raise BatchError("a batch needs a name")
    start, end = _utc(spec.start), _utc(spec.end)
    if end <= start:
        raise BatchError("a batch's range must end after it starts")
    assignments = expand(spec.variables, spec.cap)
    symbols = sorted({str(a.get(SYMBOL_VARIABLE, spec.symbol)) for a in assignments.items})
    job = BatchJob(
        id=uuid.uuid4(), user_id=spec.user_id, strategy_id=spec.strategy_id, name=spec.name.strip(),
        status="queued", total=len(assignments.items), truncated=assignments.truncated,
        variables=[v.to_json() for v in spec.variables], symbols=symbols, timeframe=spec.timeframe,
        start_at=start, end_at=end, benchmark_symbol=spec.benchmark_symbol,
        assignments_preview=list(assignments.items[:PREVIEW_ASSIGNMENTS]),
        strategy_snapshot={
            **spec.strategy.snapshot(), "base_params": dict(spec.base_params), "symbol": spec.symbol,
            "config": config_to_dict(spec.config), "cap": spec.cap, "full_count": assignments.full_count,
        },
    )  # fmt: skip
    with sessions() as s:
        if spec.strategy_id is not None:
            owner = s.scalar(select(Strategy.user_id).where(Strategy.id == spec.strategy_id))
            if owner != spec.user_id:  # another user's strategy does not exist, as far as this one knows
                raise BatchError("no such strategy")
        s.add(job)
        s.commit()
        return job.id


def _own_job(s: Session, job_id: uuid.UUID, user_id: uuid.UUID) -> BatchJob:
    job = s.get(BatchJob, job_id)
    if job is None or job.user_id != user_id:  # another user's batch does not exist, as far as this one knows
        raise BatchError("no such batch")
    return job


def batch_state(sessions: sessionmaker[Session], job_id: uuid.UUID, user_id: uuid.UUID) -> BatchState:
    with sessions() as s:
        return _state(_own_job(s, job_id, user_id))


def run_batch(
    sessions: sessionmaker[Session],
    job_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    bars: Callable[[str], BarData],
    executor: Executor,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    summary_metric: str = SUMMARY_METRIC,
) -> BatchState:
    """Run (or resume) a batch until every assignment has a row, or until ``cancel`` is set.

    ``bars(symbol)`` loads one symbol's bars over the batch's range (called once per symbol). Returns the
    batch's final state: finished, canceled, or failed (every run failed, or the executor broke)."""
    _check_metric(summary_metric)
    with sessions() as lock:
        if not lock.execute(select(func.pg_try_advisory_lock(advisory_key(f"batch:{job_id}")))).scalar():
            raise BatchError("this batch is already running (on this or another client)")
        try:
            return _run_locked(sessions, job_id, user_id, bars, executor, on_progress, cancel, summary_metric)
        finally:
            lock.execute(select(func.pg_advisory_unlock(advisory_key(f"batch:{job_id}"))))


def _run_locked(
    sessions: sessionmaker[Session],
    job_id: uuid.UUID,
    user_id: uuid.UUID,
    bars: Callable[[str], BarData],
    executor: Executor,
    on_progress: Callable[[int, int], None] | None,
    cancel: threading.Event | None,
    summary_metric: str,
) -> BatchState:
    with sessions() as s:
        job = _own_job(s, job_id, user_id)
        snapshot, total = dict(job.strategy_snapshot), job.total
        variables = [Variable.from_json(v) for v in job.variables]
        done = set(s.scalars(select(BatchJobRun.run_index).where(BatchJobRun.batch_job_id == job_id)))
        job.status, job.kind, job.error = "running", executor.kind, None
        s.commit()
    items = expand(variables, int(snapshot.get("cap", DEFAULT_CAP))).items
    if len(items) != total:
        raise BatchError("the batch's stored variables no longer expand to its assignments")
    ref, config = StrategyRef.from_snapshot(snapshot), config_from_dict(snapshot["config"])
    base, default_symbol = dict(snapshot.get("base_params", {})), str(snapshot["symbol"])
    by_symbol: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for index, assignment in enumerate(items):
        if index not in done:
            symbol = str(assignment.get(SYMBOL_VARIABLE, default_symbol))
            params = base | {k: v for k, v in assignment.items() if k != SYMBOL_VARIABLE}
            by_symbol.setdefault(symbol, []).append((index, params))

    def store(runs: list[SweepRun]) -> None:
        stored = _store_runs(sessions, job_id, runs, items)
        if on_progress:
            on_progress(stored, total)

    try:
        for symbol, runs in by_symbol.items():
            if cancel is not None and cancel.is_set():
                break
            try:
                data = bars(symbol)
            except Exception as exc:  # no data for this symbol: its runs fail with the reason, the rest go on
                store([SweepRun(i, p, None, f"no bars for {symbol}: {exc}") for i, p in runs])
                continue
            executor.run(ref, data, runs, config, on_chunk=store, cancel=cancel)
    except Exception as exc:
        _finish(sessions, job_id, "failed", summary_metric, error=f"{type(exc).__name__}: {exc}")
        raise BatchError(f"the batch stopped: {exc}") from exc
    canceled = cancel is not None and cancel.is_set()
    return _finish(sessions, job_id, "canceled" if canceled else "finished", summary_metric)


def _store_runs(
    sessions: sessionmaker[Session], job_id: uuid.UUID, runs: Sequence[SweepRun], items: Sequence[dict[str, Any]]
) -> int:
    """Insert a chunk's rows (each run at most once) and refresh the counters; returns runs stored so far."""
    rows = [
        {
            "id": uuid.uuid4(), "batch_job_id": job_id, "run_index": r.index, "variables": items[r.index],
            "metrics": r.metrics or {}, "status": "finished" if r.error is None else "failed", "error": r.error,
        }
        for r in runs
    ]  # fmt: skip
    with sessions() as s:
        if rows:
            s.execute(
                insert(BatchJobRun).values(rows).on_conflict_do_nothing(index_elements=["batch_job_id", "run_index"])
            )
        counts = s.execute(
            select(func.count(), func.count().filter(BatchJobRun.status == "failed")).where(
                BatchJobRun.batch_job_id == job_id
            )
        ).one()
        s.execute(update(BatchJob).where(BatchJob.id == job_id).values(completed=counts[0], failed_runs=counts[1]))
        s.commit()
        return int(counts[0])


def _finish(
    sessions: sessionmaker[Session], job_id: uuid.UUID, status: str, metric: str, error: str | None = None
) -> BatchState:
    with sessions() as s:
        summary = _summary(s, job_id, metric)
        job = s.get(BatchJob, job_id)
        assert job is not None
        if status == "finished" and job.total and job.failed_runs == job.total:
            status, error = "failed", "every run failed; the first error: " + str(_first_error(s, job_id))
        job.status, job.summary, job.error = status, summary, error
        job.completed_at = datetime.now(UTC) if status == "finished" else None
        s.commit()
        return _state(job)


def _first_error(s: Session, job_id: uuid.UUID) -> str | None:
    return s.scalar(
        select(BatchJobRun.error)
        .where(BatchJobRun.batch_job_id == job_id, BatchJobRun.status == "failed")
        .order_by(BatchJobRun.run_index)
        .limit(1)
    )


def _check_metric(metric: str) -> None:
    if metric not in METRIC_NAMES:
        raise BatchError(f"unknown metric {metric!r} (known: {', '.join(sorted(METRIC_NAMES))})")


_SUMMARY_SQL = text(
    """
    WITH r AS (
        SELECT run_index, variables, (metrics ->> :metric)::float8 AS value
        FROM batch_job_runs
        WHERE batch_job_id = :job AND status = 'finished' AND jsonb_typeof(metrics -> :metric) = 'number'
    )
    SELECT
        (SELECT jsonb_build_object('run_index', run_index, 'variables', variables, 'value', value)
           FROM r ORDER BY value DESC, run_index LIMIT 1),
        (SELECT jsonb_build_object('run_index', run_index, 'variables', variables, 'value', value)
           FROM r ORDER BY value ASC, run_index LIMIT 1),
        (SELECT avg(value) FROM r),
        (SELECT count(*) FROM r),
        (SELECT count(*) FROM batch_job_runs WHERE batch_job_id = :job AND status = 'failed')
    """
)


def summarize(
    sessions: sessionmaker[Session], job_id: uuid.UUID, user_id: uuid.UUID, metric: str = SUMMARY_METRIC
) -> dict[str, Any]:
    """Best, worst and average of ``metric`` over the finished runs of the user's batch (runs where it is
    undefined are left out). BatchError "no such batch" for another user's batch, as for a missing one."""
    _check_metric(metric)
    with sessions() as s:
        _own_job(s, job_id, user_id)
        return _summary(s, job_id, metric)


def _summary(s: Session, job_id: uuid.UUID, metric: str) -> dict[str, Any]:
    best, worst, average, counted, failed = s.execute(_SUMMARY_SQL, {"job": job_id, "metric": metric}).one()
    return {
        "metric": metric, "best": best, "worst": worst,
        "average": None if average is None else float(average), "runs_with_metric": int(counted),
        "failed_runs": int(failed),
    }  # fmt: skip


def query_runs(
    sessions: sessionmaker[Session],
    job_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    metric: str = SUMMARY_METRIC,
    descending: bool = True,
    minimum: float | None = None,
    maximum: float | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[RunRow]:
    """Finished runs ordered by ``metric`` (runs where it is undefined last), optionally within a range."""
    _check_metric(metric)
    value = BatchJobRun.metrics[metric].astext.cast(_FLOAT)
    with sessions() as s:
        _own_job(s, job_id, user_id)
        query = select(BatchJobRun).where(BatchJobRun.batch_job_id == job_id, BatchJobRun.status == "finished")
        if minimum is not None:
            query = query.where(value >= minimum)
        if maximum is not None:
            query = query.where(value <= maximum)
        order = value.desc().nulls_last() if descending else value.asc().nulls_last()
        rows = s.scalars(query.order_by(order, BatchJobRun.run_index).limit(limit).offset(offset)).all()
        return [RunRow(r.run_index, r.variables, r.metrics, r.status, r.error) for r in rows]


def failed_runs(sessions: sessionmaker[Session], job_id: uuid.UUID, user_id: uuid.UUID) -> list[RunRow]:
    with sessions() as s:
        _own_job(s, job_id, user_id)
        rows = s.scalars(
            select(BatchJobRun)
            .where(BatchJobRun.batch_job_id == job_id, BatchJobRun.status == "failed")
            .order_by(BatchJobRun.run_index)
        ).all()
        return [RunRow(r.run_index, r.variables, r.metrics, r.status, r.error) for r in rows]


def _state(job: BatchJob) -> BatchState:
    return BatchState(job.id, job.status, job.total, job.completed, job.failed_runs, job.truncated, job.summary,
                      job.error)  # fmt: skip


def _info(job: BatchJob) -> BatchInfo:
    assert job.start_at is not None and job.end_at is not None  # create_batch always sets them
    names = tuple(str(v.get("name")) for v in job.variables)
    return BatchInfo(_state(job), job.name, job.timeframe, job.start_at, job.end_at, names, job.created_at)


def list_batches(sessions: sessionmaker[Session], user_id: uuid.UUID, limit: int = 100) -> list[BatchInfo]:
    """The user's batches, newest first."""
    with sessions() as s:
        jobs = s.scalars(
            select(BatchJob).where(BatchJob.user_id == user_id).order_by(BatchJob.created_at.desc()).limit(limit)
        ).all()
        return [_info(j) for j in jobs]


def batch_info(sessions: sessionmaker[Session], job_id: uuid.UUID, user_id: uuid.UUID) -> BatchInfo:
    with sessions() as s:
        return _info(_own_job(s, job_id, user_id))
