"""Equity and drawdown of a backtest, one above the other, on a shared time axis.

Unlike the candlestick chart (bar index on x, so market gaps take no room), x here is time: a backtest
curve is read as "how did the money do over these weeks", and results from different runs compare
on the calendar. Curves can be a million points on a fresh run, so both plots downsample to the
visible pixels and clip to the view.

The time axis reads in the trader's display zone (app.display_time), with its daylight-saving rules: pyqtgraph's
DateAxisItem only knows one fixed offset, so ticks are placed with the zone's offset at the middle of the view and
each label is formatted in the zone itself (a view spanning a switch is then labelled right on both sides).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.display_time import DisplayTime, display_time
from core.domain.display_time import DisplayZone

EQUITY_PEN = pg.mkPen("#42a5f5", width=1.5)
DRAWDOWN_PEN = pg.mkPen("#ef5350", width=1)
DRAWDOWN_BRUSH = pg.mkBrush(239, 83, 80, 70)
AXIS_WIDTH = 80  # the same width on both plots keeps their x ranges aligned


class ZonedDateAxis(pg.DateAxisItem):
    """A date axis labelled in the display zone (see the module docstring)."""

    def __init__(self, display: DisplayTime) -> None:
        super().__init__(orientation="bottom", utcOffset=0)
        self._display = display
        self._display.zoneChanged.connect(self._zone_changed)

    def _zone_changed(self, _zone: DisplayZone) -> None:
        self.picture = None
        self.update()

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # type: ignore[override]
        middle = min(max((minVal + maxVal) / 2.0, 0.0), 253_402_300_799.0)  # in datetime's range
        offset = datetime.fromtimestamp(middle, UTC).astimezone(self._display.zone.tzinfo).utcoffset()
        self.utcOffset = -int(offset.total_seconds()) if offset is not None else 0  # pyqtgraph: seconds west
        return super().tickValues(minVal, maxVal, size)

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        spec = next((s for s in self.zoomLevel.tickSpecs if s.spacing == spacing), None)
        if spec is None:
            return super().tickStrings(values, scale, spacing)
        zone = self._display.zone.tzinfo
        texts = []
        for value in values:
            try:
                text = datetime.fromtimestamp(value, UTC).astimezone(zone).strftime(spec.format)
            except (OverflowError, ValueError, OSError):
                texts.append("")
                continue
            if "%f" in spec.format:
                text = text[:-3]  # milliseconds, as pyqtgraph shows them
            elif "%Y" in spec.format:
                text = text.lstrip("0")
            texts.append(text)
        return texts


class EquityChart(QWidget):
    """``set_curves(times, equity, drawdown)``: x in UTC epoch seconds (shown in the display zone), drawdown as
    fractions (<= 0)."""

    def __init__(self, parent: QWidget | None = None, display: DisplayTime | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("equityChart")
        display = display if display is not None else display_time()
        self.equity_plot = pg.PlotWidget(axisItems={"bottom": ZonedDateAxis(display)})
        self.equity_plot.setObjectName("equityPlot")
        self.drawdown_plot = pg.PlotWidget(axisItems={"bottom": ZonedDateAxis(display)})
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
