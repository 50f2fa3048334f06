"""Sweeps across worker processes: the same results as one process, failures isolated, cancel honoured."""

from __future__ import annotations

import threading

import numpy as np

from core.backtest.sweep import run_one, run_sweep
from core.strategy.api import ParamGrid
from tests.backtest.test_vectorized import SmaSignals, walk


class Fragile(SmaSignals):
    """Raises for one parameter value: a bug in one assignment must not sink the sweep."""

    def signals(self, data):
        if self.fast == 7:
            raise ZeroDivisionError("division by zero")
        return super().signals(data)


def grid(cls, fast, slow):
    return list(ParamGrid(cls, {"fast": fast, "slow": slow}).assignments())


def test_processes_give_the_same_results_as_one_process():
    data = walk(5_000, seed=9)
    assignments = grid(SmaSignals, [5, 10, 15], [30, 60])
    seen: list[tuple[int, int]] = []
    parallel = run_sweep(SmaSignals, data, assignments, workers=2, on_progress=lambda d, t: seen.append((d, t)))
    serial = [run_one(SmaSignals, data, i, p) for i, p in enumerate(assignments)]
    assert [r.params for r in parallel] == assignments
    assert [r.metrics for r in parallel] == [r.metrics for r in serial]
    assert seen[-1] == (6, 6) and all(r.error is None for r in parallel)
    assert len({r.metrics["total_return"] for r in parallel}) > 1  # the parameters mattered


def test_a_failing_assignment_is_reported_and_the_rest_run():
    data = walk(2_000, seed=1)
    results = run_sweep(Fragile, data, grid(Fragile, [5, 7, 9], [30]), workers=2)
    assert [r.error for r in results] == [None, "ZeroDivisionError: division by zero", None]
    assert results[1].metrics is None and results[0].metrics is not None


def test_cancel_stops_between_runs():
    data = walk(3_000, seed=2)
    assignments = grid(SmaSignals, list(range(2, 22)), [40, 50])
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done >= 2:
            cancel.set()

    results = run_sweep(SmaSignals, data, assignments, workers=1, cancel=cancel, on_progress=progress)
    assert len(results) == 2 and [r.index for r in results] == [0, 1]
    assert run_sweep(SmaSignals, data, assignments, workers=2, cancel=cancel) == []  # cancelled before it began
    cancel.clear()
    parallel = run_sweep(SmaSignals, data, assignments, workers=2, cancel=cancel, on_progress=progress)
    assert 2 <= len(parallel) < len(assignments)
    assert np.all(np.diff([r.index for r in parallel]) > 0)
