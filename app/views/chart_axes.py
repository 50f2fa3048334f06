"""Chart axes that are cheap to redraw, and the time axis that labels bar indexes with times in the display zone.

Every pan, zoom and followed live bar changes the axes' ranges, and pyqtgraph's AxisItem then rebuilds its
picture in Python: 0.5-1 ms per axis measured offscreen (Point objects per tick, np.isclose filters per
level, a QPainter.boundingRect per label), three or more axes per frame, which was most of a live bar's
repaint. LeanAxis keeps AxisItem (layout, label, linking, tick spacing and strings) and replaces the
drawing: two tick levels, text widths from cached font metrics, minor labels only where they fit, lines in
one call per pen and labels as cached QStaticText, instead of recording and replaying a QPicture of drawText
calls. Ticks point away from the plot.

A followed chart scrolls by one bar per live bar: the range moves, its span does not, so the ticks and labels
are the same ones one bar further along. The time axis's layout is therefore built over a window of three view
widths and reused, translated, while the view stays inside it with the same span and size and nothing else about the
axis changed; each frame only picks the ticks and whole labels inside the axis. Measured offscreen at 1200 px,
that took the time axis's layout from 0.24 ms to 0.06 ms per followed live bar.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QFont, QFontMetricsF, QPainter, QPen, QStaticText

from app.views.bar_buffer import BarBuffer
from core.domain.display_time import DEFAULT_ZONE, DisplayZone

TICK_PX = 4.0  # major tick length; minor ticks are shorter
TEXT_GAP_PX = 3.0
MAX_CACHED = 4096
MAX_TICKS_PER_LEVEL = 6000  # over the three-width window; pyqtgraph's spacing never asks for this many
_EPS_PX = 1e-6
_CURRENT = object()  # stands in for AxisItem's QPicture: "the frame below is up to date"


@dataclass(frozen=True, slots=True)
class AxisLabel:
    """A tick label laid out along the axis: `start`/`end` is its extent in pixels from the start of the axis
    (the low end of the values) at the layout's range; `at` is where its text is drawn at that range."""

    start: float
    end: float
    across: float  # its size across the axis: the width on a vertical axis, the height on a horizontal one
    at: QPointF
    text: QStaticText


@dataclass(frozen=True, slots=True)
class AxisLayout:
    """Ticks and labels for the values of `window`, positioned for the range starting at `low`.

    Valid for any range of the same span inside `window`, drawn translated by (low - new low) * scale."""

    low: float
    span: float
    scale: float  # pixels per value unit
    length: float  # of the axis, pixels
    bounds: tuple[float, float, float, float]
    font: QFont
    window: tuple[float, float]
    labels_state: object  # what the labels depended on when laid out (see LeanAxis._labels_state)
    ticks: tuple[tuple[QPen, list[float], list[QLineF]], ...]  # per level: pen, positions ascending, lines
    labels: tuple[tuple[list[float], list[AxisLabel]], ...]  # per level, major first: starts ascending, labels
    largest_label: float  # the largest `across` of them: the room the labels need beside the axis

    def fits(self, low: float, span: float, length: float, bounds: tuple, font: QFont) -> bool:
        return (
            length == self.length
            and bounds == self.bounds
            and abs(span - self.span) <= 1e-9 * max(abs(span), 1e-300)
            and self.window[0] <= low
            and low + span <= self.window[1]
            and font == self.font
        )


@dataclass(frozen=True, slots=True)
class AxisFrame:
    """What one paint draws: the axis line, then ticks and labels translated by `shift`."""

    shift: QPointF
    axis_line: tuple[QPen, QLineF]
    ticks: tuple[tuple[QPen, list[QLineF]], ...]
    labels: tuple[AxisLabel, ...]


