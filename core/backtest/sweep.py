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
from core.strategy.api import BarData, SignalStrategy, Strategy, StrategyError, describe_failure

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
        ctx.set_forkserver_preload(["core.backtest.sweep_preload"])
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
        if not (isinstance(strategy, type) and issubclass(strategy, Strategy)):
            raise StrategyError(f"{getattr(strategy, '__name__', strategy)!r} is not a Strategy class")
        instance = strategy(**params)
        if isinstance(instance, SignalStrategy) and not (config and config.fractional):
            # numba (0.5-1 s to import) loads with the first fast-path run, not with every window that can sweep
            from core.backtest.vectorized import run_vectorized

            metrics = run_vectorized(instance, data, config).metrics(data.close)  # vs holding the symbol
        else:
            metrics = run_backtest(instance, data, config).metrics(data.close)
    except Exception as exc:  # a strategy's bug is this run's result, not the sweep's end
        return SweepRun(index, params, None, describe_failure(exc))
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
    done: list[SweepRun] = []
    total = len(assignments)

    def collect(runs: list[SweepRun]) -> None:
        done.extend(runs)
        if on_progress:
            on_progress(len(done), total)

    sweep_indexed(strategy, data, list(enumerate(assignments)), config=config, workers=workers, on_chunk=collect,
                  cancel=cancel)  # fmt: skip
    return sorted(done, key=lambda run: run.index)


def chunk_size(total: int, workers: int, largest: int = 64) -> int:
    """Runs per chunk: about four chunks per worker, so progress and cancel stay responsive and the
    last chunks balance the load, but never so many runs that one chunk holds a lot of lost work."""
    return max(1, min(largest, total // (workers * 4)))


def sweep_indexed(
    strategy: type[Strategy],
    data: BarData,
    runs: Sequence[tuple[int, dict[str, Any]]],
    *,
    config: BacktestConfig | None = None,
    workers: int | None = None,
    on_chunk: Callable[[list[SweepRun]], None],
    cancel: threading.Event | None = None,
) -> None:
    """Run ``(index, params)`` pairs of a trusted strategy class; hand each finished chunk to ``on_chunk``
    (in completion order) as soon as it is done, so a caller can store it before the next arrives."""
    total = len(runs)
    if total == 0 or (cancel is not None and cancel.is_set()):
        return
    workers = max(1, min(workers or os.cpu_count() or 1, total))
    if workers == 1:
        for index, params in runs:
            if cancel is not None and cancel.is_set():
                break
            on_chunk([run_one(strategy, data, index, params, config)])
        return
    size = chunk_size(total, workers)
    chunks = [list(runs[i : i + size]) for i in range(0, total, size)]
    with ProcessPoolExecutor(
        workers, mp_context=_context(), initializer=_init, initargs=(strategy, data, config)
    ) as pool:
        pending: set[Future[list[SweepRun]]] = {pool.submit(_run_chunk, chunk) for chunk in chunks}
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in finished:
                on_chunk(future.result())
            if cancel is not None and cancel.is_set():
                for future in pending:
                    future.cancel()
                break
