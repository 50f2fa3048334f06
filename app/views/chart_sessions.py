"""Pre-market and after-hours shading and regular-session open lines on an intraday chart.

A trader reads an intraday chart by its sessions: where the regular session (09:30-16:00 New York, 13:00 on an
early close) opened, and which bars printed in the thin pre-market (04:00-09:30) or after-hours (to 20:00). The
NYSE calendar (core/market/calendar.py, exchange_calendars) knows holidays, early closes and daylight-saving
shifts; its sessions are turned once per process into four arrays of UTC nanoseconds (extended open, regular open,
regular close, extended close), and each paint classifies only the visible bars against them with one
`np.searchsorted`, then fills one rectangle per run of same-class bars and draws one line per regular open. A chart
of a million bars therefore costs what its visible bars cost; the classification is cached until the bars or the
view change.

A bar belongs to the regular session when its span [open time, open time + bar size) overlaps it, so an hourly bar
stamped 09:00 counts as regular (it holds 09:30-10:00). Bars after an early close (13:00) are after-hours. Bars
outside any session's 04:00-20:00 window (nights, weekends, holidays) are shaded as closed.

Colours are opaque, pre-blended with the chart background: Qt's raster engine blends translucent fills pixel by
pixel (see chart_grid.py for what that cost), and the shading lies under everything else in the pane.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import time

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QRectF, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QPainter, QPen

from app.views.bar_buffer import BarBuffer
from app.views.candle_item import CHART_BACKGROUND, blend, view_rect
from core.market.calendar import EXTENDED_CLOSE, EXTENDED_OPEN, NEW_YORK, TradingCalendar

log = logging.getLogger(__name__)

REGULAR, PRE, POST, CLOSED = 0, 1, 2, 3
PRE_COLOR = blend(QColor("#3d6fb6"), CHART_BACKGROUND, 0.16)
POST_COLOR = blend(QColor("#7e57c2"), CHART_BACKGROUND, 0.16)
CLOSED_COLOR = blend(QColor("#000000"), CHART_BACKGROUND, 0.35)
OPEN_LINE_COLOR = blend(QColor("#90a4ae"), CHART_BACKGROUND, 0.45)
_NS = 1_000_000_000
Z_VALUE = -200
WAIT_FOR_TABLE_MS = 100
MIN_PX_PER_RUN = 4  # below this many pixels per shaded run (or per open line) they are not drawn


@dataclass(frozen=True)
class SessionTable:
    """Every NYSE session as UTC nanoseconds: extended open (04:00 New York), regular open, regular close (early
    closes included), extended close (20:00). Sorted, read-only."""

    extended_open: np.ndarray
    open: np.ndarray
    close: np.ndarray
    extended_close: np.ndarray
    # the same in epoch seconds (float64, exact: the boundaries are whole minutes), the bars' own unit
    extended_open_s: np.ndarray
    open_s: np.ndarray
    close_s: np.ndarray
    extended_close_s: np.ndarray


_loading: Future[SessionTable] | None = None
_loading_lock = threading.Lock()


def session_table_soon() -> SessionTable | None:
    """The session table if built, else None after starting to build it on a worker thread: building the NYSE
    calendar took 0.5-1.5 s on this (busy) machine, which on the GUI thread would hold the chart's first paint."""
    global _loading
    with _loading_lock:
        if _loading is None:
            _loading = Future()
            future = _loading

            def build() -> None:
                try:
                    future.set_result(session_table())
                except Exception:
                    # no shading rather than a chart that fails to paint; the calendar's problem is in the log
                    log.exception("the NYSE calendar could not be built; the chart shows no session shading")
                    empty = np.zeros(0, dtype=np.int64)
                    future.set_result(SessionTable(*(empty,) * 4, *(empty.astype(np.float64),) * 4))

            threading.Thread(target=build, name="session-table", daemon=True).start()
    if not _loading.done():
        return None
    return _loading.result()


