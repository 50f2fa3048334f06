"""Chart benchmark: a million 1-minute bars in a 1200x700 ChartView, offscreen.

    PYTHONPATH=. python -m bench.chart [--quick] [--bars N]

* ``chart_first_paint_ms``: ``set_bars`` of all bars (the chart then shows the latest 200) up to the end of
  the first complete rendering of the whole chart widget, toolbar, header and panes included
  (``QWidget.grab()``, which paints synchronously). The widget was shown, empty, beforehand.
* ``chart_redraw_ms``: median of a change of the visible x range followed by a synchronous repaint of the
  chart's graphics view (``viewport().repaint()``, which runs the pending y auto-range and paints every
  pane). Half of the ranges are pans of 200 bars at spread-out places, half are zooms from 1,000 bars to
  all bars (the zoomed-out ones merge bars per pixel column). p90 and max are reported alongside.
* ``chart_append_ms``: median of one live bar through ``append_bar`` (the view follows the latest bar)
  plus the same synchronous repaint.
* ``chart_forming_update_ms``: median of a tick updating the forming (last) bar, the most frequent live
  event: same open time, so the bar is rewritten in place and the view does not scroll; plus the repaint.
* ``chart_redraw_with_indicators_ms`` / ``chart_append_with_indicators_ms``: the same with an SMA 20 and a
  Bollinger 20 overlay (four lines) over all bars.

Targets (issue 6): first paint < 1000 ms, redraw < 16 ms, append < 2 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication

from bench.common import cpu_reference_ms, emit

if TYPE_CHECKING:
    from core.domain.bars import NormalizedBar

WIDTH, HEIGHT = 1200, 700
START = datetime(2022, 1, 3, 14, 30, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 bars and fewer repeats")
    parser.add_argument("--bars", type=int, default=None)
    args = parser.parse_args()
    n = args.bars or (100_000 if args.quick else 1_000_000)
    redraws, appends = (20, 200) if args.quick else (60, 500)
    emit("cpu_reference_ms", cpu_reference_ms(), "ms", measures="this machine's speed now (bench.common)")
    app = QApplication.instance() or QApplication(["bench-chart"])
    run(app, n, redraws, appends)


def run(app: QApplication, n: int, redraws: int, appends: int) -> None:
    from app.views.chart_view import ChartView
    from core.market.simulated import RandomWalkBarGenerator

    generator = RandomWalkBarGenerator("BENCH", START, seed=7)
    arrays = generator.history_arrays(n)
    live = generator.history(2 * appends)  # bars continuing the history, built before any timing

    chart = ChartView("BENCH", "1Min")
    chart.resize(WIDTH, HEIGHT)
    chart.show()
    for _ in range(5):
        app.processEvents()
    chart.grab()  # the empty chart's first paint is not part of the measure

    started = time.perf_counter()
    chart.set_bars(*arrays)
    chart.grab()
    first_paint = time.perf_counter() - started
    assert chart.candles.last_paint is not None and chart.candles.last_paint.stop == n
    emit("chart_first_paint_ms", first_paint * 1e3, "ms", bars=n, measured="set_bars + QWidget.grab()")

    viewport = chart.graphics.viewport()

    def repaint() -> None:
        before = chart.candles.paint_count
        viewport.repaint()
        assert chart.candles.paint_count > before, "the repaint did not paint the candles"

    ranges = view_ranges(n, redraws)
    redraw = timed_redraws(chart.show_range, repaint, ranges)
    emit_timings("chart_redraw_ms", redraw, bars=n, repaints=len(redraw))

    chart.show_last(200)
    repaint()
    append = timed_appends(chart.append_bar, repaint, live[:appends])
    emit_timings("chart_append_ms", append, bars=n, appends=len(append))
    forming = timed_appends(chart.append_bar, repaint, forming_updates(live[appends - 1], appends))
    emit_timings("chart_forming_update_ms", forming, bars=n, updates=len(forming))

    started = time.perf_counter()
    chart.add_indicator("sma", 20)
    chart.add_indicator("bollinger", 20)
    added = time.perf_counter() - started
    redraw = timed_redraws(chart.show_range, repaint, ranges)
    emit_timings("chart_redraw_with_indicators_ms", redraw, overlays="SMA 20, BB 20", add_indicators_ms=added * 1e3)

    chart.show_last(200)
    repaint()
    append = timed_appends(chart.append_bar, repaint, live[appends:])
    emit_timings("chart_append_with_indicators_ms", append, overlays="SMA 20, BB 20", appends=len(append))
    # Destroyed here rather than at interpreter exit, where pyqtgraph's axes resize half-deleted children.
    chart.close()
    chart.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def view_ranges(n: int, count: int) -> list[tuple[float, float]]:
    """`count` x ranges alternating a 200-bar pan at spread-out places with a zoom from 1,000 bars to all."""
    ranges = []
    for i in range(count):
        if i % 2 == 0:
            left = (i * 7919 * 1013) % max(1, n - 200)
            ranges.append((left - 0.5, left + 199.5))
        else:
            width = min(n, int(1_000 * (n / 1_000) ** (i / max(1, count - 1))))
            ranges.append((n - width - 0.5, n - 0.5))
    return ranges


def forming_updates(bar: NormalizedBar, count: int) -> list[NormalizedBar]:
    """`count` ticks moving the close of `bar` (the forming bar) up and down within a widening range."""
    updates = []
    high, low = bar.high, bar.low
    for i in range(count):
        close = bar.open * (1.0 + 0.0004 * ((i % 7) - 3))
        high, low = max(high, close), min(low, close)
        updates.append(replace(bar, high=high, low=low, close=close, volume=bar.volume + 10 * (i + 1)))
    return updates


def timed_redraws(show_range: Callable[[float, float], None], repaint: Callable[[], None],
                  ranges: list[tuple[float, float]]) -> list[float]:  # fmt: skip
    timings = []
    for left, right in ranges:
        started = time.perf_counter()
        show_range(left, right)
        repaint()
        timings.append(time.perf_counter() - started)
    return timings


def timed_appends(
    append: Callable[[NormalizedBar], None], repaint: Callable[[], None], bars: list[NormalizedBar]
) -> list[float]:
    timings = []
    for bar in bars:
        started = time.perf_counter()
        append(bar)
        repaint()
        timings.append(time.perf_counter() - started)
    return timings


def emit_timings(metric: str, seconds: list[float], **extra: object) -> None:
    ms = sorted(s * 1e3 for s in seconds)
    p90 = ms[min(len(ms) - 1, int(0.9 * len(ms)))]
    emit(metric, statistics.median(ms), "ms", p90_ms=round(p90, 3), max_ms=round(ms[-1], 3), **extra)


if __name__ == "__main__":
    main()
