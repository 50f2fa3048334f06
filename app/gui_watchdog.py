"""Debug-mode watchdog: reports every stall of the GUI thread longer than a threshold (100 ms by default).

Two halves, because a blocked thread cannot report on itself while it is blocked:
- a precise QTimer on the GUI thread beats every few milliseconds; the gap between two beats, minus the
  interval, is how long the event loop could not run. A gap over the threshold is a stall, measured exactly and
  reported when the loop runs again (`stallDetected`, a log warning, and `stalls`).
- a monitor thread notices a beat that is overdue and samples the GUI thread's Python stack while the stall is
  still in progress, so the report says *where* the thread was stuck, not only that it was.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, QTimer, Signal

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD_MS = 100.0
BEAT_MS = 10


@dataclass(frozen=True)
class Stall:
    """One period in which the GUI thread ran no events."""

    duration_ms: float
    ended_at: float  # time.monotonic() when the loop ran again
    stack: str  # the GUI thread's stack sampled during the stall ("" if the stall ended before a sample)


class GuiWatchdog(QObject):
    """Create on the GUI thread, `start()`, and read `stalls` or connect `stallDetected`."""

    stallDetected = Signal(object)  # a Stall

    def __init__(self, threshold_ms: float = DEFAULT_THRESHOLD_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.threshold_ms = threshold_ms
        self.stalls: list[Stall] = []
        self._gui_thread_id = threading.get_ident()
        self._last_beat = time.monotonic()
        self._sampled_stack = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(BEAT_MS)
        self._timer.timeout.connect(self._beat)

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        self._gui_thread_id = threading.get_ident()
        with self._lock:
            self._last_beat = time.monotonic()
            self._sampled_stack = ""
        self._stop.clear()
        self._timer.start()
        self._monitor = threading.Thread(target=self._watch, name="gui-watchdog", daemon=True)
        self._monitor.start()

    def stop(self) -> None:
        self._timer.stop()
        self._stop.set()
        if self._monitor is not None:
            self._monitor.join(timeout=1.0)
            self._monitor = None

    def count_over(self, threshold_ms: float | None = None) -> int:
        limit = self.threshold_ms if threshold_ms is None else threshold_ms
        return sum(1 for s in self.stalls if s.duration_ms > limit)

    # --- GUI thread ---
    def _beat(self) -> None:
        now = time.monotonic()
        with self._lock:
            gap_ms = (now - self._last_beat) * 1000.0 - BEAT_MS
            self._last_beat = now
            stack, self._sampled_stack = self._sampled_stack, ""
        if gap_ms > self.threshold_ms:
            stall = Stall(gap_ms, now, stack)
            self.stalls.append(stall)
            log.warning("GUI thread stalled for %.0f ms%s", gap_ms, f"; it was at:\n{stack}" if stack else "")
            self.stallDetected.emit(stall)

    # --- monitor thread ---
    def _watch(self) -> None:
        poll = min(self.threshold_ms / 4000.0, 0.025)
        while not self._stop.wait(poll):
            with self._lock:
                overdue_ms = (time.monotonic() - self._last_beat) * 1000.0 - BEAT_MS
                sampled = bool(self._sampled_stack)
            if overdue_ms > self.threshold_ms * 0.75 and not sampled:
                frame = sys._current_frames().get(self._gui_thread_id)
                if frame is not None:
                    stack = "".join(traceback.format_stack(frame, limit=12))
                    with self._lock:
                        self._sampled_stack = stack
