"""The chart's drawing shortcuts draw what the plain computation would: a scrolled time axis reuses its
layout, the panes fit their y range without mapping bounds, and primitives reach Qt straight from numpy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QLineF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from pytestqt.qtbot import QtBot

from app.views.candle_item import CHART_BACKGROUND, UP_COLOR, VOLUME_OPACITY, blend
from app.views.chart_grid import LINE_COLOR, major_tick_values
from app.views.chart_view import ChartView, zoned_minute
from app.views.primitive_buffer import PrimitiveBuffer
from core.domain.bars import BarArrays, NormalizedBar
from core.domain.display_time import DisplayZone
from core.market.simulated import RandomWalkBarGenerator
from tests.gui.chart_support import bars_following, shown_chart

START = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def bars() -> BarArrays:
    return RandomWalkBarGenerator("SIM", START, seed=11).history_arrays(2_000)


def new_chart(qtbot: QtBot) -> ChartView:
    return shown_chart(qtbot)


def following(arrays: BarArrays, count: int, gap: timedelta = timedelta(0)) -> list[NormalizedBar]:
    return bars_following(arrays, count, seed=5, gap=gap)


def with_bars(arrays: BarArrays, live: list[NormalizedBar]) -> BarArrays:
    extra = [
        np.array([getattr(bar, name) if name != "t" else bar.timestamp.timestamp() for bar in live])
        for name in ("t", "open", "high", "low", "close", "volume")
    ]
    return BarArrays(*(np.concatenate([col, more]) for col, more in zip(arrays, extra, strict=True)))


def same_view_fresh(qtbot: QtBot, chart: ChartView, arrays: BarArrays) -> ChartView:
    """A new chart given `arrays` at once and shown at `chart`'s x range: what `chart` must look like."""
    fresh = new_chart(qtbot)
    fresh.set_bars(*arrays)
    fresh.show_range(*chart.visible_x_range())
    fresh.grab()
    return fresh


def assert_axes_match(chart: ChartView, fresh: ChartView) -> None:
    assert chart.time_axis.labels() == fresh.time_axis.labels()
    for ours, theirs in zip(chart.time_axis.drawn_ticks(), fresh.time_axis.drawn_ticks(), strict=True):
        assert ours == pytest.approx(theirs, abs=1e-6)
    ours_right, theirs_right = chart.price_plot.getAxis("right"), fresh.price_plot.getAxis("right")
    assert ours_right.labels() == theirs_right.labels()


# --- time axis layout reuse ---------------------------------------------------------------------------


def test_followed_live_bars_reuse_the_time_axis_layout_and_draw_what_a_fresh_chart_draws(
    qtbot: QtBot, bars: BarArrays
) -> None:
    chart = new_chart(qtbot)
    chart.set_bars(*bars)
    chart.grab()
    laid_out = chart.time_axis.tick_layout
    assert laid_out is not None and chart.time_axis.labels()
    live = following(bars, 30)
    for bar in live:
        chart.append_bar(bar)
        chart.grab()
    assert chart.visible_x_range()[1] == pytest.approx(len(bars) + len(live) - 0.5 + 3)  # it followed
    assert chart.time_axis.tick_layout is laid_out  # thirty scrolls, one layout

    assert_axes_match(chart, same_view_fresh(qtbot, chart, with_bars(bars, live)))


def test_a_bar_after_a_gap_relabels_the_time_axis(qtbot: QtBot, bars: BarArrays) -> None:
    chart = new_chart(qtbot)
    chart.set_bars(*bars)
    chart.grab()
    laid_out = chart.time_axis.tick_layout
    live = following(bars, 25, gap=timedelta(hours=3))  # the extrapolated times past the last bar were wrong
    for bar in live:
        chart.append_bar(bar)
        chart.grab()
    assert chart.time_axis.tick_layout is not laid_out
    assert_axes_match(chart, same_view_fresh(qtbot, chart, with_bars(bars, live)))


