"""The candlestick chart: draws only what is visible, merges bars when zoomed out, and takes live bars."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage
from pytestqt.qtbot import QtBot

from app.views.bar_buffer import BarBuffer
from app.views.candle_item import DOWN_COLOR, UP_COLOR, merge_columns
from app.views.chart_view import ChartView
from core.domain.bars import BarArrays
from core.domain.display_time import NEW_YORK
from core.market.simulated import RandomWalkBarGenerator
from tests.gui.chart_support import bars_following, shown_chart

START = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
MILLION = 1_000_000


@pytest.fixture(scope="module")
def million_bars() -> BarArrays:
    return RandomWalkBarGenerator("SIM", START, seed=42).history_arrays(MILLION)


@pytest.fixture
def chart(qtbot: QtBot) -> ChartView:
    return shown_chart(qtbot)


def has_colour(image: QImage, colour: QColor) -> bool:
    target = colour.rgb() & 0xFFFFFF
    step = 2
    for y in range(0, image.height(), step):
        for x in range(0, image.width(), step):
            if image.pixel(x, y) & 0xFFFFFF == target:
                return True
    return False


def test_million_bars_full_view_merges_to_pixel_columns(chart: ChartView, million_bars: BarArrays) -> None:
    chart.set_bars(*million_bars)
    chart.show_range(-0.5, MILLION - 0.5)
    image = chart.grab().toImage()

    stats = chart.candles.last_paint
    assert stats is not None
    assert (stats.first, stats.stop) == (0, MILLION)
    plot_width_px = chart.price_plot.getViewBox().width()
    assert stats.bars_per_column > 1
    assert stats.columns <= plot_width_px + 2  # about one candle per pixel column, not a million
    assert stats.columns * stats.bars_per_column >= MILLION
    assert chart.volumes.last_paint is not None and chart.volumes.last_paint.columns == stats.columns
    assert has_colour(image, UP_COLOR) and has_colour(image, DOWN_COLOR)


def test_zoomed_view_draws_only_visible_bars(chart: ChartView, million_bars: BarArrays) -> None:
    chart.set_bars(*million_bars)
    left = 500_000
    chart.show_range(left - 0.5, left + 99.5)  # exactly 100 bar slots
    chart.grab()

    stats = chart.candles.last_paint
    assert stats is not None
    assert stats.bars_per_column == 1
    assert 100 <= stats.columns <= 102  # the 100 bars, plus at most a neighbour touching each edge
    assert left - 1 <= stats.first <= left and left + 100 <= stats.stop <= left + 101


def test_price_axis_follows_the_visible_bars(chart: ChartView, million_bars: BarArrays) -> None:
    chart.set_bars(*million_bars)
    chart.show_range(-0.5, MILLION - 0.5)
    chart.grab()
    full_low, full_high = chart.price_plot.getViewBox().viewRange()[1]

    left = 700_000
    chart.show_range(left - 0.5, left + 99.5)
    chart.grab()
    low, high = chart.price_plot.getViewBox().viewRange()[1]
    visible_low = million_bars.low[left : left + 100].min()
    visible_high = million_bars.high[left : left + 100].max()
    assert low <= visible_low and high >= visible_high
    pad = 0.2 * (visible_high - visible_low)
    assert low >= visible_low - pad and high <= visible_high + pad
    assert high - low < full_high - full_low


def test_append_bar_adds_one_row(chart: ChartView, million_bars: BarArrays) -> None:
    small = BarArrays(*(col[:500] for col in million_bars))
    chart.set_bars(*small)
    bar = bars_following(small, 1)[0]
    before = chart.bar_count

    chart.append_bar(bar)
    chart.grab()

    assert chart.bar_count == before + 1
    last = chart.last_bar()
    assert last is not None
    assert (last.timestamp, last.open, last.high, last.low, last.close, last.volume) == (
        bar.timestamp,
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
    )
    np.testing.assert_array_equal(chart.buffer.close[:before], small.close)


def test_bar_with_same_timestamp_replaces_the_forming_bar(chart: ChartView, million_bars: BarArrays) -> None:
    small = BarArrays(*(col[:500] for col in million_bars))
    chart.set_bars(*small)
    forming = bars_following(small, 1)[0]
    chart.append_bar(forming)
    count = chart.bar_count
    previous = chart.buffer.close[:-1].copy()

    update = replace(forming, high=forming.high + 1.0, close=forming.high + 0.5, volume=forming.volume + 100)
    chart.append_bar(update)

    assert chart.bar_count == count
    last = chart.last_bar()
    assert last is not None and (last.close, last.high, last.volume) == (
        update.close,
        update.high,
        update.volume,
    )
    np.testing.assert_array_equal(chart.buffer.close[:-1], previous)


def test_older_bar_is_ignored(chart: ChartView, million_bars: BarArrays) -> None:
    small = BarArrays(*(col[:500] for col in million_bars))
    chart.set_bars(*small)
    old = RandomWalkBarGenerator("SIM", START - timedelta(days=1)).next_bar()
    chart.append_bar(old)
    assert chart.bar_count == 500
    assert chart.last_bar() == chart.buffer.row(499)


def test_view_at_latest_bar_scrolls_with_new_bars(chart: ChartView, million_bars: BarArrays) -> None:
    small = BarArrays(*(col[:2000] for col in million_bars))
    chart.set_bars(*small)  # shows the latest bars
    left, right = chart.visible_x_range()
    for bar in bars_following(small, 3):
        chart.append_bar(bar)
    new_left, new_right = chart.visible_x_range()
    assert new_left == pytest.approx(left + 3) and new_right == pytest.approx(right + 3)


def test_view_scrolled_back_stays_put_when_bars_arrive(chart: ChartView, million_bars: BarArrays) -> None:
    small = BarArrays(*(col[:2000] for col in million_bars))
    chart.set_bars(*small)
    chart.show_range(99.5, 299.5)
    for bar in bars_following(small, 3):
        chart.append_bar(bar)
    assert chart.visible_x_range() == pytest.approx((99.5, 299.5))


def test_live_appends_to_a_million_bar_chart(chart: ChartView, million_bars: BarArrays) -> None:
    chart.set_bars(*million_bars)
    chart.grab()
    for bar in bars_following(million_bars, 5):
        chart.append_bar(bar)
    chart.grab()
    stats = chart.candles.last_paint
    assert chart.bar_count == MILLION + 5
    assert stats is not None and stats.stop == MILLION + 5  # the newest bar is on screen
    assert stats.columns < 1000


def test_time_axis_labels_are_the_bar_times_in_new_york(chart: ChartView, million_bars: BarArrays) -> None:
    small = BarArrays(*(col[:500] for col in million_bars))
    chart.set_bars(*small)
    labels = chart.time_axis.tickStrings([0.0, 60.0, 499.0, 500.0, 10.5], scale=1.0, spacing=60.0)
    expected = [datetime.fromtimestamp(float(small.t[i]), NEW_YORK).strftime("%H:%M") for i in (0, 60, 499)]
    assert labels[:3] == expected
    # past the last bar the axis extrapolates one bar size per slot; between bars there is no label
    after = datetime.fromtimestamp(float(small.t[499]), NEW_YORK) + timedelta(minutes=1)
    assert labels[3] == after.strftime("%H:%M")
    assert labels[4] == ""


def test_buffer_growth_preserves_data() -> None:
    buffer = BarBuffer(capacity=4)
    rows = [(60.0 * i, 10.0 + i, 11.0 + i, 9.0 + i, 10.5 + i, 100.0 * i) for i in range(1000)]
    capacities = set()
    for row in rows:
        buffer.append(row)
        capacities.add(buffer.capacity)
    assert len(buffer) == 1000
    assert buffer.capacity >= 1000 and all(c & (c - 1) == 0 for c in capacities)  # powers of two: doubling
    expected = np.array(rows).T
    for column, want in zip(
        (buffer.t, buffer.open, buffer.high, buffer.low, buffer.close, buffer.volume), expected, strict=True
    ):
        np.testing.assert_array_equal(column, want)


def test_buffer_set_rejects_bad_columns() -> None:
    buffer = BarBuffer()
    with pytest.raises(ValueError, match="equal length"):
        buffer.set(np.arange(3.0), np.arange(3.0), np.arange(3.0), np.arange(3.0), np.arange(3.0), np.arange(2.0))
    with pytest.raises(ValueError, match="ascending"):
        buffer.set(np.array([2.0, 1.0]), *(np.ones(2) for _ in range(5)))


def test_merge_columns_matches_a_plain_loop(million_bars: BarArrays) -> None:
    buffer = BarBuffer()
    buffer.set(*(col[:1000] for col in million_bars))
    first, stop, k = 13, 987, 7
    cols = merge_columns(buffer, first, stop, k)
    base = first - first % k
    for j, start in enumerate(range(base, stop, k)):
        end = min(start + k, stop)
        assert cols.open[j] == buffer.open[start]
        assert cols.close[j] == buffer.close[end - 1]
        assert cols.high[j] == buffer.high[start:end].max()
        assert cols.low[j] == buffer.low[start:end].min()
        assert cols.volume[j] == pytest.approx(buffer.volume[start:end].mean())
    assert len(cols.x) == len(range(base, stop, k))