@functools.cache
def session_table(last_year: int | None = None) -> SessionTable:
    """The sessions of `TradingCalendar(last_year)`, built once per process (the calendar, then a few ms)."""
    days, open_ns, close_ns = TradingCalendar(last_year).trading_day_arrays()
    local_days = pd.to_datetime(days.astype("datetime64[D]"))

    def at(clock: time) -> np.ndarray:
        wall = local_days + pd.Timedelta(hours=clock.hour, minutes=clock.minute)
        # a session day is a weekday: New York's DST switch (Sunday 02:00) never falls between its 04:00 and 20:00
        return pd.DatetimeIndex(wall).tz_localize(NEW_YORK).tz_convert("UTC").as_unit("ns").asi8.copy()

    ns = (at(EXTENDED_OPEN), np.asarray(open_ns).copy(), np.asarray(close_ns).copy(), at(EXTENDED_CLOSE))
    arrays = (*ns, *((a // _NS).astype(np.float64) for a in ns))
    for array in arrays:
        array.flags.writeable = False
    return SessionTable(*arrays)


@dataclass(frozen=True)
class SessionSpans:
    """What to draw over some bars: runs of shaded bars as (class, first index, last index), and the bar indexes
    where a regular session opens."""

    shaded: list[tuple[int, int, int]]
    opens: list[int]


def session_spans(
    t_seconds: np.ndarray, step_seconds: float, table: SessionTable, first_index: int = 0
) -> SessionSpans:
    """Runs and open lines for bars with ascending open times `t_seconds` (UTC epoch seconds), the first being bar
    `first_index`.

    Not a class per bar: each session's four boundaries are looked up among the bars (`np.searchsorted` both
    ways), so the cost follows the sessions in view (a few hundred at most), not the bars (a million)."""
    n = len(t_seconds)
    if n == 0:
        return SessionSpans([], [])
    t = np.asarray(t_seconds, dtype=np.float64)  # the bars as they are: boundaries are whole seconds, exact here
    step = float(step_seconds)
    lo = int(np.searchsorted(table.extended_close_s, t[0], side="right"))
    hi = int(np.searchsorted(table.extended_open_s, t[-1], side="right"))
    if hi <= lo:
        return SessionSpans([(CLOSED, first_index, first_index + n - 1)], [])
    e0 = np.searchsorted(t, table.extended_open_s[lo:hi], side="left")
    # regular: the bar's span [t, t + step) overlaps [open, close)
    r0 = np.maximum(np.searchsorted(t, table.open_s[lo:hi] - step, side="right"), e0)
    r1 = np.maximum(np.searchsorted(t, table.close_s[lo:hi], side="left"), r0)
    e1 = np.maximum(np.searchsorted(t, table.extended_close_s[lo:hi], side="left"), r1)
    closed_from = np.concatenate(([0], e1))  # before each session and after the last
    closed_to = np.concatenate((e0, [n]))
    # rows: the starts of (closed, pre, regular, post), then their stops; one column per session
    runs = np.vstack((np.stack((closed_from[:-1], e0, r0, r1)), np.stack((closed_to[:-1], r0, r1, e1))))
    kinds = np.repeat(np.array([CLOSED, PRE, REGULAR, POST])[:, None], hi - lo, axis=1)
    starts, stops, classes = runs[:4].T.ravel(), runs[4:].T.ravel(), kinds.T.ravel()
    starts = np.append(starts, closed_from[-1])
    stops = np.append(stops, closed_to[-1])
    classes = np.append(classes, CLOSED)
    keep = (stops > starts) & (classes != REGULAR)
    shaded = [
        (int(c), int(a) + first_index, int(b) - 1 + first_index)
        for c, a, b in zip(classes[keep].tolist(), starts[keep].tolist(), stops[keep].tolist(), strict=True)
    ]
    opens = (r0[r1 > r0] + first_index).tolist()
    return SessionSpans(shaded, opens)


class SessionShading(pg.GraphicsObject):
    """Shades the visible bars outside regular hours and marks each regular open, for intraday bar sizes; draws
    nothing for daily and longer bars."""

    MAX_INTRADAY_STEP = 86_400 - 1

    def __init__(
        self,
        buffer: BarBuffer,
        step_seconds: Callable[[], float],
        table: Callable[[], SessionTable | None] = session_table_soon,
    ) -> None:
        """`step_seconds`: a callable returning the bar size; `table`: a callable returning the SessionTable, or
        None while it is being built (asked on the first intraday paint, so a chart of daily bars never builds
        it; the item repaints until it arrives)."""
        super().__init__()
        self._buffer = buffer
        self._step = step_seconds
        self._table = table
        self._cache: tuple[object, SessionSpans] | None = None
        self._brushes = {PRE: QBrush(PRE_COLOR), POST: QBrush(POST_COLOR), CLOSED: QBrush(CLOSED_COLOR)}
        self._pen = QPen(OPEN_LINE_COLOR)
        self._pen.setCosmetic(True)
        self._pen.setWidth(1)
        self._pen.setDashPattern([4.0, 3.0])

    def place_under_grid(self) -> None:
        """Under the grid (-100) and everything else in the pane. Called after ViewBox.addItem, which lifts an item
        below the box's own z value (-100) to just above it, over the grid."""
        self.setZValue(Z_VALUE)

    def viewRangeChanged(self) -> None:
        self.prepareGeometryChange()

    def boundingRect(self) -> QRectF:
        view = view_rect(self)
        return QRectF() if view is None else view

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange: tuple[float, float] | None = None) -> None:
        return None  # never moves the auto-range

    def spans(self, left: float, right: float) -> SessionSpans:
        """The spans over the bars visible between x = `left` and `right` (cached while bars and range hold)."""
        n = len(self._buffer)
        step = float(self._step())
        if n == 0 or step > self.MAX_INTRADAY_STEP:
            return SessionSpans([], [])
        first = max(0, int(np.floor(left + 0.5)))
        last = min(n - 1, int(np.ceil(right - 0.5)))
        if last < first:
            return SessionSpans([], [])
        key = (self._buffer.reset_version, n, first, last, step)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        table = self._table()
        if table is None:
            QTimer.singleShot(WAIT_FOR_TABLE_MS, self, self.update)
            return SessionSpans([], [])
        if len(table.open) == 0:  # the calendar could not be built (logged)
            return SessionSpans([], [])
        # one bar before the view as well: whether the first visible bar opens a session depends on it
        before = max(0, first - 1)
        whole = session_spans(self._buffer.t[before : last + 1], step, table, before)
        spans = SessionSpans(
            [(kind, max(a, first), b) for kind, a, b in whole.shaded if b >= first],
            [i for i in whole.opens if i >= first],
        )
        self._cache = (key, spans)
        return spans

    def paint(self, p: QPainter, *args: object) -> None:
        view = view_rect(self)
        if view is None or view.width() <= 0 or view.height() <= 0:
            return
        spans = self.spans(view.left(), view.right())
        if not spans.shaded and not spans.opens:
            return
        tr = p.transform()
        sx, dx = tr.m11(), tr.dx()
        top, bottom = sorted((view.top() * tr.m22() + tr.dy(), view.bottom() * tr.m22() + tr.dy()))
        width_px = abs(view.width() * sx)
        # Zoomed out to months of minute bars, sessions are a pixel or two wide: shading then reads as noise and
        # cost 12 ms a repaint over a million bars (thousands of runs); it returns as soon as it can be read.
        shade = len(spans.shaded) * MIN_PX_PER_RUN <= width_px
        lines = len(spans.opens) * MIN_PX_PER_RUN <= width_px
        if not shade and not lines:
            return
        p.save()
        p.resetTransform()  # device pixels, as the grid and candles
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.setPen(Qt.PenStyle.NoPen)
        if shade:
            for kind, brush in self._brushes.items():
                rects = []
                for k, first, last in spans.shaded:
                    if k == kind:
                        x0, x1 = sorted(((first - 0.5) * sx + dx, (last + 0.5) * sx + dx))
                        rects.append(QRectF(x0, top, x1 - x0, bottom - top))
                if rects:
                    p.setBrush(brush)
                    p.drawRects(rects)  # one call per colour
        if lines and spans.opens:
            p.setPen(self._pen)
            xs = [np.floor((i - 0.5) * sx + dx) + 0.5 for i in spans.opens]
            p.drawLines([QLineF(x, top, x, bottom) for x in xs])
        p.restore()
