"""What every benchmark shares: the JSON line it prints per metric, and scratch databases on a server.

The database drivers are imported where they are used: a benchmark that starts worker processes has its
main module (and so this one) imported again in every worker, and those imports would count as start-up.
"""

from __future__ import annotations

import json
import os
import time

from core.db.scratch import admin_server, drop_database, scratch_url

__all__ = ["admin_server", "cpu_reference_ms", "drop_database", "emit", "machine_cpu_s", "percentile", "scratch_url"]


def emit(metric: str, value: float, unit: str, **extra: object) -> None:
    """One metric as one JSON object on one line (the benchmark convention in DEVELOPERS.md)."""
    print(json.dumps({"metric": metric, "value": round(value, 4), "unit": unit, **extra}), flush=True)


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q`` quantile (0 to 1) of a sorted, non-empty list: the value at index ``int(n * q)``, the last for 1."""
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def cpu_reference_ms() -> float:
    """Milliseconds for a fixed pure-Python loop (best of five): this machine's speed at the time of a run.

    The development machine is a virtual one whose speed was seen to halve for an hour at a time (an empty
    million-iteration loop took 13 ms, later 26 ms): a benchmark's figures mean little without this one."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        total = 0.0
        for i in range(1_000_000):
            total += i * 0.5
        best = min(best, time.perf_counter() - started)
    return best * 1e3


def machine_cpu_s() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (every core, every process: a benchmark's
    database server included; not the time a virtual machine's host gave to others, "steal"); None where
    /proc/stat does not exist (not Linux)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")
