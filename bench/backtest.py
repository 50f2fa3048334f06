"""Backtest benchmark: SMA(10/50) long/flat on 1,000,000 one-minute bars, per-bar and fast paths, and a sweep.

    python -m bench.backtest [--quick] [--peers-python PATH]

* ``perbar_1m_s``: ``run_backtest`` (the per-bar engine, any strategy) plus metrics, best of two runs
  (``perbar_1m_first_s``: the first of them).
* ``vectorized_1m_s``: ``run_vectorized`` (the numba signal path) plus metrics, compiled beforehand.
* ``sweep_100_s``: 100 (fast, slow) combinations on the fast path, metrics included, over one worker process
  per core (``core.backtest.sweep``; worker start-up and shipping the bars included).
* With ``--peers-python`` (an interpreter that has ``backtesting`` and ``vectorbt``, kept out of the app's
  dependencies; e.g. ``python3 -m venv /tmp/peers && /tmp/peers/bin/pip install backtesting vectorbt``), the
  same series is run by both peers in that interpreter (``bench/peers_backtest.py``):
  ``backtestingpy_1m_s`` (best of two runs, as ours; ``backtestingpy_1m_first_s`` the first), ``vectorbt_1m_s``
  (with its stats, after a warm-up run), and the ratios ``perbar_speedup_vs_backtestingpy`` (best against best;
  ``perbar_first_speedup_vs_backtestingpy`` first against first) and ``vectorized_speedup_vs_vectorbt``.

``--quick`` uses 100,000 bars and a 10-combination sweep (the metric names then say so).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import cpu_reference_ms, emit
from core.backtest.engine import run_backtest
from core.backtest.sweep import run_sweep
from core.backtest.vectorized import SignalStrategy, run_vectorized
from core.strategy.api import BarData, Param
from core.strategy.indicators import sma

PEERS_ENV = "STRATFORGE_BENCH_PEERS_PYTHON"
# Both per-bar engines, ours and backtesting.py, are timed as the best of this many runs (a run's first pass in a
# process also pays for faulting in its memory, which this VM does erratically), and the first runs are printed too.
PERBAR_REPEATS = 2


class SmaCross(SignalStrategy):
    fast = Param(10, min=2)
    slow = Param(50, min=3)

    def signals(self, data: BarData) -> tuple[np.ndarray, np.ndarray]:
        f, s = sma(data.close, self.fast), sma(data.close, self.slow)
        with np.errstate(invalid="ignore"):
            return f > s, f < s


def series(n: int, seed: int = 2) -> BarData:
    """A seeded random walk with opens, highs and lows around it (the peers get the same arrays)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0005, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0005, n)))
    t = 1_577_836_800 + 60.0 * np.arange(n)
    return BarData.from_arrays("BENCH", t, open_, high, low, close, rng.integers(100, 10_000, n).astype(float))


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--peers-python", default=os.environ.get(PEERS_ENV))
    args = parser.parse_args()
    n = 100_000 if args.quick else 1_000_000
    label = "100k" if args.quick else "1m"
    data = series(n)
    emit("cpu_reference_ms", cpu_reference_ms(), "ms", measures="this machine's speed now (bench.common)")

    run_vectorized(SmaCross(), series(1_000)).metrics()  # compile (or load numba's cache) outside the timing
    perbar_runs = [timed(lambda: run_backtest(SmaCross(), data).metrics()) for _ in range(PERBAR_REPEATS)]
    perbar = min(perbar_runs)
    emit(f"perbar_{label}_s", perbar, "s", bars=n, best_of=PERBAR_REPEATS)
    emit(f"perbar_{label}_first_s", perbar_runs[0], "s", bars=n, measures="the first run in this process")
    vectorized = min(timed(lambda: run_vectorized(SmaCross(), data).metrics()) for _ in range(3))
    emit(f"vectorized_{label}_s", vectorized, "s", bars=n)

    grid = [(f, s) for f in (5, 8, 10, 12, 15, 20, 25, 30, 40, 50) for s in (60, 80, 100, 120, 150, 200, 250, 300, 400,
                                                                             500)]  # fmt: skip
    grid = grid[:10] if args.quick else grid
    assignments = [{"fast": f, "slow": s} for f, s in grid]
    sweep = timed(lambda: run_sweep(SmaCross, data, assignments))
    emit(f"sweep_{len(grid)}_s", sweep, "s", bars=n, combinations=len(grid), workers=os.cpu_count())

    if not args.peers_python:
        emit("peers_skipped", 1, "flag", why=f"pass --peers-python or set {PEERS_ENV} to measure the peers")
        return
    with tempfile.TemporaryDirectory(prefix="sf-bench-peers-") as tmp:
        path = Path(tmp) / "bars.npz"
        np.savez(path, open=data.open, high=data.high, low=data.low, close=data.close, volume=data.volume)
        peers_script = Path(__file__).with_name("peers_backtest.py")
        out = subprocess.run(
            [args.peers_python, str(peers_script), str(path), str(PERBAR_REPEATS)],
            capture_output=True,
            text=True,
            timeout=3600,
            check=True,
        )
    peers = json.loads(out.stdout.strip().splitlines()[-1])
    emit(f"backtestingpy_{label}_s", peers["backtestingpy_s"], "s", trades=peers["backtestingpy_trades"],
         best_of=PERBAR_REPEATS)  # fmt: skip
    emit(f"backtestingpy_{label}_first_s", peers["backtestingpy_first_s"], "s")
    emit(f"vectorbt_{label}_s", peers["vectorbt_s"], "s", trades=peers["vectorbt_trades"])
    emit("perbar_speedup_vs_backtestingpy", peers["backtestingpy_s"] / perbar, "x", best_of=PERBAR_REPEATS)
    emit("perbar_first_speedup_vs_backtestingpy", peers["backtestingpy_first_s"] / perbar_runs[0], "x")
    emit("vectorized_speedup_vs_vectorbt", peers["vectorbt_s"] / vectorized, "x")


if __name__ == "__main__":
    main()
