"""Start-up benchmark: how long a trader waits for the embedded database, and for a usable window.

cold = a new data folder (initdb + start + create database + migrate to head);
warm = an existing folder (start + check the schema is at head). Each database figure is
the median of several runs of the full ``open_database`` call the app makes.

``window_usable_s`` is from just before a new process starts (``bench.startup_window``: the interpreter, every
import, the database, the log-in, the workstation, the main window) to the chart's first paint with bars; cold on
a new data folder (with the sign-up), warm on the same folder again (the log-in). Targets on the 2-core
development machine: warm under 2 s, cold under 5 s.

    python -m bench.startup [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import emit
from core.config import Settings
from core.db.database import open_database


def timed_open(data_dir: Path) -> tuple[float, float]:
    """Seconds to open (ready and migrated) and to close the embedded database."""
    started = time.perf_counter()
    db = open_database(Settings(data_dir=data_dir, database_url=None))
    opened = time.perf_counter() - started
    assert db.ping()
    started = time.perf_counter()
    db.close()
    return opened, time.perf_counter() - started


def timed_window(data_dir: Path, module: str = "bench.startup_window") -> tuple[float, float]:
    """Seconds from starting a new app process to its chart painted with bars, and to its window closed after."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", module, "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    usable = None
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip() == "USABLE":
                usable = time.perf_counter() - started
            elif line.startswith("{"):
                close_s = float(json.loads(line)["close_s"])
        if child.wait(timeout=120) != 0 or usable is None:
            raise RuntimeError(f"{module} failed (exit {child.returncode}); run it by hand to see why")
    finally:
        if child.poll() is None:
            child.kill()
    return usable, close_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one cold and two warm runs")
    parser.add_argument("--window-only", action="store_true", help="only window_usable_s")
    args = parser.parse_args()
    cold_runs, warm_runs = (1, 2) if args.quick else (3, 5)

    window_cold, window_warm, ceiling = [], [], []
    with tempfile.TemporaryDirectory(prefix="sf-bench-window-") as tmp:
        for i in range(cold_runs):
            window_cold.append(timed_window(Path(tmp) / f"cold{i}")[0])
        for _ in range(warm_runs):  # interleaved, so both see the same load on the machine
            window_warm.append(timed_window(Path(tmp) / "cold0")[0])
            ceiling.append(timed_window(Path(tmp) / "cold0", "bench.startup_ceiling")[0])
    warm = statistics.median(window_warm)
    emit("window_usable_s", statistics.median(window_cold), "s", start="cold", runs=cold_runs, target=5.0)
    emit("window_usable_s", warm, "s", start="warm", runs=warm_runs, target=2.0)
    emit("window_usable_ceiling_s", statistics.median(ceiling), "s", runs=warm_runs)
    emit("window_usable_vs_ceiling", warm / statistics.median(ceiling), "ratio", start="warm")
    if args.window_only:
        return

    cold, warm, stops = [], [], []
    with tempfile.TemporaryDirectory(prefix="sf-bench-") as tmp:
        for i in range(cold_runs):
            opened, stopped = timed_open(Path(tmp) / f"cold{i}")
            cold.append(opened)
            stops.append(stopped)
        for _ in range(warm_runs):
            opened, stopped = timed_open(Path(tmp) / "cold0")
            warm.append(opened)
            stops.append(stopped)
    emit("embedded_db_cold_start_s", statistics.median(cold), "s", runs=cold_runs)
    emit("embedded_db_warm_start_s", statistics.median(warm), "s", runs=warm_runs)
    emit("embedded_db_stop_s", statistics.median(stops), "s", runs=len(stops))


if __name__ == "__main__":
    main()
