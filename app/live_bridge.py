"""Live bars from the workstation's thread to the GUI thread, without flooding it.

Bars arrive on the LiveBars thread. Each is re-emitted as a queued Qt signal (`barArrived`) for the chart, which
needs every minute of its symbol. Panels that only need to know that prices moved (watchlist, portfolio) get
`pricesMoved` at most once per `coalesce_ms`, however many symbols stream.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from core.domain.bars import NormalizedBar
from core.live.workstation import Workstation


class LiveBridge(QObject):
    barArrived = Signal(object)  # a NormalizedBar, on the GUI thread
    pricesMoved = Signal()

    def __init__(self, workstation: Workstation, coalesce_ms: int = 500, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._workstation = workstation
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setInterval(coalesce_ms)
        self._timer.timeout.connect(self._flush)
        self.barArrived.connect(self._mark_dirty)
        workstation.add_bar_listener(self._from_feed_thread)
        self._timer.start()

    def _from_feed_thread(self, bar: NormalizedBar) -> None:
        self.barArrived.emit(bar)  # queued: the receiver lives on the GUI thread

    def _mark_dirty(self, _bar: object) -> None:
        self._dirty = True

    def _flush(self) -> None:
        if self._dirty:
            self._dirty = False
            self.pricesMoved.emit()

    def detach(self) -> None:
        """Stop listening (the window is closing; the workstation may outlive it for a moment)."""
        self._timer.stop()
        self._workstation.remove_bar_listener(self._from_feed_thread)