class LeanAxis(pg.AxisItem):
    """An AxisItem whose picture is rebuilt in a fraction of the stock time (see the module docstring)."""

    # Value ranges laid out on either side of the view, in view spans: worth it where the view scrolls at a
    # constant span (time), not where the span follows the data (prices).
    WINDOW_MARGIN = 0.0
    # AxisItem.__init__ assigns `picture` before ours runs, so the property below needs these defaults.
    _picture: object = None
    _layout: AxisLayout | None = None
    _range_only = False

    def __init__(self, orientation: str, **kwargs: object) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)  # the SI relabelling re-sets the label's HTML on every range change
        self._widths: dict[str, float] = {}
        self._metrics_font: object = None
        self._metrics: QFontMetricsF | None = None
        self._statics: dict[str, QStaticText] = {}
        self._frame: AxisFrame | None = None
        self._text_size = 0.0  # the largest label size last reported to AxisItem

    # AxisItem sets `picture` to None whenever anything about the drawing changes (range, size, pens, style,
    # fonts, ticks) and only ever tests it for None or plays it in paint(), which this class replaces. Seeing
    # those assignments tells a range change (the layout may be reused) from every other change (it may not).
    @property
    def picture(self) -> object:
        return self._picture

    @picture.setter
    def picture(self, value: object) -> None:
        if value is None and not self._range_only:
            self._layout = None
        self._picture = value

    def setRange(self, mn: float, mx: float) -> None:
        self._range_only = True
        try:
            super().setRange(mn, mx)
        finally:
            self._range_only = False

    def paint(self, p: QPainter, *args: object) -> None:
        if self.style["tickFont"] is not None:
            p.setFont(self.style["tickFont"])
        if self._picture is None or self._frame is None:
            self._picture = _CURRENT  # before: an invalidation while preparing must hold for the next paint
            self._frame = self._prepare_frame(p)
        frame = self._frame
        pen, line = frame.axis_line
        p.setPen(pen)
        p.drawLine(line)
        if not frame.ticks and not frame.labels:
            return
        p.save()
        p.translate(frame.shift)
        for pen, batch in frame.ticks:
            p.setPen(pen)
            p.drawLines(batch)
        if frame.labels:
            p.setPen(self.textPen())
            for label in frame.labels:
                p.drawStaticText(label.at, label.text)
        p.restore()

    @property
    def tick_layout(self) -> AxisLayout | None:
        """The tick and label layout the last paint drew from (None: none yet, or something changed since)."""
        return self._layout

    @property
    def last_frame(self) -> AxisFrame | None:
        """What the last paint drew."""
        return self._frame

    def labels(self) -> list[str]:
        """The tick labels of the last paint, in drawing order (major level first)."""
        return [] if self._frame is None else [label.text.text() for label in self._frame.labels]

    def drawn_ticks(self) -> list[list[float]]:
        """Per tick level, the tick positions of the last paint along the axis, in the axis's coordinates."""
        if self._frame is None:
            return []
        vertical = self.orientation in ("left", "right")
        shift = self._frame.shift.y() if vertical else self._frame.shift.x()
        return [[(ln.y1() if vertical else ln.x1()) + shift for ln in batch] for _pen, batch in self._frame.ticks]

    # --- layout ---
    def _prepare_frame(self, p: QPainter) -> AxisFrame:
        bounds = self.mapRectFromParent(self.geometry())
        vertical = self.orientation in ("left", "right")
        if vertical:
            base = bounds.left() if self.orientation == "right" else bounds.right()
            axis_line = QLineF(base, bounds.top(), base, bounds.bottom())
            length = bounds.height()
        else:
            base = bounds.top() if self.orientation == "bottom" else bounds.bottom()
            axis_line = QLineF(bounds.left(), base, bounds.right(), base)
            length = bounds.width()
        lo, hi = sorted(float(v) for v in self.range)
        axis_pen = self.pen()
        if length <= 0 or not hi > lo or not (math.isfinite(lo) and math.isfinite(hi)):
            return AxisFrame(QPointF(), (axis_pen, axis_line), (), ())
        key = (bounds.left(), bounds.top(), bounds.width(), bounds.height())
        font = p.font()
        layout = self._layout
        if (
            layout is None
            or not layout.fits(lo, hi - lo, length, key, font)
            or not self._labels_unchanged(layout.labels_state)
        ):
            layout = self._layout = self._build_layout(p, lo, hi, bounds, length, key, font)
        shift = (layout.low - lo) * layout.scale  # along the axis, towards higher values
        ticks = []
        for pen, positions, lines in layout.ticks:
            first = bisect_left(positions, -shift - _EPS_PX)
            stop = bisect_right(positions, length - shift + _EPS_PX)
            if stop > first:
                ticks.append((pen, lines[first:stop]))
        labels = []
        for starts, level in layout.labels:
            # starts ascend with the values (labels that fit do not overlap); one more on each side in case two
            # neighbours of different widths do not, and the exact test on what is left
            first = max(0, bisect_left(starts, -shift - _EPS_PX) - 1)
            stop = bisect_right(starts, length - shift + _EPS_PX) + 1
            labels += [
                label
                for label in level[first:stop]
                if label.start + shift >= -_EPS_PX and label.end + shift <= length + _EPS_PX
            ]
        if labels:
            largest = layout.largest_label
            if largest != self._text_size:  # AxisItem re-lays itself out (and drops the drawing) on every call
                self._text_size = largest
                self._updateMaxTextSize(largest)
                self._layout = layout  # still right for this size; a resize that follows drops it again
        offset = QPointF(0.0, -shift) if vertical else QPointF(shift, 0.0)
        return AxisFrame(offset, (axis_pen, axis_line), tuple(ticks), tuple(labels))

    def _build_layout(
        self, p: QPainter, lo: float, hi: float, bounds: QRectF, length: float, key: tuple, font: QFont
    ) -> AxisLayout:
        """Ticks and labels over [lo, hi] widened by WINDOW_MARGIN spans each side, positioned for [lo, hi]."""
        vertical = self.orientation in ("left", "right")
        outward = 1.0 if self.orientation in ("right", "bottom") else -1.0
        if vertical:
            base = bounds.left() if self.orientation == "right" else bounds.right()
        else:
            base = bounds.top() if self.orientation == "bottom" else bounds.bottom()
        span = hi - lo
        scale = length / span
        window = (lo - self.WINDOW_MARGIN * span, hi + self.WINDOW_MARGIN * span)
        state = self._labels_state()
        levels = self._levels(lo, hi, window, length)

        def along(values: np.ndarray) -> np.ndarray:
            return (values - lo) * scale

        def point(u: float, across: float) -> QPointF:
            return QPointF(across, bounds.bottom() - u) if vertical else QPointF(bounds.left() + u, across)

        ticks = []
        for i, (_spacing, values) in enumerate(levels):
            pen = QPen(self.tickPen())
            color = pen.color()
            color.setAlpha(255 if i == 0 else 110)
            pen.setColor(color)
            tick = outward * TICK_PX / (1.0 + i)
            positions = along(values).tolist()
            lines = [QLineF(point(u, base), point(u, base + tick)) for u in positions]
            ticks.append((pen, positions, lines))

        labels: list[tuple[list[float], list[AxisLabel]]] = []
        if self.style["showValues"]:
            metrics = self._font_metrics(p)
            height = metrics.height()
            offset = TICK_PX + TEXT_GAP_PX
            widest = 0.0
            for i, (spacing, values) in enumerate(levels[: self.style["maxTextLevel"] + 1]):
                # minor labels only where they cannot collide (judged by the major ones: same format, same widths)
                if i > 0 and spacing * scale < (height * 1.6 if vertical else widest + 8.0):
                    break
                strings = self.tickStrings(values.tolist(), self.scale, spacing)
                level: list[AxisLabel] = []
                for u, text in zip(along(values).tolist(), strings, strict=True):
                    if not text:
                        continue
                    width = self._width(metrics, text)
                    widest = max(widest, width)
                    if vertical:
                        left = base + offset if outward > 0 else base - offset - width
                        at = QPointF(left + 1.0, bounds.bottom() - u - height / 2.0)
                        level.append(AxisLabel(u - height / 2.0, u + height / 2.0, width, at, self._static(text)))
                    else:
                        top = base + offset if outward > 0 else base - offset - height
                        at = QPointF(bounds.left() + u - width / 2.0 + 1.0, top)
                        level.append(AxisLabel(u - width / 2.0, u + width / 2.0, height, at, self._static(text)))
                labels.append(([label.start for label in level], level))
        largest = max((label.across for _starts, level in labels for label in level), default=0.0)
        return AxisLayout(lo, span, scale, length, key, font, window, state, tuple(ticks), tuple(labels), largest)

    def _labels_state(self) -> object:
        """What the tick strings depend on besides the tick values; None: nothing (plain numbers)."""
        return None

    def _labels_unchanged(self, state: object) -> bool:
        """Whether labels laid out when `_labels_state()` returned `state` still read the same."""
        return True

    def _levels(
        self, lo: float, hi: float, window: tuple[float, float], length: float
    ) -> list[tuple[float, np.ndarray]]:
        """(spacing, values) of the major and minor levels within `window`, spaced for the view [lo, hi] on an
        axis `length` pixels long; the minor level without the majors."""
        levels: list[tuple[float, np.ndarray]] = []
        for spacing, offset in self.tickSpacing(lo, hi, length)[: min(2, self.style["maxTickLevel"] + 1)]:
            if not spacing > 0:
                continue
            start, stop = np.ceil((window[0] - offset) / spacing), np.floor((window[1] - offset) / spacing)
            if stop - start > MAX_TICKS_PER_LEVEL:  # a degenerate range
                continue
            values = np.arange(start, stop + 1) * spacing + offset
            if levels:
                major = levels[0][1]
                if len(major) and len(values):
                    values = values[np.abs(values[:, None] - major[None, :]).min(axis=1) > spacing * 0.01]
            levels.append((float(spacing), values))
        return levels

    def _static(self, text: str) -> QStaticText:
        static = self._statics.get(text)
        if static is None:
            if len(self._statics) > MAX_CACHED:
                self._statics.clear()
            static = self._statics[text] = QStaticText(text)
            static.setTextFormat(Qt.TextFormat.PlainText)
        return static

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
    """Bottom axis labelling bar indexes with the bars' open times in the display zone (New York by default), which
    its label names."""

    WINDOW_MARGIN = 1.0

    def __init__(
        self, buffer: BarBuffer, step_seconds: float, zone: DisplayZone = DEFAULT_ZONE, **kwargs: object
    ) -> None:
        super().__init__(orientation="bottom", **kwargs)
        self._buffer = buffer
        self.step_seconds = step_seconds
        self._zone = zone
        self._labels: dict[tuple[float, str], str] = {}
        self.setLabel(zone.label)

    @property
    def zone(self) -> DisplayZone:
        return self._zone

    def set_zone(self, zone: DisplayZone) -> None:
        """Label the times in `zone` from the next paint on."""
        if zone is self._zone:
            return
        self._zone = zone
        self._labels.clear()
        self.setLabel(zone.label)
        self.picture = None
        self.update()

    def _labels_state(self) -> object:
        n = len(self._buffer)
        t = float(self._buffer.t[n - 1]) if n else None
        return (self._buffer.reset_version, self.step_seconds, n, t, self._zone)

    def _labels_unchanged(self, state: object) -> bool:
        """Labels name the bars' times, extrapolated by the bar size past the last bar: they still hold while the
        same bars are loaded, and bars appended since continue that extrapolation exactly (no gap)."""
        reset_version, step, n, last, zone = state  # type: ignore[misc]
        now = len(self._buffer)
        if zone is not self._zone or reset_version != self._buffer.reset_version or step != self.step_seconds:
            return False
        if now < n:
            return False
        if n == 0:
            return now == 0
        t = self._buffer.t
        if float(t[n - 1]) != last:
            return False
        if now == n:
            return True
        return bool(np.array_equal(t[n:now], last + step * np.arange(1, now - n + 1)))

    def bars_replaced(self) -> None:
        """All bars were replaced: the labels name other times even where the view's range did not move."""
        self.picture = None
        self.update()

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
            label = self._labels[key] = datetime.fromtimestamp(t, UTC).astimezone(self._zone.tzinfo).strftime(fmt)
        return label
