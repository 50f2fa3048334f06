"""Equity and drawdown of a backtest, one above the other, on a shared time axis.

Unlike the candlestick chart (bar index on x, so market gaps take no room), x here is time: a backtest
curve is read as "how did the money do over these weeks", and results from different runs compare
on the calendar. Curves can be a million points on a fresh run, so both plots downsample to the
visible pixels and clip to the view.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

EQUITY_PEN = pg.mkPen("#42a5f5", width=1.5)
DRAWDOWN_PEN = pg.mkPen("#ef5350", width=1)
DRAWDOWN_BRUSH = pg.mkBrush(239, 83, 80, 70)
AXIS_WIDTH = 80  # the same width on both plots keeps their x ranges aligned


class EquityChart(QWidget):
    """``set_curves(times, equity, drawdown)``: x in UTC epoch seconds, drawdown as fractions (<= 0)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("equityChart")
        self.equity_plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(utcOffset=0)})
        self.equity_plot.setObjectName("equityPlot")
        self.drawdown_plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(utcOffset=0)})
        self.drawdown_plot.setObjectName("drawdownPlot")
        self.equity_plot.setLabel("left", "Equity", units="$")
        self.drawdown_plot.setLabel("left", "Drawdown", units="%")
        for plot in (self.equity_plot, self.drawdown_plot):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.getAxis("left").setWidth(AXIS_WIDTH)
            plot.setMouseEnabled(x=True, y=False)
        self.drawdown_plot.setXLink(self.equity_plot)
        self.equity_curve = self.equity_plot.plot(pen=EQUITY_PEN)
        self.drawdown_curve = self.drawdown_plot.plot(pen=DRAWDOWN_PEN, fillLevel=0, brush=DRAWDOWN_BRUSH)
        for curve in (self.equity_curve, self.drawdown_curve):
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.equity_plot, 3)
        layout.addWidget(self.drawdown_plot, 2)

    def set_curves(self, times: np.ndarray, equity: np.ndarray, drawdown: np.ndarray) -> None:
        t = np.asarray(times, dtype=np.float64)
        self.equity_curve.setData(t, np.asarray(equity, dtype=np.float64))
        self.drawdown_curve.setData(t, np.asarray(drawdown, dtype=np.float64) * 100.0)
        if len(t):
            self.equity_plot.enableAutoRange()
            self.drawdown_plot.enableAutoRange(axis="y")

    def clear(self) -> None:
        self.equity_curve.setData([], [])
        self.drawdown_curve.setData([], [])

    def point_count(self) -> int:
        """Points in the equity curve (all of them, not only the visible ones)."""
        x, _ = self.equity_curve.getOriginalDataset()
        return 0 if x is None else len(x)
