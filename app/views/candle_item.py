"""Candlestick and volume graphics items that stay fast with millions of bars.

pyqtgraph's stock approaches (a QPicture of every candle, or BarGraphItems without clipping) redraw
every bar on every frame: seconds per frame at a million bars (see QT_NOTES.md). These items paint
only the bars inside the view and, when zoomed out past one bar per pixel column, merge the bars of
each column into one OHLC first, so a frame costs about as much as the widget is wide. Each colour is
drawn with a single drawLines and a single drawRects call from numpy-filled primitive arrays.

x is the bar index (bar i spans [i - 0.5, i + 0.5]); y is price (or volume).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen

from app.views.bar_buffer import BarBuffer
from app.views.primitive_buffer import PrimitiveBuffer

UP_COLOR = QColor("#26a69a")
DOWN_COLOR = QColor("#ef5350")
BODY_WIDTH = 0.7  # fraction of a bar slot a body fills
CHART_BACKGROUND = QColor("#101418")
VOLUME_OPACITY = 160 / 255


def blend(color: QColor, background: QColor, opacity: float) -> QColor:
    """The opaque colour that `color` at `opacity` over `background` looks like."""
    mix = [
        round(opacity * a + (1.0 - opacity) * b)
        for a, b in zip(color.getRgb()[:3], background.getRgb()[:3], strict=True)
    ]
    return QColor(*mix)


@dataclass(frozen=True, slots=True)
class PaintStats:
    """What the last paint() drew: lets tests and benchmarks check that only the view was drawn."""

    first: int  # first bar index painted
    stop: int  # one past the last bar index painted
    columns: int  # candles (or merged pixel columns) drawn
    bars_per_column: int  # 1 when zoomed in; > 1 when bars were merged per pixel column


@dataclass(frozen=True, slots=True)
class Columns:
    """Bars of the visible range, merged `bars_per_column` at a time (1 = not merged)."""

    x: np.ndarray
    width: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # mean volume per bar of the column, so the y scale does not jump with zoom
    bars_per_column: int


def view_x_range(item: pg.GraphicsObject) -> tuple[float, float] | None:
    """The x range of the ViewBox holding `item` (added with addItem, so item and view coordinates agree).

    Read straight from the box: pyqtgraph's viewRect() maps a rectangle through inverted transforms in
    Python, which cost more than drawing a few hundred candles."""
    view = item.getViewBox()
    if view is None or not hasattr(view, "viewRange"):
        return None
    left, right = view.viewRange()[0]
    return float(left), float(right)


def view_rect(item: pg.GraphicsObject) -> QRectF | None:
    """The visible rectangle of the ViewBox holding `item`, in its coordinates (see view_x_range)."""
    view = item.getViewBox()
    if view is None or not hasattr(view, "viewRange"):
        return None
    (left, right), (bottom, top) = view.viewRange()
    return QRectF(left, bottom, right - left, top - bottom)


def columns_for(bars_per_pixel: float) -> int:
    """Bars merged per drawn column: 1 while a bar gets a pixel or more, else enough to fill one pixel."""
    return 1 if not bars_per_pixel > 1.0 else math.ceil(bars_per_pixel)


_merged: tuple[tuple[int, int, int, int, int], Columns] | None = None  # the last merge, shared by both panes


def merge_columns(buffer: BarBuffer, first: int, stop: int, bars_per_column: int) -> Columns:
    """OHLC(V) of bars [first, stop) grouped into columns of `bars_per_column` bars.

    Groups are aligned to absolute multiples of bars_per_column, so panning does not make the
    merged candles flicker as group boundaries shift. The last result is kept: the candles, the
    volume bars and the volume pane's auto-range all ask for the same columns in one frame.
    """
    global _merged
    key = (id(buffer), buffer.version, first, stop, bars_per_column)
    if _merged is not None and _merged[0] == key:
        return _merged[1]
    columns = _merge_columns(buffer, first, stop, bars_per_column)
    _merged = (key, columns)
    return columns


def _merge_columns(buffer: BarBuffer, first: int, stop: int, bars_per_column: int) -> Columns:
    k = max(1, bars_per_column)
    if k == 1:
        x = np.arange(first, stop, dtype=np.float64)
        return Columns(
            x=x,
            width=np.full(x.shape, BODY_WIDTH),
            open=buffer.open[first:stop],
            high=buffer.high[first:stop],
            low=buffer.low[first:stop],
            close=buffer.close[first:stop],
            volume=buffer.volume[first:stop],
            bars_per_column=1,
        )
    base = first - first % k
    starts = np.arange(base, stop, k)
    offsets = starts - base
    counts = np.diff(np.append(offsets, stop - base))
    high = np.maximum.reduceat(buffer.high[base:stop], offsets)
    low = np.minimum.reduceat(buffer.low[base:stop], offsets)
    volume = np.add.reduceat(buffer.volume[base:stop], offsets) / counts
    return Columns(
        x=starts + (counts - 1) / 2.0,
        width=counts * BODY_WIDTH,
        open=buffer.open[starts],
        high=high,
        low=low,
        close=buffer.close[starts + counts - 1],
        volume=volume,
        bars_per_column=k,
    )


class _IndexedBarsItem(pg.GraphicsObject):
    """Shared machinery: visible-range lookup, merging, bounds, paint bookkeeping."""

    def __init__(self, buffer: BarBuffer) -> None:
        super().__init__()
        self._buffer = buffer
        self._ymin = 0.0
        self._ymax = 1.0
        self.last_paint: PaintStats | None = None
        self.paint_count = 0
        self._rects = PrimitiveBuffer(QRectF)
        self._lines = PrimitiveBuffer(QLineF)
        self._sx = self._sy = 1.0  # item -> device scale and offset of the current paint
        self._dx = self._dy = 0.0

    # --- data notifications (called by the chart) ---
    def data_reset(self) -> None:
        """All bars were replaced: recompute the bounds once (O(n)), then repaint."""
        self.prepareGeometryChange()
        self._ymin, self._ymax = self._full_y_bounds()
        self.informViewBoundsChanged()
        self.update()

    def row_changed(self, index: int) -> None:
        """Bar `index` was appended or rewritten: widen bounds by that row only (O(1)), then repaint.

        A rewritten bar can only make the bounds too wide, never too narrow, which is harmless: the
        view's y range comes from dataBounds over the visible bars."""
        lo, hi = self._row_y_bounds(index)
        self.prepareGeometryChange()  # x extent grows with every appended bar
        if len(self._buffer) == 1:
            self._ymin, self._ymax = lo, hi
        else:
            self._ymin, self._ymax = min(self._ymin, lo), max(self._ymax, hi)
        self.informViewBoundsChanged()
        self.update()

    def _full_y_bounds(self) -> tuple[float, float]:
        raise NotImplementedError

    def _row_y_bounds(self, index: int) -> tuple[float, float]:
        raise NotImplementedError

    def _range_y_bounds(self, first: int, stop: int, bars_per_column: int) -> tuple[float, float]:
        """y extent of bars [first, stop) as drawn when merged `bars_per_column` at a time."""
        raise NotImplementedError

    # --- QGraphicsItem / pyqtgraph protocol ---
    def boundingRect(self) -> QRectF:
        n = len(self._buffer)
        if n == 0:
            return QRectF()
        return QRectF(-0.5, self._ymin, float(n), max(self._ymax - self._ymin, 1e-12))

    def dataBounds(
        self, ax: int, frac: float = 1.0, orthoRange: tuple[float, float] | None = None
    ) -> tuple[float, float] | None:
        """Bounds for the ViewBox's auto-range: y covers only the bars within `orthoRange` (the x range)."""
        n = len(self._buffer)
        if n == 0:
            return None
        if ax == 0:
            return (-0.5, n - 0.5)
        left, right = (-0.5, n - 0.5) if orthoRange is None else orthoRange
        first, stop = self._index_range(left, right)
        if stop <= first:
            return None
        view = self.getViewBox()
        width_px = view.width() if view is not None else 0.0
        bars_per_pixel = (right - left) / width_px if width_px > 0 else 1.0
        return self._range_y_bounds(first, stop, columns_for(bars_per_pixel))

    def _index_range(self, left: float, right: float) -> tuple[int, int]:
        n = len(self._buffer)
        first = max(0, math.floor(left + 0.5))
        stop = min(n, math.floor(right + 0.5) + 1)
        return first, max(first, stop)

    def visible_columns(self, bars_per_pixel: float | None = None) -> tuple[int, int, Columns] | None:
        """(first, stop, columns) to draw for the current view; bars are merged when there is more
        than one bar per pixel column (`bars_per_pixel`: from the painter when painting)."""
        n = len(self._buffer)
        x_range = view_x_range(self)
        if n == 0 or x_range is None:
            return None
        first, stop = self._index_range(*x_range)
        if stop <= first:
            return None
        if bars_per_pixel is None:
            view = self.getViewBox()
            width_px = view.width() if view is not None else 0.0
            bars_per_pixel = (x_range[1] - x_range[0]) / width_px if width_px > 0 else 1.0
        return first, stop, merge_columns(self._buffer, first, stop, columns_for(bars_per_pixel))

    def paint(self, p: QPainter, *args: object) -> None:
        self.paint_count += 1
        # Draw in device pixels: with bar indexes near a million and a scale of ~0.001 px per unit,
        # Qt's raster engine dropped whole stretches of rectangles given in item coordinates.
        # Mapping ourselves (a ViewBox only scales and translates) also snaps candles to pixels.
        t = p.transform()
        self._sx, self._sy, self._dx, self._dy = t.m11(), t.m22(), t.dx(), t.dy()
        visible = self.visible_columns(1.0 / abs(self._sx) if self._sx else None)
        if visible is None:
            self.last_paint = PaintStats(0, 0, 0, 1)
            return
        first, stop, cols = visible
        p.save()
        p.resetTransform()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        self._paint_columns(p, cols)
        p.restore()
        self.last_paint = PaintStats(first, stop, len(cols.x), cols.bars_per_column)

    def _paint_columns(self, p: QPainter, cols: Columns) -> None:
        raise NotImplementedError

    def _rect_rows(self, x: np.ndarray, width: np.ndarray, y0: np.ndarray | float, y1: np.ndarray) -> np.ndarray:
        """(n, 4) device-pixel rectangles centred on `x`, spanning y0..y1 (data units): QRectF fields."""
        half = width * (0.5 * self._sx)
        centre = x * self._sx + self._dx
        left = np.floor(centre - half)
        ya = y0 * self._sy + self._dy
        yb = y1 * self._sy + self._dy
        rows = np.empty((len(x), 4))
        rows[:, 0] = left
        np.floor(np.minimum(ya, yb), out=rows[:, 1])
        np.maximum(np.floor(centre + half) - left, 1.0, out=rows[:, 2])  # never thinner than one pixel
        np.maximum(np.abs(yb - ya), 1.0, out=rows[:, 3])  # a doji still shows a 1-pixel body
        return rows

    def _line_rows(self, x: np.ndarray, y0: np.ndarray, y1: np.ndarray) -> np.ndarray:
        """(n, 4) device-pixel vertical lines at `x` from y0 to y1 (data units): QLineF fields."""
        rows = np.empty((len(x), 4))
        np.floor(x * self._sx + self._dx, out=rows[:, 0])
        rows[:, 0] += 0.5  # pixel centre: crisp 1-px wicks
        rows[:, 1] = y0 * self._sy + self._dy
        rows[:, 2] = rows[:, 0]
        rows[:, 3] = y1 * self._sy + self._dy
        return rows

    @staticmethod
    def _pick(buffer: PrimitiveBuffer, rows: np.ndarray, mask: np.ndarray, count: int) -> tuple:
        """The `mask`ed rows (`count` of them) copied into `buffer`, as drawLines/drawRects arguments."""
        np.compress(mask, rows, axis=0, out=buffer.resize(count))
        return buffer.drawargs()


