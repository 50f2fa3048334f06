"""Candlestick chart with a volume pane, built for millions of bars and a live last bar.

x is the bar index, not time: markets have gaps (nights, weekends) that a time axis would draw as
empty stretches, and integer indexes let the items slice the visible bars directly. The time axis
turns indexes back into UTC times for the labels.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.views.bar_buffer import BarBuffer, BarRow
from app.views.candle_item import DOWN_COLOR, UP_COLOR, CandlestickItem, VolumeItem
from core.market.bars import NormalizedBar, timeframe_delta

log = logging.getLogger(__name__)

AXIS_WIDTH = 72  # both panes' price axes share one width so their x ranges line up
DEFAULT_VISIBLE_BARS = 200
RIGHT_MARGIN_BARS = 3  # empty slots right of the last bar, so the live bar is not glued to the edge


class TimeIndexAxis(pg.AxisItem):
    """Bottom axis labelling bar indexes with the bars' UTC open times."""

    def __init__(self, buffer: BarBuffer, step_seconds: float, **kwargs: object) -> None:
        super().__init__(orientation="bottom", **kwargs)
        self._buffer = buffer
        self.step_seconds = step_seconds

    def time_at(self, index: int) -> float | None:
        """Epoch seconds of bar `index`; extrapolated by the bar size past the last bar."""
        n = len(self._buffer)
        if n == 0 or index < 0:
            return None
        if index < n:
            return float(self._buffer.t[index])
        return float(self._buffer.t[n - 1]) + (index - n + 1) * self.step_seconds

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        span = spacing * self.step_seconds
        if span >= 86_400:
            fmt = "%Y-%m-%d"
        elif span >= 3_600 * 4:
            fmt = "%m-%d %H:%M"
        else:
            fmt = "%H:%M"
        labels = []
        for value in values:
            index = round(value)
            t = self.time_at(index) if abs(value - index) < 1e-6 else None
            labels.append("" if t is None else datetime.fromtimestamp(t, UTC).strftime(fmt))
        return labels


