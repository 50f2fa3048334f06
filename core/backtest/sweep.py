"""Parameter sweeps across processes: every assignment of a strategy's variables, metrics per run.

One process is one core (the GIL), so runs are spread over a pool of worker
processes. The bars travel to each worker once (pool initializer), never per
run, and each run returns only its metrics. Workers are started with
``forkserver`` where it exists: forking the GUI process itself (threads, Qt) is
unsafe, and a fork server forks clean copies of a small, pre-imported process,
so workers start in milliseconds instead of re-importing numpy, pandas and numba.
A run that raises is reported with its error; the others go on. ``cancel``
stops the sweep between runs.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from core.backtest.engine import BacktestConfig, run_backtest
from core.backtest.vectorized import SignalStrategy, run_vectorized
from core.strategy.api import BarData, Strategy

_WORKER: dict[str, Any] = {}


@dataclass(frozen=True)
class SweepRun:
    index: int
    params: dict[str, Any]
    metrics: dict[str, Any] | None  # Metrics.to_dict(); None when the run failed
    error: str | None = None


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["core.backtest.sweep"])
        return ctx
    return multiprocessing.get_context("spawn")


def _init(strategy: type[Strategy], data: BarData, config: BacktestConfig | None) -> None:
    _WORKER.update(strategy=strategy, data=data, config=config)


def _run_chunk(chunk: list[tuple[int, dict[str, Any]]]) -> list[SweepRun]:
    return [run_one(_WORKER["strategy"], _WORKER["data"], index, params, _WORKER["config"]) for index, params in chunk]


def run_one(
    strategy: type[Strategy], data: BarData, index: int, params: dict[str, Any], config: BacktestConfig | None = None
) -> SweepRun:
    """One assignment, on the fast path when the strategy allows it."""
    try:
        instance = strategy(**params)
        if isinstance(instance, SignalStrategy) and not (config and config.fractional):
            metrics = run_vectorized(instance, data, config).metrics()
        else:
            metrics = run_backtest(instance, data, config).metrics()
    except Exception as exc:  # a strategy's bug is this run's result, not the sweep's end
        return SweepRun(index, params, None, f"{type(exc).__name__}: {exc}")
    return SweepRun(index, params, metrics.to_dict())


def run_sweep(
    strategy: type[Strategy],
    data: BarData,
    assignments: Sequence[dict[str, Any]],
    *,
    config: BacktestConfig | None = None,
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> list[SweepRun]:
    """Run every assignment; results in assignment order (only those finished, if cancelled)."""
    total = len(assignments)
    if total == 0 or (cancel is not None and cancel.is_set()):
        return []
    workers = max(1, min(workers or os.cpu_count() or 1, total))
    indexed = list(enumerate(assignments))
    if workers == 1:
        results = []
        for index, params in indexed:
            if cancel is not None and cancel.is_set():
                break
            results.append(run_one(strategy, data, index, params, config))
            if on_progress:
                on_progress(len(results), total)
        return results
    size = max(1, total // (workers * 4))  # small chunks: progress and cancel stay responsive
    chunks = [indexed[i : i + size] for i in range(0, total, size)]
    done: list[SweepRun] = []
    with ProcessPoolExecutor(
        workers, mp_context=_context(), initializer=_init, initargs=(strategy, data, config)
    ) as pool:
        pending: set[Future[list[SweepRun]]] = {pool.submit(_run_chunk, chunk) for chunk in chunks}
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in finished:
                done.extend(future.result())
                if on_progress:
                    on_progress(len(done), total)
            if cancel is not None and cancel.is_set():
                for future in pending:
                    future.cancel()
                break
    return sorted(done, key=lambda run: run.index)