def _cosmetic_pen(color: QColor) -> QPen:
    pen = QPen(color)
    pen.setWidth(1)
    pen.setCosmetic(True)  # one device pixel whatever the zoom
    return pen


class CandlestickItem(_IndexedBarsItem):
    """Candles: wick from low to high, body from open to close; green when close >= open."""

    def __init__(self, buffer: BarBuffer) -> None:
        super().__init__(buffer)
        self._styles = (
            (True, _cosmetic_pen(UP_COLOR), QBrush(UP_COLOR)),
            (False, _cosmetic_pen(DOWN_COLOR), QBrush(DOWN_COLOR)),
        )

    def _full_y_bounds(self) -> tuple[float, float]:
        if len(self._buffer) == 0:
            return 0.0, 1.0
        return float(self._buffer.low.min()), float(self._buffer.high.max())

    def _row_y_bounds(self, index: int) -> tuple[float, float]:
        return float(self._buffer.low[index]), float(self._buffer.high[index])

    def _range_y_bounds(self, first: int, stop: int, bars_per_column: int) -> tuple[float, float]:
        # merging keeps the extremes, so the raw bars give the same extent
        return float(self._buffer.low[first:stop].min()), float(self._buffer.high[first:stop].max())

    def _paint_columns(self, p: QPainter, cols: Columns) -> None:
        # every candle's geometry at once, then one copy per colour: half the numpy calls of working per colour
        up = cols.close >= cols.open
        ups = int(np.count_nonzero(up))
        wicks = self._line_rows(cols.x, cols.low, cols.high)
        bodies = self._rect_rows(cols.x, cols.width, cols.open, cols.close)
        for is_up, pen, brush in self._styles:
            count = ups if is_up else len(up) - ups
            if not count:
                continue
            mask = up if is_up else ~up
            p.setPen(pen)
            p.drawLines(*self._pick(self._lines, wicks, mask, count))
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(brush)
            p.drawRects(*self._pick(self._rects, bodies, mask, count))


