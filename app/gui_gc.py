"""Python's cyclic garbage collection, run on the GUI thread only.

CPython collects reference cycles on whichever thread happens to allocate past the threshold: in StratForge
that is as often a worker (the runner's pool, the live-bar thread, LISTEN threads) as the GUI thread. A cycle
holding a Python-owned Qt object (a widget's wrapper and the lambdas connected to its signals, say) is then
destroyed on that worker. Qt cannot stop a QObject's timers from another thread: they stay registered with
the GUI thread's dispatcher and fire on freed memory later — the intermittent segfault seen in the GUI tests
(``QTimerInfoList::activateTimers`` -> ``notifyInternal2`` on a dangling receiver).

So the automatic collector is switched off and this object runs the same generational collections from a GUI
timer: generation 0 whenever its count passes Python's own threshold, older generations as Python would.
Reference counting (which frees almost everything) is unaffected; only cycles wait for the next tick.

A full collection walks every tracked object, and with Qt, pandas, numba and the rest imported that is
millions of them: measured 150-200 ms on the GUI thread in the stall benchmark. What exists when the
collector starts (modules, classes, the loaded libraries) lives until exit, so it is frozen out of the
collector's view first (``gc.freeze``), and full collections are spaced at least ``FULL_EVERY_S`` apart.
"""

from __future__ import annotations

import gc
import logging
import time

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger(__name__)

INTERVAL_MS = 500
FULL_EVERY_S = 60.0  # at most one full (generation 2) collection a minute
SLOW_COLLECTION_S = 0.05  # a full collection slower than this is logged (it held the GUI thread)


class GuiThreadGarbageCollector(QObject):
    """While it runs, cycles are collected on the GUI thread and nowhere else."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._was_enabled = False
        self._last_full = time.monotonic()
        self.collections = [0, 0, 0]  # collections run, per generation
        self.slowest_s = 0.0

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        if self.running:
            return
        self._was_enabled = gc.isenabled()
        gc.disable()
        gc.collect()
        gc.freeze()  # everything alive now stays alive: out of every later collection's walk
        self._last_full = time.monotonic()
        self._timer.start()

    def stop(self) -> None:
        """Back to automatic collection (after one last collection here)."""
        if not self.running:
            return
        self._timer.stop()
        gc.unfreeze()
        gc.collect()
        if self._was_enabled:
            gc.enable()

    def check(self) -> None:
        """Collect the oldest generation whose count passed its threshold, as CPython's collector decides."""
        thresholds = gc.get_threshold()
        counts = gc.get_count()
        generation = -1
        for g in (2, 1, 0):
            if thresholds[g] and counts[g] > thresholds[g]:
                generation = g
                break
        if generation == 2 and time.monotonic() - self._last_full < FULL_EVERY_S:
            generation = 1
        if generation < 0:
            return
        started = time.perf_counter()
        gc.collect(generation)
        if generation == 2:
            self._last_full = time.monotonic()
        self.collections[generation] += 1
        took = time.perf_counter() - started
        self.slowest_s = max(self.slowest_s, took)
        if took > SLOW_COLLECTION_S:
            log.info("garbage collection of generation %d took %.0f ms on the GUI thread", generation, took * 1e3)