def test_new_bars_loaded_relabel_the_time_axis(qtbot: QtBot, bars: BarArrays) -> None:
    chart = new_chart(qtbot)
    chart.set_bars(*bars)
    chart.grab()
    before = chart.time_axis.labels()
    shifted = BarArrays(bars.t + 5 * 3_600.0 + 7 * 60.0, *list(bars)[1:])  # the same indexes, later
    chart.set_bars(*shifted)
    chart.grab()
    assert chart.time_axis.labels() != before
    assert_axes_match(chart, same_view_fresh(qtbot, chart, shifted))


def test_a_style_change_drops_the_layout(qtbot: QtBot, bars: BarArrays) -> None:
    chart = new_chart(qtbot)
    chart.set_bars(*bars)
    chart.grab()
    laid_out = chart.time_axis.tick_layout
    chart.time_axis.setTickPen(pg.mkPen("#ff0000"))
    chart.grab()
    assert chart.time_axis.tick_layout is not laid_out
    [major, *_] = chart.time_axis.tick_layout.ticks
    assert major[0].color().red() == 255
    axis_pen, _line = chart.time_axis.last_frame.axis_line
    assert axis_pen.color() == chart.time_axis.pen().color()  # the axis line keeps the axis pen


def test_resizing_lays_the_axis_out_again(qtbot: QtBot, bars: BarArrays) -> None:
    chart = new_chart(qtbot)
    chart.set_bars(*bars)
    chart.grab()
    laid_out = chart.time_axis.tick_layout
    chart.resize(900, 700)
    chart.grab()
    assert chart.time_axis.tick_layout is not laid_out
    assert all(0 <= x <= chart.time_axis.geometry().width() for level in chart.time_axis.drawn_ticks() for x in level)


# --- y fit ------------------------------------------------------------------------------------------


def test_pane_bounds_equal_pyqtgraph_s_mapped_bounds(qtbot: QtBot, bars: BarArrays) -> None:
    chart = new_chart(qtbot)
    chart.set_bars(*bars)
    chart.add_indicator("bollinger", 20)
    chart.add_indicator("rsi", 14)
    chart.show_range(700.5, 950.5)
    chart.grab()
    for plot in (chart.price_plot, chart.volume_plot, *chart.panes):
        box = plot.getViewBox()
        x_range = box.viewRange()[0]
        ours = box.childrenBounds(orthoRange=[None, x_range])
        stock = pg.ViewBox.childrenBounds(box, orthoRange=[None, x_range])
        assert ours[1] == pytest.approx(stock[1]) and ours[0] == pytest.approx(stock[0])
    low, high = chart.price_plot.getViewBox().viewRange()[1]
    visible = slice(701, 951)
    assert low <= float(bars.low[visible].min()) and high >= float(bars.high[visible].max())


def test_a_transformed_item_falls_back_to_mapped_bounds(qtbot: QtBot, bars: BarArrays) -> None:
    chart = new_chart(qtbot)
    chart.set_bars(*bars)
    box = chart.price_plot.getViewBox()
    shifted = pg.PlotDataItem([0.0, 1.0], [1.0, 2.0])
    shifted.setPos(0.0, 1_000.0)  # its data bounds are not view bounds any more
    chart.price_plot.addItem(shifted)
    ours = box.childrenBounds(orthoRange=[None, [-0.5, 10.5]])
    assert ours == pg.ViewBox.childrenBounds(box, orthoRange=[None, [-0.5, 10.5]])
    assert ours[1][1] > 1_002.0  # its mapped bounds (and pixel padding) count


# --- primitives and colours -------------------------------------------------------------------------


def test_primitive_buffer_draws_lines_and_rects_from_numpy(qapp) -> None:
    lines = PrimitiveBuffer(QLineF, capacity=1)
    rects = PrimitiveBuffer(QRectF)
    image = QImage(40, 40, QImage.Format.Format_ARGB32)
    image.fill(QColor("black"))
    painter = QPainter(image)
    rows = lines.resize(3)  # grows past its capacity
    rows[:] = [[0.5, 5.5, 39.5, 5.5], [0.5, 10.5, 39.5, 10.5], [0.5, 15.5, 39.5, 15.5]]
    painter.setPen(QPen(QColor("red"), 1))
    painter.drawLines(*lines.drawargs())
    rects.resize(1)[:] = [[20.0, 20.0, 10.0, 10.0]]
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("blue"))
    painter.drawRects(*rects.drawargs())
    painter.end()
    assert len(lines) == 3 and lines.drawargs()[1] == 3
    for y in (5, 10, 15):
        assert image.pixelColor(20, y) == QColor("red")
    assert image.pixelColor(20, 7) == QColor("black")
    assert image.pixelColor(25, 25) == QColor("blue") and image.pixelColor(35, 25) == QColor("black")


