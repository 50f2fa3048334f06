"""Candlestick chart with a volume pane, built for millions of bars and a live last bar.

x is the bar index, not time: markets have gaps (nights, weekends) that a time axis would draw as
empty stretches, and integer indexes let the items slice the visible bars directly. The time axis
turns indexes back into times for the labels, in the zone the trader chose (`app.display_time`: New York by
default), as the readout does; both follow a change of that choice at once. Intraday charts shade pre-market
and after-hours bars and mark each regular open (chart_sessions.py, from the NYSE calendar).

On top of the candles: a crosshair linked across the panes with a readout of the hovered bar, indicator
overlays computed by the strategy indicators (price overlays on the candles, oscillators in small panes
under the volume), and markers for fills and strategy signals. Every item draws only the visible bars,
and a live bar writes one row per series and repaints: nothing is rebuilt.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.display_time import DisplayTime, display_time
from app.views.bar_buffer import BarBuffer, BarRow
from app.views.candle_item import CHART_BACKGROUND, CandlestickItem, VolumeItem
from app.views.chart_axes import LeanAxis, TimeIndexAxis
from app.views.chart_crosshair import NO_BAR, ChartGraphics, Crosshair
from app.views.chart_grid import GridItem
from app.views.chart_indicators import PRICE, IndicatorSeries, format_number, indicator_kind
from app.views.chart_lines import SeriesLineItem
from app.views.chart_markers import ChartMarker, MarkerItem, MarkerSet
from app.views.chart_sessions import SessionShading
from app.views.chart_toolbar import ChartToolbar
from app.views.chart_viewbox import ChartViewBox
from core.domain.bars import NormalizedBar, timeframe_delta
from core.domain.display_time import DisplayZone, format_minute
from core.domain.timeframes import Timeframe

log = logging.getLogger(__name__)

AXIS_WIDTH = 72  # every pane's price axis shares one width so their x ranges line up
DEFAULT_VISIBLE_BARS = 200
RIGHT_MARGIN_BARS = 3  # empty slots right of the last bar, so the live bar is not glued to the edge
BACKGROUND = CHART_BACKGROUND.name()
OVERLAY_COLORS = ("#f6c343", "#42a5f5", "#ab47bc", "#ff7043", "#66bb6a", "#ec407a", "#26c6da")
SECOND_LINE_COLOR = "#ef9a9a"  # MACD's signal line, against its main line's colour
HISTOGRAM_COLOR = "#78909c"
PRICE_STRETCH, VOLUME_STRETCH, PANE_STRETCH = 4, 1, 1


@dataclass(frozen=True, slots=True)
class IndicatorInfo:
    """An indicator shown on the chart, as `indicators()` lists it."""

    id: str
    kind: str  # "sma", "bollinger", ...
    period: int | None
    label: str  # "SMA 20"
    placement: str  # "price" (over the candles) or "pane" (its own pane under the volume)


@dataclass(eq=False)
class Overlay:
    """An indicator's series and the items drawing it (in the price pane or in `pane`)."""

    series: IndicatorSeries
    items: list[SeriesLineItem]
    plot: pg.PlotItem
    pane: pg.PlotItem | None = None  # its own pane, removed with it
    extras: list[pg.GraphicsObject] = field(default_factory=list)  # guide lines, pane title


def zoned_minute(at: datetime, zone: DisplayZone) -> str:
    """`at` as "YYYY-MM-DD HH:MM" in `zone`. Not strftime: under PySide6 each strftime call goes through
    shiboken's import hook (it imports the time module), which made it the readout's largest cost on every live
    bar."""
    return format_minute(at, zone)


