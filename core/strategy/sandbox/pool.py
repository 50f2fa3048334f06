"""Warm hosts kept for reuse: backtests, sweeps, probes and smoke tests of the same source share them.

Starting a host is cheap (a fork of the template) but not free, and a sweep makes hundreds of calls on one
source. So a host that finished a call without trouble goes back to the pool under its key (the source, the
entry, the memory allowance, the drivers, the layers) and the next call on that key takes it. Each later call
executes the source afresh in the host (``fresh=True``), so state a strategy keeps at module level cannot leak
from one run into the next. Hosts that failed are never returned; idle hosts beyond the cap are closed, the
least recently used first.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from core.strategy.sandbox.host import ALL_LAYERS, SandboxLayers, StrategyHost


@dataclass(frozen=True)
class HostKey:
    source: str
    entry: str
    memory_mb: int
    drivers: tuple[str, ...]
    layers: SandboxLayers


@dataclass
class PooledHost:
    host: StrategyHost
    calls: int = 0  # calls made since the source was executed at start; the next one re-executes it if > 0


class HostPool:
    """Idle hosts by key, at most ``max_idle`` in all (each costs a few MB while it waits)."""

    def __init__(self, max_idle: int = 4) -> None:
        self.max_idle = max_idle
        self._idle: OrderedDict[int, tuple[HostKey, PooledHost]] = OrderedDict()
        self._lock = threading.Lock()
        self.started = 0  # hosts this pool has started (tests and benchmarks read it)

    @contextlib.contextmanager
    def host(
        self,
        source: str,
        entry: str,
        *,
        memory_mb: int = 1024,
        drivers: tuple[str, ...] = (),
        layers: SandboxLayers = ALL_LAYERS,
    ) -> Iterator[PooledHost]:
        """A host for ``source`` (an idle one when there is one), returned to the pool afterwards if it is
        still alive and nothing went wrong."""
        key = HostKey(source, entry, memory_mb, tuple(sorted(drivers)), layers)
        pooled = self._take(key)
        if pooled is None:
            pooled = PooledHost(StrategyHost(source, entry, memory_mb=memory_mb, drivers=key.drivers, layers=layers))
            with self._lock:
                self.started += 1
        try:
            yield pooled
        except BaseException:
            pooled.host.close()
            raise
        self._give_back(key, pooled)

    def _take(self, key: HostKey) -> PooledHost | None:
        with self._lock:
            for ident, (k, pooled) in reversed(self._idle.items()):
                if k == key:
                    del self._idle[ident]
                    if pooled.host.alive:
                        return pooled
        return None

    def _give_back(self, key: HostKey, pooled: PooledHost) -> None:
        if not pooled.host.alive:
            return
        evicted: list[PooledHost] = []
        with self._lock:
            self._idle[id(pooled)] = (key, pooled)
            while len(self._idle) > self.max_idle:
                evicted.append(self._idle.popitem(last=False)[1][1])
        for old in evicted:
            old.host.close()

    def close(self) -> None:
        with self._lock:
            idle = [pooled for _, pooled in self._idle.values()]
            self._idle.clear()
        for pooled in idle:
            pooled.host.close()


POOL = HostPool()