def test_primitive_buffer_refuses_other_types_and_negative_sizes() -> None:
    with pytest.raises(TypeError):
        PrimitiveBuffer(QColor)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PrimitiveBuffer(QLineF).resize(-1)


def test_blend_is_the_colour_seen_through_opacity() -> None:
    assert blend(QColor(255, 0, 0), QColor(0, 0, 255), 0.25).getRgb()[:3] == (64, 0, 191)
    assert blend(UP_COLOR, CHART_BACKGROUND, 1.0) == UP_COLOR


def test_volume_bars_are_drawn_in_the_opaque_mixed_colour(qtbot: QtBot, bars: BarArrays) -> None:
    chart = new_chart(qtbot)
    chart.set_bars(*bars)
    image = chart.grab().toImage()
    target = blend(UP_COLOR, CHART_BACKGROUND, VOLUME_OPACITY).rgb() & 0xFFFFFF
    volume_top = int(chart.volume_plot.mapRectToScene(chart.volume_plot.getViewBox().geometry()).top())
    found = any(
        image.pixel(x, y) & 0xFFFFFF == target
        for y in range(volume_top + 60, image.height() - 30, 2)
        for x in range(0, image.width() - 100, 2)
    )
    assert found


def test_zoned_minute_formats_like_strftime_in_the_zone() -> None:
    at = datetime(2026, 3, 7, 14, 35, 59, tzinfo=UTC)
    assert zoned_minute(at, DisplayZone.UTC) == at.strftime("%Y-%m-%d %H:%M") == "2026-03-07 14:35"
    assert zoned_minute(at, DisplayZone.EXCHANGE) == "2026-03-07 09:35"


# --- grid -------------------------------------------------------------------------------------------


def test_major_ticks_are_the_axis_major_spacing_within_the_range(qtbot: QtBot, bars: BarArrays) -> None:
    chart = new_chart(qtbot)
    axis = chart.price_plot.getAxis("right")

    values = major_tick_values(axis, 101.13, 104.87, 500.0)
    spacing, offset = axis.tickSpacing(101.13, 104.87, 500.0)[0]
    assert len(values) >= 3 and all(101.13 <= v <= 104.87 for v in values)
    assert all(((v - offset) / spacing) == pytest.approx(round((v - offset) / spacing)) for v in values)
    assert values[0] - spacing < 101.13 and values[-1] + spacing > 104.87  # none missing at the ends
    assert major_tick_values(axis, 101.13 + 7 * spacing, 104.87 + 7 * spacing, 500.0) == pytest.approx(
        [v + 7 * spacing for v in values]
    )
    assert major_tick_values(axis, 1.0, 1.0, 500.0) == [] and major_tick_values(axis, 1.0, 2.0, 0.0) == []


def test_grid_lines_run_through_the_major_time_ticks(qtbot: QtBot, bars: BarArrays) -> None:
    chart = new_chart(qtbot)
    chart.set_bars(*bars)
    image = chart.grab().toImage()
    grid = QColor(LINE_COLOR).rgb() & 0xFFFFFF
    axis = chart.time_axis
    [major, *_] = axis.drawn_ticks()
    origin = chart.graphics.mapTo(chart, chart.graphics.mapFromScene(axis.mapToScene(0.0, 0.0)))
    box = chart.price_plot.getViewBox()
    top = chart.graphics.mapTo(chart, chart.graphics.mapFromScene(box.mapToScene(0.0, 0.0))).y()
    rows = range(top + 5, top + int(box.height()) - 5, 7)
    for x in major:
        column = int(origin.x() + x)
        hits = sum(1 for y in rows for dx in (-1, 0, 1) if image.pixel(column + dx, y) & 0xFFFFFF == grid)
        assert hits >= len(rows) // 2  # a line down the pane (candles cover some of it)