class ChartView(QWidget):
    """Price candles over a volume pane with a shared, linked x axis (bar index). The chart loads nothing
    itself: its toolbar's requests are re-emitted as `symbolRequested` / `timeframeRequested` for its owner."""

    symbolRequested = Signal(str)
    timeframeRequested = Signal(str)

    def __init__(
        self,
        symbol: str = "",
        timeframe: str = Timeframe.MIN_1,
        parent: QWidget | None = None,
        display: DisplayTime | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("chartView")
        self._display = display if display is not None else display_time()
        self._buffer = BarBuffer()
        self._symbol = symbol
        self._timeframe = timeframe
        step = timeframe_delta(timeframe).total_seconds()

        self.toolbar = ChartToolbar(self)
        self.toolbar.symbolRequested.connect(self.symbolRequested)
        self.toolbar.timeframeRequested.connect(self.timeframeRequested)
        self.toolbar.indicatorRequested.connect(self._indicator_chosen)
        self.toolbar.indicatorRemoveRequested.connect(self.remove_indicator)
        self._header = QLabel(self)
        self._header.setObjectName("chartHeader")
        self._header.setTextFormat(Qt.TextFormat.RichText)
        self._readout = QLabel(self)
        self._readout.setObjectName("chartReadout")
        self._readout.setTextFormat(Qt.TextFormat.PlainText)
        self._readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # a long readout is cut at the edge rather than widening the chart's dock
        self._readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._graphics = ChartGraphics(self)
        self._graphics.setBackground(BACKGROUND)
        header_row = QHBoxLayout()
        header_row.setContentsMargins(4, 0, 4, 0)
        header_row.addWidget(self._header)
        header_row.addWidget(self._readout, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.toolbar)
        layout.addLayout(header_row)
        layout.addWidget(self._graphics, 1)

        self.time_axis = TimeIndexAxis(self._buffer, step, self._display.zone)
        self._time_axes = [self.time_axis]
        self.price_plot: pg.PlotItem = self._graphics.addPlot(
            row=0, col=0, viewBox=ChartViewBox(), axisItems={"right": LeanAxis("right"), "bottom": LeanAxis("bottom")}
        )
        self.volume_plot: pg.PlotItem = self._graphics.addPlot(
            row=1, col=0, viewBox=ChartViewBox(), axisItems={"right": LeanAxis("right"), "bottom": self.time_axis}
        )
        self._graphics.ci.layout.setRowStretchFactor(0, PRICE_STRETCH)
        self._graphics.ci.layout.setRowStretchFactor(1, VOLUME_STRETCH)
        self._style_pane(self.price_plot)
        self._style_pane(self.volume_plot)
        self.price_plot.hideAxis("bottom")
        self.volume_plot.getViewBox().setLimits(yMin=0)  # no empty band below zero volume
        self._panes: list[pg.PlotItem] = []  # oscillator panes under the volume, top to bottom

        self.candles = CandlestickItem(self._buffer)
        self.volumes = VolumeItem(self._buffer)
        self.sessions = SessionShading(self._buffer, lambda: self.time_axis.step_seconds)
        self.price_plot.addItem(self.sessions, ignoreBounds=True)
        self.sessions.place_under_grid()
        self.price_plot.addItem(self.candles)
        self.volume_plot.addItem(self.volumes)

        self._overlays: dict[str, Overlay] = {}
        self._colors = itertools.cycle(OVERLAY_COLORS)

        self._markers = MarkerSet()
        self.marker_item = MarkerItem(self._markers, self._buffer, lambda: self.time_axis.step_seconds)
        self.marker_item.setZValue(20)
        self.price_plot.addItem(self.marker_item, ignoreBounds=True)

        self.crosshair = Crosshair(self._graphics, self.price_plot, lambda: len(self._buffer), parent=self)
        self.crosshair.attach(self.volume_plot)
        self.crosshair.hovered.connect(self._show_readout)
        self._display.zoneChanged.connect(self._zone_changed)
        self._update_header()

    # --- public API: bars ---
    @property
    def bar_count(self) -> int:
        return len(self._buffer)

    @property
    def buffer(self) -> BarBuffer:
        return self._buffer

    @property
    def graphics(self) -> ChartGraphics:
        return self._graphics

    def set_symbol(self, symbol: str, timeframe: str | None = None) -> None:
        """Say which symbol (and timeframe) the chart shows; updates the toolbar without requesting anything."""
        self._symbol = symbol
        if timeframe is not None:
            step = timeframe_delta(timeframe).total_seconds()
            for axis in self._time_axes:
                axis.step_seconds = step
            self._timeframe = timeframe
            self._markers.bars_changed()  # a marker's bar depends on the bar size at the end
            self.sessions.update()
        self.toolbar.show_symbol(symbol, self._timeframe)
        self._update_header()

    def set_loading(self, loading: bool) -> None:
        """Say that bars for the shown symbol are on their way (the old ones stay until they arrive)."""
        self.toolbar.set_status(f"Loading {self._symbol} {self._timeframe}…" if loading else "")

    def show_error(self, message: str) -> None:
        """A problem with what the chart should show (no bars, a failed load), in the chart itself."""
        self.toolbar.set_status(message, error=True)

    def set_known_symbols(self, symbols: list[str]) -> None:
        """Symbols the search box completes."""
        self.toolbar.set_known_symbols(symbols)

    def set_bars(
        self,
        t: np.ndarray,
        o: np.ndarray,
        h: np.ndarray,
        l: np.ndarray,  # noqa: E741 - the conventional OHLC name
        c: np.ndarray,
        v: np.ndarray,
    ) -> None:
        """Replace all bars (t = bar open time in epoch seconds, UTC) and show the latest ones. Indicators are
        recomputed over all bars here, once; live bars then update only their tails."""
        self._buffer.set(t, o, h, l, c, v)
        self.candles.data_reset()
        self.volumes.data_reset()
        for overlay in self._overlays.values():
            overlay.series.recompute(self._buffer)
            for item in overlay.items:
                item.data_reset()
        self._markers.bars_changed()
        self.marker_item.update()
        self.sessions.update()
        for axis in self._time_axes:
            axis.bars_replaced()
        self.show_last(DEFAULT_VISIBLE_BARS)
        self._update_header()

    def append_bar(self, bar: NormalizedBar) -> None:
        """Add a live bar; a bar with the last bar's timestamp replaces it (the forming bar updating).

        Only one row is written (per bar buffer and indicator) and the items repaint; nothing is rebuilt.
        If the view showed the latest bar, it scrolls along by one bar.
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
            self._markers.bars_changed()
            if following:
                self._scroll_by_one()
        self.candles.row_changed(index)
        self.volumes.row_changed(index)
        for overlay in self._overlays.values():
            overlay.series.bar_written(self._buffer, index)
            for item in overlay.items:
                item.row_changed(index)
        self.marker_item.update()
        self._show_readout(self.crosshair.index)

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

    # --- public API: readout ---
    def readout_at(self, index: int) -> str:
        """What the readout says for bar `index`: its open time in the display zone, OHLCV, the indicators' values
        there and the markers on that bar. An index off the bars describes the last bar; no bars, an empty string."""
        n = len(self._buffer)
        if n == 0:
            return ""
        if not 0 <= index < n:
            index = n - 1
        bar = self._buffer.row(index)
        zone = self._display.zone
        parts = [
            f"{zoned_minute(bar.timestamp, zone)} {zone.label}  "
            f"O {format_number(bar.open)}  H {format_number(bar.high)}  "
            f"L {format_number(bar.low)}  C {format_number(bar.close)}  V {bar.volume:,.0f}"
        ]
        parts += [overlay.series.format_at(index) for overlay in self._overlays.values()]
        parts += [m.describe() for m in self._markers.at_bar(self._buffer, self.time_axis.step_seconds, index)]
        return "  ·  ".join(parts)

    def readout_text(self) -> str:
        """The readout as currently shown."""
        return self._readout.text()

    # --- public API: indicators ---
    def add_indicator(self, kind: str, period: int | None = None) -> str:
        """Show indicator `kind` ("sma", "ema", "bollinger", "vwap", "highest", "lowest", "rsi", "macd", "atr")
        of `period` bars (None: its default; for VWAP, None is the session VWAP and a period a rolling one).
        Returns the overlay's id; ValueError for an unknown kind or a period it cannot take."""
        spec = indicator_kind(kind)
        series = IndicatorSeries(spec, period)
        series.recompute(self._buffer)
        color = QColor(next(self._colors))
        if spec.placement == PRICE:
            plot, pane = self.price_plot, None
        else:
            plot = pane = self._add_pane()
        items = []
        for k, output in enumerate(spec.outputs):
            if output in spec.histogram:
                line_color, dashed = QColor(HISTOGRAM_COLOR), False
            elif spec.name == "bollinger" and output != "mid":
                line_color, dashed = QColor(color), True
            elif k == 1:
                line_color, dashed = QColor(SECOND_LINE_COLOR), False
            else:
                line_color, dashed = color, False
            item = SeriesLineItem(series.values, k, line_color, histogram=output in spec.histogram, dashed=dashed)
            item.setZValue(10)
            plot.addItem(item)
            item.data_reset()
            items.append(item)
        overlay = Overlay(series, items, plot, pane)
        if pane is not None:
            self._decorate_pane(overlay)
        self._overlays[series.id] = overlay
        self._indicators_changed()
        return series.id

    def remove_indicator(self, overlay_id: str) -> None:
        """Remove an overlay (and its pane); KeyError for an id that is not shown."""
        overlay = self._overlays.pop(overlay_id)
        for item in overlay.items:
            overlay.plot.removeItem(item)
        if overlay.pane is not None:
            self._remove_pane(overlay.pane)
        self._indicators_changed()

    def indicators(self) -> list[IndicatorInfo]:
        """The overlays shown, in the order they were added."""
        return [
            IndicatorInfo(o.series.id, o.series.kind.name, o.series.period, o.series.label, o.series.kind.placement)
            for o in self._overlays.values()
        ]

    def overlay(self, overlay_id: str) -> Overlay:
        """An overlay's series (values per bar) and drawing items; KeyError for an id that is not shown."""
        return self._overlays[overlay_id]

    @property
    def panes(self) -> list[pg.PlotItem]:
        """The oscillator panes under the volume, top to bottom."""
        return list(self._panes)

    # --- public API: markers ---
    def set_markers(self, markers: Iterable[ChartMarker]) -> None:
        """Replace all markers (fills and signals)."""
        self._markers.set(markers)
        self._markers_changed()

    def add_marker(self, marker: ChartMarker) -> None:
        self._markers.add(marker)
        self._markers_changed()

    def clear_markers(self, kind: str | None = None) -> None:
        """Remove all markers, or those of one kind ("fill" or "signal")."""
        self._markers.clear(kind)
        self._markers_changed()

    def markers(self, kind: str | None = None) -> list[ChartMarker]:
        return self._markers.markers(kind)

    def marker_bar_index(self, marker: ChartMarker) -> int | None:
        """The bar a marker is drawn on, or None (before the first bar, or its bar has not arrived yet)."""
        t = marker.timestamp.timestamp()
        n = len(self._buffer)
        index = int(np.searchsorted(self._buffer.t, t, side="right")) - 1
        if index < 0 or (index == n - 1 and t >= self._buffer.t[n - 1] + self.time_axis.step_seconds):
            return None
        return index

    def visible_markers(self) -> list[tuple[int, ChartMarker]]:
        """(bar index, marker) for the markers on the bars in view: the ones a paint draws."""
        return self.marker_item.visible_markers()

    # --- internals: panes ---
    def _style_pane(self, plot: pg.PlotItem) -> None:
        plot.hideAxis("left")
        plot.showAxis("right")
        plot.getAxis("right").setWidth(AXIS_WIDTH)
        for name in ("left", "top"):  # hidden, but still linked: spare them the SI relabelling on every range change
            plot.getAxis(name).enableAutoSIPrefix(False)
        plot.addItem(GridItem(plot), ignoreBounds=True)  # not showGrid: see chart_grid for why
        plot.setMenuEnabled(False)
        vb = plot.getViewBox()
        vb.setMouseEnabled(x=True, y=False)  # pan/zoom in time; values follow automatically
        vb.enableAutoRange(x=False, y=True)
        vb.setAutoVisible(y=True)
        vb.setLimits(minXRange=5)
        # pyqtgraph 0.14 re-runs a visible-only y auto-range after an x change only when x auto-range
        # is on (it tests the wrong axis); ask for it explicitly so values follow panning and zooming.
        vb.sigXRangeChanged.connect(lambda box, _range: box.queueUpdateAutoRange())
        if plot is not self.price_plot:
            plot.setXLink(self.price_plot)

    def _add_pane(self) -> pg.PlotItem:
        axis = TimeIndexAxis(self._buffer, self.time_axis.step_seconds, self._display.zone)
        pane = pg.PlotItem(viewBox=ChartViewBox(), axisItems={"right": LeanAxis("right"), "bottom": axis})
        self._style_pane(pane)
        self._time_axes.append(axis)
        self._panes.append(pane)
        self._layout_panes(len(self._panes) - 1)
        self.crosshair.attach(pane)
        return pane

    def _remove_pane(self, pane: pg.PlotItem) -> None:
        self.crosshair.detach(pane)
        at = self._panes.index(pane)
        self._graphics.ci.removeItem(pane)
        self._panes.remove(pane)
        self._time_axes.remove(pane.getAxis("bottom"))
        self._layout_panes(at)

    def _layout_panes(self, first_changed: int) -> None:
        """Place panes from `first_changed` on at rows 2.. (a removed pane leaves no gap) and show the time
        axis under the bottom pane only."""
        ci = self._graphics.ci
        for pane in self._panes[first_changed:]:
            if pane in ci.items:
                ci.removeItem(pane)
        for row, pane in enumerate(self._panes[first_changed:], start=2 + first_changed):
            ci.addItem(pane, row=row, col=0)
        grid = ci.layout
        for row in range(2, grid.rowCount()):
            grid.setRowStretchFactor(row, PANE_STRETCH if row - 2 < len(self._panes) else 0)
        bottom = self._panes[-1] if self._panes else self.volume_plot
        for plot in (self.volume_plot, *self._panes):
            plot.showAxis("bottom", plot is bottom)

    def _decorate_pane(self, overlay: Overlay) -> None:
        pane, spec = overlay.plot, overlay.series.kind
        title = pg.LabelItem(overlay.series.label, size="8pt", color="#9aa4ad", justify="left")
        title.setParentItem(pane.getViewBox())  # a child of the box, not of its data: it stays top-left
        title.setPos(4, -4)
        overlay.extras.append(title)
        for level in spec.guides:
            guide = pg.InfiniteLine(pos=level, angle=0, pen=pg.mkPen("#5f6b75", style=Qt.PenStyle.DashLine))
            pane.addItem(guide, ignoreBounds=spec.y_range is not None)
            overlay.extras.append(guide)
        if spec.y_range is not None:
            vb = pane.getViewBox()
            vb.enableAutoRange(y=False)
            vb.setYRange(*spec.y_range, padding=0.05)

    # --- internals: live view ---
    def _indicator_chosen(self, kind: str, period: int | None) -> None:
        try:
            self.add_indicator(kind, period)
        except ValueError as exc:
            self.show_error(str(exc))

    def _indicators_changed(self) -> None:
        self.toolbar.set_indicators([(o.series.id, o.series.label) for o in self._overlays.values()])
        self._show_readout(self.crosshair.index)

    def _markers_changed(self) -> None:
        self.marker_item.update()
        self._show_readout(self.crosshair.index)

    def _view_shows_latest(self) -> bool:
        _, right = self.visible_x_range()
        return right >= len(self._buffer) - 1  # the last bar's centre is on screen

    def _scroll_by_one(self) -> None:
        left, right = self.visible_x_range()
        self.show_range(left + 1, right + 1)

    def _zone_changed(self, zone: DisplayZone) -> None:
        """The trader chose another zone: relabel the time axes and the readout (the bars stay as they are)."""
        for axis in self._time_axes:
            axis.set_zone(zone)
        self._show_readout(self.crosshair.index)

    def _show_readout(self, index: int = NO_BAR) -> None:
        self._readout.setText(self.readout_at(index))

    def _update_header(self) -> None:
        self._header.setText(f"<b>{self._symbol or '—'}</b> · {self._timeframe}")
        self._show_readout(self.crosshair.index)
