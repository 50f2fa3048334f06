"""Running strategy code once: :func:`run_sandboxed`, a call on a confined, reused strategy host.

Why a separate process at all: a strategy that loops forever, exhausts memory or crashes the interpreter must
not take the application (or its open broker connections) down with it, and only the operating system can stop
a runaway computation, or keep hostile code away from files, the network, other processes and the application's
memory. The host (``host.py``, ``_host.py``) is that process; this module is the one-call convenience over the
pool of warm hosts (``pool.py``), which backtests, sweeps, probes and the AI's smoke tests use.

The call blocks; run it off the GUI thread (a worker thread or ``asyncio.to_thread``).
"""

from __future__ import annotations

import threading
from typing import Any

from core.strategy.sandbox.host import ALL_LAYERS, SandboxLayers, SandboxResult
from core.strategy.sandbox.pool import POOL, HostPool

__all__ = ["SandboxResult", "run_sandboxed"]


def run_sandboxed(
    source: str,
    entry: str,
    args: tuple[Any, ...] = (),
    *,
    cpu_seconds: float = 5,
    memory_mb: int = 512,
    wall_seconds: float | None = None,
    driver: str | None = None,
    cancel: threading.Event | None = None,
    layers: SandboxLayers = ALL_LAYERS,
    pool: HostPool | None = None,
) -> SandboxResult:
    """Validate ``source``, then call its function ``entry(*args)`` in a confined host.

    ``driver`` names one of ``host.TRUSTED_DRIVERS`` ("module:function"): application code, loaded in the host
    before it is confined, called as ``driver(strategy_object, *args)`` with the object the source defines as
    ``entry`` (a Strategy class, say). This is how a backtest runs a trader's class: the engine is ours, the
    class is theirs, and both run in the host. ``args`` are the application's values; the result must be plain
    data (``wire``: scalars, text, lists, dicts with text keys, numeric numpy arrays).

    Raises :class:`StrategyRejected` (validation), :class:`StrategyCrashed` (an exception, naming the strategy
    line; a bad reply; a dead host), :class:`StrategyTimedOut`, :class:`StrategyOutOfMemory`,
    :class:`StrategyCancelled` (``cancel`` was set: the host is killed within a fifth of a second) or
    :class:`SandboxError`. ``layers`` is for tests that try each defence alone."""
    if cpu_seconds <= 0 or memory_mb <= 0 or (wall_seconds is not None and wall_seconds <= 0):
        raise ValueError("cpu_seconds, memory_mb and wall_seconds must be positive")
    drivers = (driver,) if driver else ()
    with (pool or POOL).host(source, entry, memory_mb=memory_mb, drivers=drivers, layers=layers) as pooled:
        result = pooled.host.call(driver, tuple(args), cpu_seconds=cpu_seconds, wall_seconds=wall_seconds,
                                  cancel=cancel, fresh=pooled.calls > 0)  # fmt: skip
        pooled.calls += 1
        return result