class ChartView(QWidget):
    """Price candles over a volume pane with a shared, linked x axis (bar index)."""

    def __init__(self, symbol: str = "", timeframe: str = "1Min", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chartView")
        self._buffer = BarBuffer()
        self._symbol = symbol
        self._timeframe = timeframe
        step = timeframe_delta(timeframe).total_seconds()

        self._header = QLabel(self)
        self._header.setObjectName("chartHeader")
        self._graphics = pg.GraphicsLayoutWidget(self)
        self._graphics.setBackground("#101418")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self._header)
        layout.addWidget(self._graphics, 1)

        self.time_axis = TimeIndexAxis(self._buffer, step)
        self.price_plot: pg.PlotItem = self._graphics.addPlot(row=0, col=0)
        self.volume_plot: pg.PlotItem = self._graphics.addPlot(row=1, col=0, axisItems={"bottom": self.time_axis})
        self._graphics.ci.layout.setRowStretchFactor(0, 4)
        self._graphics.ci.layout.setRowStretchFactor(1, 1)
        self.volume_plot.setXLink(self.price_plot)
        self.time_axis.setLabel("UTC")
        for plot in (self.price_plot, self.volume_plot):
            plot.hideAxis("left")
            plot.showAxis("right")
            plot.getAxis("right").setWidth(AXIS_WIDTH)
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.setMenuEnabled(False)
            vb = plot.getViewBox()
            vb.setMouseEnabled(x=True, y=False)  # pan/zoom in time; prices follow automatically
            vb.enableAutoRange(x=False, y=True)
            vb.setAutoVisible(y=True)
            vb.setLimits(minXRange=5)
            # pyqtgraph 0.14 re-runs a visible-only y auto-range after an x change only when x auto-range
            # is on (it tests the wrong axis); ask for it explicitly so prices follow panning and zooming.
            vb.sigXRangeChanged.connect(lambda box, _range: box.queueUpdateAutoRange())
        self.price_plot.hideAxis("bottom")
        self.volume_plot.getViewBox().setLimits(yMin=0)  # no empty band below zero volume

        self.candles = CandlestickItem(self._buffer)
        self.volumes = VolumeItem(self._buffer)
        self.price_plot.addItem(self.candles)
        self.volume_plot.addItem(self.volumes)
        self._update_header()

    # --- public API ---
    @property
    def bar_count(self) -> int:
        return len(self._buffer)

    @property
    def buffer(self) -> BarBuffer:
        return self._buffer

    def set_symbol(self, symbol: str, timeframe: str | None = None) -> None:
        self._symbol = symbol
        if timeframe is not None:
            self.time_axis.step_seconds = timeframe_delta(timeframe).total_seconds()
            self._timeframe = timeframe
        self._update_header()

    def set_bars(
        self,
        t: np.ndarray,
        o: np.ndarray,
        h: np.ndarray,
        l: np.ndarray,  # noqa: E741 - the conventional OHLC name
        c: np.ndarray,
        v: np.ndarray,
    ) -> None:
        """Replace all bars (t = bar open time in epoch seconds, UTC) and show the latest ones."""
        self._buffer.set(t, o, h, l, c, v)
        self.candles.data_reset()
        self.volumes.data_reset()
        self.show_last(DEFAULT_VISIBLE_BARS)
        self._update_header()

    def append_bar(self, bar: NormalizedBar) -> None:
        """Add a live bar; a bar with the last bar's timestamp replaces it (the forming bar updating).

        Only one row is written and the items repaint; nothing is rebuilt. If the view showed the
        latest bar, it scrolls along by one bar.
        """
        t = bar.timestamp.timestamp()
        row = (t, bar.open, bar.high, bar.low, bar.close, bar.volume)
        n = len(self._buffer)
        last_t = float(self._buffer.t[n - 1]) if n else None
        if last_t is not None and t < last_t:
            log.warning("chart %s: ignored bar at %s, older than the last bar", self._symbol, bar.timestamp)
            return
        if last_t is not None and t == last_t:
            index = self._buffer.replace_last(row)
        else:
            following = n == 0 or self._view_shows_latest()
            index = self._buffer.append(row)
            if following:
                self._scroll_by_one()
        self.candles.row_changed(index)
        self.volumes.row_changed(index)
        self._update_header()

    def last_bar(self) -> BarRow | None:
        return self._buffer.row(-1) if len(self._buffer) else None

    def show_last(self, count: int) -> None:
        """Show the latest `count` bars (plus a small margin on the right)."""
        n = len(self._buffer)
        self.show_range(max(0, n - count) - 0.5, n - 0.5 + RIGHT_MARGIN_BARS)

    def show_range(self, left: float, right: float) -> None:
        """Show bar indexes [left, right] (fractions allowed)."""
        self.price_plot.getViewBox().setXRange(left, right, padding=0)

    def visible_x_range(self) -> tuple[float, float]:
        left, right = self.price_plot.getViewBox().viewRange()[0]
        return float(left), float(right)

    # --- internals ---
    def _view_shows_latest(self) -> bool:
        _, right = self.visible_x_range()
        return right >= len(self._buffer) - 1  # the last bar's centre is on screen

    def _scroll_by_one(self) -> None:
        left, right = self.visible_x_range()
        self.show_range(left + 1, right + 1)

    def _update_header(self) -> None:
        last = self.last_bar()
        text = f"<b>{self._symbol or '—'}</b> · {self._timeframe}"
        if last is not None:
            colour = (UP_COLOR if last.close >= last.open else DOWN_COLOR).name()
            close = f"<span style='color:{colour}'>C {last.close:.2f}</span>"
            text += (
                f" · {last.timestamp:%Y-%m-%d %H:%M} UTC · O {last.open:.2f} H {last.high:.2f} "
                f"L {last.low:.2f} {close} V {last.volume:,.0f}"
            )
        self._header.setTextFormat(Qt.TextFormat.RichText)
        self._header.setText(text)
