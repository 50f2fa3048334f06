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
"""

from __future__ import annotations

import gc
import logging
import time

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger(__name__)

INTERVAL_MS = 500
SLOW_COLLECTION_S = 0.05  # a full collection slower than this is logged (it held the GUI thread)


class GuiThreadGarbageCollector(QObject):
    """While it runs, cycles are collected on the GUI thread and nowhere else."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._was_enabled = False
        self.collections = [0, 0, 0]  # collections run, per generation

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        if self.running:
            return
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        """Back to automatic collection (after one last collection here)."""
        if not self.running:
            return
        self._timer.stop()
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
        if generation < 0:
            return
        started = time.perf_counter()
        gc.collect(generation)
        self.collections[generation] += 1
        took = time.perf_counter() - started
        if took > SLOW_COLLECTION_S:
            log.info("garbage collection of generation %d took %.0f ms on the GUI thread", generation, took * 1e3)
