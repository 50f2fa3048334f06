"""Fills and strategy signals marked on the chart as triangles at their bars.

A marker carries a time, not a bar index: bars are replaced when the trader switches timeframe or reloads,
and a fill can arrive before the live bar that contains it. Markers are therefore kept sorted by time and
placed on bars when drawn (np.searchsorted on the bars' open times), so one marker lands on the right bar
in any timeframe, and a marker after the last bar waits, unpainted, until its bar arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen, QPolygonF

from app.views.bar_buffer import BarBuffer
from app.views.candle_item import DOWN_COLOR, UP_COLOR, view_rect, view_x_range

SIDES = ("buy", "sell")
KINDS = ("fill", "signal")
TRIANGLE_PX = 11.0  # width and height of a marker in pixels, whatever the zoom
NOT_PLACED = np.iinfo(np.int64).max  # bar index of a marker whose bar has not arrived yet


@dataclass(frozen=True, slots=True)
class ChartMarker:
    """A fill of the trader's own orders or a strategy's signal, at a moment and a price."""

    timestamp: datetime  # UTC; a naive time is refused rather than guessed
    price: float
    side: str  # "buy" | "sell"
    kind: str  # "fill" | "signal"
    label: str = ""

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None or self.timestamp.utcoffset() is None:
            raise ValueError(f"marker time {self.timestamp.isoformat()} is naive; give it a time zone (UTC)")
        object.__setattr__(self, "timestamp", self.timestamp.astimezone(UTC))
        if self.side not in SIDES:
            raise ValueError(f"marker side must be one of {SIDES}, got {self.side!r}")
        if self.kind not in KINDS:
            raise ValueError(f"marker kind must be one of {KINDS}, got {self.kind!r}")
        if not np.isfinite(self.price):
            raise ValueError(f"marker price must be a finite number, got {self.price!r}")
        object.__setattr__(self, "price", float(self.price))

    def describe(self) -> str:
        text = f"{'▲' if self.side == 'buy' else '▼'} {self.side.upper()} {self.kind} @ {self.price:,.2f}"
        return f"{text} {self.label}" if self.label else text


class MarkerSet:
    """Markers sorted by time, with their bar indexes worked out lazily against the current bars."""

    def __init__(self) -> None:
        self._markers: list[ChartMarker] = []
        self._t = np.empty(0)
        self._bar_index: np.ndarray | None = None  # cache; None after markers or bars change

    def __len__(self) -> int:
        return len(self._markers)

    def markers(self, kind: str | None = None) -> list[ChartMarker]:
        return [m for m in self._markers if kind is None or m.kind == kind]

    def set(self, markers: Iterable[ChartMarker]) -> None:
        self._markers = sorted(markers, key=lambda m: m.timestamp)
        self._t = np.array([m.timestamp.timestamp() for m in self._markers], dtype=np.float64)
        self._bar_index = None

    def add(self, marker: ChartMarker) -> None:
        t = marker.timestamp.timestamp()
        at = int(np.searchsorted(self._t, t, side="right"))
        self._markers.insert(at, marker)
        self._t = np.insert(self._t, at, t)
        self._bar_index = None

    def clear(self, kind: str | None = None) -> None:
        self.set([] if kind is None else [m for m in self._markers if m.kind != kind])

    def bars_changed(self) -> None:
        """Bars were replaced or appended: place the markers again when next asked."""
        self._bar_index = None

    def bar_indexes(self, bars: BarBuffer, step_seconds: float) -> np.ndarray:
        """Each marker's bar: the last bar opening at or before it, -1 before the first bar, and NOT_PLACED
        after the last bar's end (its bar has not arrived). Non-decreasing, since markers are sorted by time."""
        if self._bar_index is None:
            n = len(bars)
            index = np.searchsorted(bars.t, self._t, side="right").astype(np.int64) - 1
            if n:
                index[self._t >= bars.t[n - 1] + step_seconds] = NOT_PLACED
            else:
                index[:] = NOT_PLACED
            self._bar_index = index
        return self._bar_index

    def visible(self, bars: BarBuffer, step_seconds: float, first: int, stop: int) -> list[tuple[int, ChartMarker]]:
        """(bar index, marker) for the markers on bars [first, stop): two binary searches, not a scan."""
        index = self.bar_indexes(bars, step_seconds)
        lo = int(np.searchsorted(index, max(first, 0), side="left"))
        hi = int(np.searchsorted(index, stop, side="left"))
        return [(int(index[i]), self._markers[i]) for i in range(lo, hi)]

    def at_bar(self, bars: BarBuffer, step_seconds: float, bar: int) -> list[ChartMarker]:
        return [m for _, m in self.visible(bars, step_seconds, bar, bar + 1)]


