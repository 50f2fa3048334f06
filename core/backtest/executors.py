"""Where a batch's runs execute: this machine's cores, or a Dask distributed cluster.

Both take the same work (a strategy reference, one symbol's bars, ``(index, params)`` runs) and hand
finished chunks back on the calling thread, so the batch service stores each chunk before the next
one arrives whichever executor ran it. The unit of work is :func:`core.backtest.strategy_ref.run_runs`
in both: the same function, so the same numbers.

* :class:`LocalExecutor`: a built-in strategy runs in worker processes (the sweep's fork-server pool,
  bars shipped once per worker). A trader's strategy runs in confined strategy hosts taken from the pool
  (``core.strategy.sandbox.pool``), one per thread, each given the bars once; the threads only wait.
* :class:`DaskExecutor`: the bars are scattered to every worker once, each chunk is one task. A
  trader's code still runs inside the sandbox, now on the worker's machine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

from core.backtest.engine import BacktestConfig
from core.backtest.strategy_ref import SandboxLimits, StrategyRef, run_runs
from core.backtest.sweep import SweepRun, chunk_size, sweep_indexed
from core.strategy.api import BarData

Runs = Sequence[tuple[int, dict[str, Any]]]
ChunkHandler = Callable[[list[SweepRun]], None]


class ExecutorError(RuntimeError):
    """The executor itself failed (a cluster that cannot be reached); not a strategy's error."""


class Executor(Protocol):
    kind: str  # stored in batch_jobs.kind

    def run(
        self,
        ref: StrategyRef,
        data: BarData,
        runs: Runs,
        config: BacktestConfig | None,
        *,
        on_chunk: ChunkHandler,
        cancel: threading.Event | None = None,
    ) -> None: ...


def _chunks(runs: Runs, workers: int, largest: int) -> list[list[tuple[int, dict[str, Any]]]]:
    size = chunk_size(len(runs), workers, largest)
    return [list(runs[i : i + size]) for i in range(0, len(runs), size)]


class LocalExecutor:
    kind = "local"

    def __init__(self, workers: int | None = None, limits: SandboxLimits | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.limits = limits or SandboxLimits()

    def run(
        self,
        ref: StrategyRef,
        data: BarData,
        runs: Runs,
        config: BacktestConfig | None,
        *,
        on_chunk: ChunkHandler,
        cancel: threading.Event | None = None,
    ) -> None:
        if not runs or (cancel is not None and cancel.is_set()):
            return
        if not ref.sandboxed:
            sweep_indexed(ref.trusted_class(), data, runs, config=config, workers=self.workers, on_chunk=on_chunk,
                          cancel=cancel)  # fmt: skip
            return
        # Chunks of a trader's strategy are kept large: each is one call on a warm host (the bars travel once).
        chunks = _chunks(runs, self.workers, largest=256)
        with ThreadPoolExecutor(min(self.workers, len(chunks)), thread_name_prefix="batch") as pool:
            queue = iter(chunks)
            pending: set[Future[list[SweepRun]]] = set()

            def top_up() -> None:  # submit lazily, so cancel does not wait for a queue of chunks
                while len(pending) < self.workers and (cancel is None or not cancel.is_set()):
                    chunk = next(queue, None)
                    if chunk is None:
                        return
                    pending.add(pool.submit(run_runs, ref, data, chunk, config, self.limits))

            top_up()
            while pending:
                finished, still = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                pending.clear()
                pending.update(still)
                for future in finished:
                    on_chunk(future.result())
                top_up()


class DaskExecutor:
    """Runs on the Dask cluster whose scheduler is at ``address`` (e.g. ``tcp://10.0.0.5:8786``)."""

    kind = "dask"

    def __init__(self, address: str, *, connect_timeout_s: float = 20.0, limits: SandboxLimits | None = None) -> None:
        self.address = address
        self.connect_timeout_s = connect_timeout_s
        self.limits = limits or SandboxLimits()

    def run(
        self,
        ref: StrategyRef,
        data: BarData,
        runs: Runs,
        config: BacktestConfig | None,
        *,
        on_chunk: ChunkHandler,
        cancel: threading.Event | None = None,
    ) -> None:
        if not runs or (cancel is not None and cancel.is_set()):
            return
        from distributed import Client, as_completed  # imported here: the app starts without it

        try:
            client = Client(self.address, timeout=self.connect_timeout_s, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ExecutorError(f"could not reach the Dask scheduler at {self.address}: {exc}") from exc
        try:
            with client.as_current():  # futures and as_completed find this client, not a process-wide default
                workers = max(1, len(client.scheduler_info().get("workers", {})))
                shared = client.scatter(data, broadcast=True)
                futures = [
                    client.submit(run_runs, ref, shared, chunk, config, self.limits, pure=False)
                    for chunk in _chunks(runs, workers, largest=256 if ref.sandboxed else 64)
                ]
                for future in as_completed(futures):
                    on_chunk(future.result())
                    if cancel is not None and cancel.is_set():
                        client.cancel([f for f in futures if not f.done()])
                        break
        finally:
            client.close(timeout=self.connect_timeout_s)
