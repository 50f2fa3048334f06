"""Start-up benchmark: how long a trader waits for the embedded database.

cold = a new data folder (initdb + start + create database + migrate to head);
warm = an existing folder (start + check the schema is at head). Each figure is
the median of several runs of the full ``open_database`` call the app makes.

    python -m bench.startup [--quick]
"""

from __future__ import annotations

import argparse
import statistics
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one cold and two warm runs")
    args = parser.parse_args()
    cold_runs, warm_runs = (1, 2) if args.quick else (3, 5)

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