class MarkerItem(pg.GraphicsObject):
    """Paints the markers of the visible bars: buy green pointing up, sell red pointing down, with the tip at
    the marker's price; fills filled, signals hollow. Added with ignoreBounds: markers never move the y range."""

    def __init__(self, markers: MarkerSet, bars: BarBuffer, step_seconds: Callable[[], float]) -> None:
        super().__init__()
        self._markers = markers
        self._bars = bars
        self._step = step_seconds
        self.painted: list[tuple[int, ChartMarker]] = []  # what the last paint drew (for tests)
        self.paint_count = 0
        self._styles = {
            ("buy", "fill"): (QPen(UP_COLOR.darker(140)), QBrush(UP_COLOR)),
            ("sell", "fill"): (QPen(DOWN_COLOR.darker(140)), QBrush(DOWN_COLOR)),
            ("buy", "signal"): (_thick(UP_COLOR), QBrush(Qt.BrushStyle.NoBrush)),
            ("sell", "signal"): (_thick(DOWN_COLOR), QBrush(Qt.BrushStyle.NoBrush)),
        }

    def visible_markers(self) -> list[tuple[int, ChartMarker]]:
        x_range = view_x_range(self)
        if x_range is None or len(self._bars) == 0:
            return []
        first = max(0, int(np.floor(x_range[0] + 0.5)))
        stop = min(len(self._bars), int(np.floor(x_range[1] + 0.5)) + 1)
        if stop <= first:
            return []
        return self._markers.visible(self._bars, self._step(), first, stop)

    def viewRangeChanged(self) -> None:
        self.prepareGeometryChange()  # boundingRect follows the view

    def boundingRect(self) -> QRectF:
        # The whole view: triangles are sized in pixels, so the data rect of the markers would cut them off.
        view = view_rect(self)
        return QRectF() if view is None else view

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange: tuple[float, float] | None = None) -> None:
        return None

    def paint(self, p: QPainter, *args: object) -> None:
        self.paint_count += 1
        visible = self.visible_markers()
        if not visible:
            self.painted = []
            return
        t = p.transform()
        sx, sy, dx, dy = t.m11(), t.m22(), t.dx(), t.dy()
        p.save()
        p.resetTransform()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        drawn: set[tuple[int, str, str]] = set()  # zoomed out, one marker per style and pixel column is enough
        painted = []
        half = TRIANGLE_PX / 2.0
        for index, marker in visible:
            x, y = index * sx + dx, marker.price * sy + dy
            column = (int(x), marker.side, marker.kind)
            if column in drawn:
                continue
            drawn.add(column)
            painted.append((index, marker))
            pen, brush = self._styles[(marker.side, marker.kind)]
            p.setPen(pen)
            p.setBrush(brush)
            base = y + TRIANGLE_PX if marker.side == "buy" else y - TRIANGLE_PX  # tip at the price
            p.drawPolygon(QPolygonF([QPointF(x, y), QPointF(x - half, base), QPointF(x + half, base)]))
        p.restore()
        self.painted = painted


def _thick(color: QColor) -> QPen:
    pen = QPen(color)
    pen.setWidthF(1.6)
    pen.setCosmetic(True)
    return pen
