"""What a backtest or batch runs, and running it the right way: traders' code in the sandbox, ours in-process.

A :class:`StrategyRef` is plain strings, so it can be stored in a job's snapshot, sent to a worker
process or a Dask worker on another machine, and still mean the same strategy. Two kinds:

* ``source`` + ``class_name``: a trader's (or the AI's) code. It only ever runs inside the sandbox
  child, together with our engine (``core.backtest.sandboxed``); CPU and memory limits apply per call.
* ``module`` + ``class_name``: a strategy that ships with StratForge (the probe catalog, examples).
  Trusted, imported and run in the calling process.
"""

from __future__ import annotations

import hashlib
import importlib
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.backtest.engine import BacktestConfig
from core.backtest.sweep import SweepRun, run_one
from core.strategy.api import BarData, Strategy, StrategyError, describe_failure
from core.strategy.sandbox import run_sandboxed
from core.strategy.sandbox.host import Shared

RUNS_DRIVER = "core.backtest.sandboxed:run_runs"
DETAILED_DRIVER = "core.backtest.sandboxed:run_detailed"


@dataclass(frozen=True)
class SandboxLimits:
    """Per-run budget of a sandboxed strategy. A chunk of runs gets ``cpu_seconds_per_run`` times its size."""

    cpu_seconds_per_run: float = 60.0
    memory_mb: int = 1024


@dataclass(frozen=True)
class StrategyRef:
    class_name: str
    source: str | None = None
    module: str | None = None

    def __post_init__(self) -> None:
        if (self.source is None) == (self.module is None):
            raise ValueError("a strategy reference has either source code or a module, not both or neither")
        if not self.class_name.isidentifier():
            raise ValueError(f"not a class name: {self.class_name!r}")

    @classmethod
    def of_class(cls, strategy: type[Strategy]) -> StrategyRef:
        """A built-in class, by its import path (it must be importable where it will run)."""
        if "<locals>" in strategy.__qualname__ or strategy.__module__ == "__main__":
            raise ValueError(f"{strategy.__qualname__} is not importable by name")
        return cls(class_name=strategy.__qualname__, module=strategy.__module__)

    @property
    def sandboxed(self) -> bool:
        return self.source is not None

    def trusted_class(self) -> type[Strategy]:
        if self.module is None:
            raise StrategyError("a trader's strategy runs only in the sandbox")
        target: Any = importlib.import_module(self.module)
        for part in self.class_name.split("."):
            target = getattr(target, part)
        if not (isinstance(target, type) and issubclass(target, Strategy)):
            raise StrategyError(f"{self.module}.{self.class_name} is not a Strategy class")
        return target

    def snapshot(self) -> dict[str, Any]:
        return {"class_name": self.class_name, "source": self.source, "module": self.module}

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> StrategyRef:
        return cls(snapshot["class_name"], snapshot.get("source"), snapshot.get("module"))


def run_runs(
    ref: StrategyRef,
    data: BarData,
    runs: list[tuple[int, dict[str, Any]]],
    config: BacktestConfig | None = None,
    limits: SandboxLimits | None = None,
) -> list[SweepRun]:
    """Metrics of each ``(index, params)`` run. A run that fails carries its error; when the sandbox stops
    the whole call (CPU, memory, a crash), every run of the call carries that error, line included."""
    if not runs:
        return []
    if not ref.sandboxed:
        strategy = ref.trusted_class()
        return [run_one(strategy, data, index, params, config) for index, params in runs]
    lim = limits or SandboxLimits()
    try:
        result = run_sandboxed(
            ref.source or "", ref.class_name, (shared_bars(data), runs, config), driver=RUNS_DRIVER,
            cpu_seconds=lim.cpu_seconds_per_run * len(runs), memory_mb=lim.memory_mb,
        )  # fmt: skip
    except StrategyError as exc:
        return [SweepRun(index, params, None, str(exc)) for index, params in runs]
    return [SweepRun(r["index"], r["params"], r["metrics"], r["error"]) for r in result.value]


def shared_bars(data: BarData) -> Shared:
    """The bars as an argument a pooled host keeps: sent with a sweep's first chunk, referred to by digest after.
    (Hashing a million bars' 48 MB takes about 30 ms; shipping them to a host about 150 ms.)"""
    digest = hashlib.blake2b(data.symbol.encode(), digest_size=16)
    for name in ("time", "open", "high", "low", "close", "volume"):
        digest.update(memoryview(np.ascontiguousarray(getattr(data, name), dtype=np.float64)).cast("B"))
    return Shared(f"bars:{digest.hexdigest()}", data)


def run_detailed(
    ref: StrategyRef,
    data: BarData,
    params: dict[str, Any],
    config: BacktestConfig | None = None,
    limits: SandboxLimits | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """One full run (curves, trades, metrics; see ``sandboxed.run_detailed``). Raises StrategyError with a
    message for the trader (naming the strategy line) when the strategy cannot run, and StrategyCancelled
    when ``cancel`` is set while a sandboxed run is going (a built-in strategy runs to its end)."""
    if not ref.sandboxed:
        from core.backtest.sandboxed import run_detailed as in_process

        try:
            return in_process(ref.trusted_class(), data, params, config)
        except StrategyError:
            raise
        except Exception as exc:
            raise StrategyError(describe_failure(exc)) from exc
    lim = limits or SandboxLimits()
    result = run_sandboxed(
        ref.source or "", ref.class_name, (data, params, config), driver=DETAILED_DRIVER,
        cpu_seconds=lim.cpu_seconds_per_run, memory_mb=lim.memory_mb, cancel=cancel,
    )  # fmt: skip
    return result.value