class VolumeItem(_IndexedBarsItem):
    """Volume bars from 0, coloured like their candle (merged columns show mean volume per bar)."""

    def __init__(self, buffer: BarBuffer) -> None:
        super().__init__(buffer)
        # The candle colours at 63% over the chart background, mixed here: opaque fills cost Qt's raster engine
        # about half as much as translucent ones (measured 25 against 43 microseconds for 100 bars).
        up, down = (blend(color, CHART_BACKGROUND, VOLUME_OPACITY) for color in (UP_COLOR, DOWN_COLOR))
        self._brushes = ((True, QBrush(up)), (False, QBrush(down)))

    def _full_y_bounds(self) -> tuple[float, float]:
        if len(self._buffer) == 0:
            return 0.0, 1.0
        return 0.0, float(self._buffer.volume.max())

    def _row_y_bounds(self, index: int) -> tuple[float, float]:
        return 0.0, float(self._buffer.volume[index])

    def _range_y_bounds(self, first: int, stop: int, bars_per_column: int) -> tuple[float, float]:
        # merged columns show mean volume, so scale to what is drawn, not to the single largest bar
        if bars_per_column == 1:
            top = float(self._buffer.volume[first:stop].max())
        else:
            top = float(merge_columns(self._buffer, first, stop, bars_per_column).volume.max())
        return 0.0, max(top, 1.0)

    def _paint_columns(self, p: QPainter, cols: Columns) -> None:
        up = cols.close >= cols.open
        ups = int(np.count_nonzero(up))
        bars = self._rect_rows(cols.x, cols.width, 0.0, cols.volume)
        p.setPen(Qt.PenStyle.NoPen)
        for is_up, brush in self._brushes:
            count = ups if is_up else len(up) - ups
            if not count:
                continue
            p.setBrush(brush)
            p.drawRects(*self._pick(self._rects, bars, up if is_up else ~up, count))
