"""Chart axes that are cheap to redraw, and the time axis that labels bar indexes with UTC times.

Every pan, zoom and followed live bar changes the axes' ranges, and pyqtgraph's AxisItem then rebuilds its
picture in Python: 0.5-1 ms per axis measured offscreen (Point objects per tick, np.isclose filters per
level, a QPainter.boundingRect per label), three or more axes per frame, which was most of a live bar's
repaint. LeanAxis keeps AxisItem (layout, label, linking, tick spacing and strings) and replaces the
drawing: a leaner generateDrawSpecs (two tick levels, text widths from cached font metrics, minor labels only
where they fit), and a paint that draws the specs directly, lines in one call per pen and labels as cached
QStaticText, instead of recording and replaying a QPicture of drawText calls. Ticks point away from the plot.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QFontMetricsF, QPainter, QPen, QStaticText

from app.views.bar_buffer import BarBuffer

TICK_PX = 4.0  # major tick length; minor ticks are shorter
TEXT_GAP_PX = 3.0
MAX_CACHED = 4096
_CURRENT = object()  # stands in for AxisItem's QPicture: "the prepared drawing is up to date"
# Text flags combined once: or-ing PySide6's enum flags costs microseconds each, per label per frame.
_A = Qt.AlignmentFlag
_DONT_CLIP = Qt.TextFlag.TextDontClip
FLAGS = {
    "right": int(_A.AlignLeft | _A.AlignVCenter | _DONT_CLIP),
    "left": int(_A.AlignRight | _A.AlignVCenter | _DONT_CLIP),
    "bottom": int(_A.AlignHCenter | _A.AlignTop | _DONT_CLIP),
    "top": int(_A.AlignHCenter | _A.AlignBottom | _DONT_CLIP),
}


class LeanAxis(pg.AxisItem):
    """An AxisItem whose picture is rebuilt in a fraction of the stock time (see the module docstring)."""

    def __init__(self, orientation: str, **kwargs: object) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)  # the SI relabelling re-sets the label's HTML on every range change
        self._widths: dict[str, float] = {}
        self._metrics_font: object = None
        self._metrics: QFontMetricsF | None = None
        self._statics: dict[str, QStaticText] = {}
        self._drawing: tuple[list, list] = ([], [])

    def paint(self, p: QPainter, *args: object) -> None:
        # AxisItem sets self.picture to None whenever the range, size or style changes, and only ever tests it for
        # None or plays it in paint(), which this replaces: a sentinel marks the drawing below as current.
        if self.picture is None:
            self._drawing = self._prepare(p)
            self.picture = _CURRENT
        lines, texts = self._drawing
        for pen, batch in lines:
            p.setPen(pen)
            p.drawLines(batch)
        if texts:
            if self.style["tickFont"] is not None:
                p.setFont(self.style["tickFont"])
            p.setPen(self.textPen())
            for at, text in texts:
                p.drawStaticText(at, text)

    def labels(self) -> list[str]:
        """The tick labels of the last paint, in drawing order (major level first)."""
        return [text.text() for _at, text in self._drawing[1]]

    def _prepare(self, p: QPainter) -> tuple[list[tuple[QPen, list[QLineF]]], list[tuple[QPointF, QStaticText]]]:
        """generateDrawSpecs' result, grouped for drawing: lines per pen, labels as cached static texts."""
        axis_spec, tick_specs, text_specs = self.generateDrawSpecs(p)
        pen, start, end = axis_spec
        lines: list[tuple[QPen, list[QLineF]]] = [(pen, [QLineF(start, end)])]
        for pen, start, end in tick_specs:
            if lines[-1][0] is not pen:
                lines.append((pen, []))
            lines[-1][1].append(QLineF(start, end))
        texts = [(QPointF(rect.left() + 1.0, rect.top()), self._static(text)) for rect, _flags, text in text_specs]
        return lines, texts

    def _static(self, text: str) -> QStaticText:
        static = self._statics.get(text)
        if static is None:
            if len(self._statics) > MAX_CACHED:
                self._statics.clear()
            static = self._statics[text] = QStaticText(text)
            static.setTextFormat(Qt.TextFormat.PlainText)
        return static

    def generateDrawSpecs(self, p: QPainter) -> tuple:
        if self.style["tickFont"] is not None:
            p.setFont(self.style["tickFont"])
        bounds = self.mapRectFromParent(self.geometry())
        vertical = self.orientation in ("left", "right")
        outward = 1.0 if self.orientation in ("right", "bottom") else -1.0
        if vertical:
            base = bounds.left() if self.orientation == "right" else bounds.right()
            axis_spec = (self.pen(), QPointF(base, bounds.top()), QPointF(base, bounds.bottom()))
            length = bounds.height()
        else:
            base = bounds.top() if self.orientation == "bottom" else bounds.bottom()
            axis_spec = (self.pen(), QPointF(bounds.left(), base), QPointF(bounds.right(), base))
            length = bounds.width()
        lo, hi = sorted(float(v) for v in self.range)
        if length <= 0 or not hi > lo or not np.isfinite([lo, hi]).all():
            return axis_spec, [], []
        scale = length / (hi - lo)

        def position(values: np.ndarray) -> np.ndarray:
            return bounds.bottom() - (values - lo) * scale if vertical else bounds.left() + (values - lo) * scale

        levels = self._levels(lo, hi, length)
        tick_specs = []
        for i, (_spacing, values) in enumerate(levels):
            pen = QPen(self.tickPen())
            color = pen.color()
            color.setAlpha(255 if i == 0 else 110)
            pen.setColor(color)
            tick = outward * TICK_PX / (1.0 + i)
            for at in position(values).tolist():
                if vertical:
                    tick_specs.append((pen, QPointF(base, at), QPointF(base + tick, at)))
                else:
                    tick_specs.append((pen, QPointF(at, base), QPointF(at, base + tick)))

        text_specs: list[tuple[QRectF, int, str]] = []
        if not self.style["showValues"]:
            return axis_spec, tick_specs, text_specs
        metrics = self._font_metrics(p)
        height = metrics.height()
        offset = TICK_PX + TEXT_GAP_PX
        flags = FLAGS[self.orientation]
        largest = widest = 0.0
        for i, (spacing, values) in enumerate(levels[: self.style["maxTextLevel"] + 1]):
            # minor labels only where they cannot collide (judged by the major ones: same format, same widths)
            if i > 0 and spacing * scale < (height * 1.6 if vertical else widest + 8.0):
                break
            strings = self.tickStrings(values.tolist(), self.scale, spacing)
            for at, text in zip(position(values).tolist(), strings, strict=True):
                if not text:
                    continue
                width = self._width(metrics, text)
                widest = max(widest, width)
                if vertical:
                    left = base + offset if outward > 0 else base - offset - width
                    rect = QRectF(left, at - height / 2.0, width, height)
                    if rect.top() < bounds.top() or rect.bottom() > bounds.bottom():
                        continue  # half a label at the ends reads as a different number
                else:
                    top = base + offset if outward > 0 else base - offset - height
                    rect = QRectF(at - width / 2.0, top, width, height)
                    if rect.left() < bounds.left() or rect.right() > bounds.right():
                        continue
                text_specs.append((rect, flags, text))
                largest = max(largest, width if vertical else height)
        if largest:
            self._updateMaxTextSize(largest)
        return axis_spec, tick_specs, text_specs

    def _levels(self, lo: float, hi: float, length: float) -> list[tuple[float, np.ndarray]]:
        """(spacing, values) of the major and minor levels in [lo, hi]; the minor level without the majors."""
        levels: list[tuple[float, np.ndarray]] = []
        for spacing, offset in self.tickSpacing(lo, hi, length)[: min(2, self.style["maxTickLevel"] + 1)]:
            if not spacing > 0:
                continue
            start, stop = np.ceil((lo - offset) / spacing), np.floor((hi - offset) / spacing)
            if stop - start > 2000:  # a degenerate range; pyqtgraph's spacing never asks for this many
                continue
            values = np.arange(start, stop + 1) * spacing + offset
            if levels:
                major = levels[0][1]
                if len(major) and len(values):
                    values = values[np.abs(values[:, None] - major[None, :]).min(axis=1) > spacing * 0.01]
            levels.append((float(spacing), values))
        return levels

    def _font_metrics(self, p: QPainter) -> QFontMetricsF:
        font = p.font()
        if self._metrics is None or font != self._metrics_font:
            self._metrics = QFontMetricsF(font)
            self._metrics_font = font
            self._widths.clear()
        return self._metrics

    def _width(self, metrics: QFontMetricsF, text: str) -> float:
        width = self._widths.get(text)
        if width is None:
            if len(self._widths) > MAX_CACHED:
                self._widths.clear()
            width = self._widths[text] = metrics.horizontalAdvance(text) + 2.0
        return width


class TimeIndexAxis(LeanAxis):
    """Bottom axis labelling bar indexes with the bars' UTC open times."""

    def __init__(self, buffer: BarBuffer, step_seconds: float, **kwargs: object) -> None:
        super().__init__(orientation="bottom", **kwargs)
        self._buffer = buffer
        self.step_seconds = step_seconds
        self._labels: dict[tuple[float, str], str] = {}

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
            labels.append("" if t is None else self._label(t, fmt))
        return labels

    def _label(self, t: float, fmt: str) -> str:
        """Formatted once per time: a followed chart asks for the same tick times frame after frame."""
        key = (t, fmt)
        label = self._labels.get(key)
        if label is None:
            if len(self._labels) > MAX_CACHED:
                self._labels.clear()
            label = self._labels[key] = datetime.fromtimestamp(t, UTC).strftime(fmt)
        return label
