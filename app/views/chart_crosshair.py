"""A crosshair linked across the chart's panes: one vertical line through every pane at the hovered bar, and a
horizontal line at the pointer's price in the price pane.

It snaps to bar centres, because the readout it drives describes one bar, and a line between two candles
would leave the trader guessing which. It only positions lines and reports the hovered bar index; the chart
decides what to say about that bar.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, Signal
from PySide6.QtGui import QColor, QPen

LINE_COLOR = QColor(200, 200, 200, 110)
NO_BAR = -1


def _line(angle: int) -> pg.InfiniteLine:
    pen = QPen(LINE_COLOR)
    pen.setCosmetic(True)
    pen.setDashPattern([3.0, 3.0])
    line = pg.InfiniteLine(angle=angle, movable=False, pen=pen)
    line.setZValue(50)
    line.hide()
    return line


class ChartGraphics(pg.GraphicsLayoutWidget):
    """The chart's graphics widget, telling when the pointer leaves it (the scene only reports moves)."""

    pointerLeft = Signal()

    def leaveEvent(self, ev: QEvent) -> None:
        super().leaveEvent(ev)
        self.pointerLeft.emit()


class Crosshair(QObject):
    """Follows the pointer over `price_plot` and the other panes; `hovered` emits the bar index (NO_BAR off the
    bars: past either end, or the pointer left the chart)."""

    hovered = Signal(int)

    def __init__(self, graphics: ChartGraphics, price_plot: pg.PlotItem, bar_count: Callable[[], int],
                 parent: QObject | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self._price_plot = price_plot
        self._bar_count = bar_count
        self._vlines: dict[pg.PlotItem, pg.InfiniteLine] = {}
        self.index = NO_BAR
        self.price: float | None = None
        self._hline = _line(0)
        price_plot.addItem(self._hline, ignoreBounds=True)
        self.attach(price_plot)
        # Qt already merges queued mouse moves into one per event-loop pass, so each pass costs one update here.
        graphics.scene().sigMouseMoved.connect(self.move_to)
        graphics.pointerLeft.connect(self.leave)

    def attach(self, plot: pg.PlotItem) -> None:
        """Give a (new) pane its vertical line."""
        if plot in self._vlines:
            return
        line = _line(90)
        plot.addItem(line, ignoreBounds=True)
        self._vlines[plot] = line
        if self.index != NO_BAR:
            line.setPos(self.index)
            line.show()

    def detach(self, plot: pg.PlotItem) -> None:
        line = self._vlines.pop(plot, None)
        if line is not None:
            plot.removeItem(line)

    def move_to(self, scene_pos: QPointF) -> None:
        """Place the crosshair for a pointer at `scene_pos` (scene coordinates)."""
        plot = next((p for p in self._vlines if p.sceneBoundingRect().contains(scene_pos)), None)
        if plot is None:
            self.leave()
            return
        point = plot.getViewBox().mapSceneToView(scene_pos)
        n = self._bar_count()
        index = round(point.x()) if math.isfinite(point.x()) else NO_BAR
        if not 0 <= index < n:
            index = NO_BAR
        for line in self._vlines.values():
            line.setVisible(index != NO_BAR)
            if index != NO_BAR:
                line.setPos(index)
        if plot is self._price_plot:
            self.price = float(point.y())
            self._hline.setPos(self.price)
            self._hline.show()
        else:
            self.price = None
            self._hline.hide()
        if index != self.index:
            self.index = index
            self.hovered.emit(index)

    def leave(self) -> None:
        """The pointer left the bars: hide the lines and report NO_BAR."""
        for line in (*self._vlines.values(), self._hline):
            line.hide()
        self.price = None
        if self.index != NO_BAR:
            self.index = NO_BAR
            self.hovered.emit(NO_BAR)
