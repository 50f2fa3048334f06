"""The chart as a trader uses it: crosshair readout, indicator overlays, markers, toolbar and status."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit
from pytestqt.qtbot import QtBot

from app.views import chart_indicators
from app.views.chart_lines import column_extremes
from app.views.chart_markers import ChartMarker
from app.views.chart_view import ChartView
from core.domain.bars import BarArrays, NormalizedBar
from core.domain.display_time import NEW_YORK
from core.market.simulated import RandomWalkBarGenerator
from core.strategy import indicators as ind
from tests.gui.chart_support import bars_following, shown_chart

START = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def bars() -> BarArrays:
    return RandomWalkBarGenerator("SIM", START, seed=7).history_arrays(3_000)


@pytest.fixture
def chart(qtbot: QtBot) -> ChartView:
    return shown_chart(qtbot)


def head(arrays: BarArrays, n: int) -> BarArrays:
    return BarArrays(*(np.ascontiguousarray(col[:n]) for col in arrays))


def following(arrays: BarArrays, count: int, seed: int = 3) -> list[NormalizedBar]:
    return bars_following(arrays, count, seed)


def at(arrays: BarArrays, index: int, seconds: float = 0.0) -> datetime:
    return datetime.fromtimestamp(float(arrays.t[index]) + seconds, UTC)


def bar_point(chart: ChartView, index: int, price: float) -> QPoint:
    """Where bar `index` at `price` is on the graphics viewport, for the mouse."""
    chart.grab()  # settle the view's transform
    scene = chart.price_plot.getViewBox().mapViewToScene(QPointF(index, price))
    return chart.graphics.mapFromScene(scene)


# --- crosshair and readout ------------------------------------------------------------------------


def test_readout_describes_a_bar_and_the_last_bar_off_the_bars(chart: ChartView, bars: BarArrays) -> None:
    chart.set_bars(*head(bars, 500))
    text = chart.readout_at(123)
    assert text.startswith(f"{at(bars, 123).astimezone(NEW_YORK):%Y-%m-%d %H:%M} ET")  # exchange time by default
    for label, value in (("O", bars.open), ("H", bars.high), ("L", bars.low), ("C", bars.close)):
        assert f"{label} {value[123]:,.2f}" in text
    assert f"V {bars.volume[123]:,.0f}" in text
    assert chart.readout_at(-1) == chart.readout_at(10_000) == chart.readout_at(499)
    assert chart.readout_text() == chart.readout_at(499)  # nothing hovered: the last bar


def test_moving_the_mouse_moves_the_crosshair_and_the_readout(chart: ChartView, bars: BarArrays, qtbot: QtBot) -> None:
    chart.set_bars(*head(bars, 500))
    chart.show_range(399.5, 499.5)
    viewport = chart.graphics.viewport()

    QTest.mouseMove(viewport, bar_point(chart, 450, float(bars.close[450])))
    qtbot.waitUntil(lambda: chart.crosshair.index == 450)

    readout = chart.findChild(QLabel, "chartReadout")
    assert readout is not None and readout.text() == chart.readout_at(450)
    vertical = chart.crosshair._vlines
    assert set(vertical) == {chart.price_plot, chart.volume_plot}  # linked across both panes
    assert all(line.isVisible() and line.value() == 450 for line in vertical.values())
    assert chart.crosshair.price == pytest.approx(float(bars.close[450]), abs=0.05)

    chart.crosshair.leave()  # what the pointer leaving the chart does
    assert readout.text() == chart.readout_at(499)
    assert not any(line.isVisible() for line in vertical.values())


def test_readout_lists_indicators_and_follows_live_bars(chart: ChartView, bars: BarArrays) -> None:
    small = head(bars, 500)
    chart.set_bars(*small)
    chart.add_indicator("sma", 5)
    expected = ind.sma(small.close, 5)[200]
    assert f"SMA 5 {expected:,.2f}" in chart.readout_at(200)
    assert "SMA 5 —" in chart.readout_at(2)  # the warm-up has no value

    live = following(small, 1)[0]
    chart.append_bar(live)
    assert chart.readout_text().startswith(f"{live.timestamp.astimezone(NEW_YORK):%Y-%m-%d %H:%M} ET")


# --- indicators -----------------------------------------------------------------------------------


def test_sma_overlay_draws_the_strategy_sma(chart: ChartView, bars: BarArrays) -> None:
    small = head(bars, 500)
    chart.set_bars(*small)
    overlay_id = chart.add_indicator("sma", 5)

    [info] = chart.indicators()
    assert (info.id, info.kind, info.period, info.label, info.placement) == (overlay_id, "sma", 5, "SMA 5", "price")
    [item] = chart.overlay(overlay_id).items
    assert item in chart.price_plot.items
    expected = ind.sma(small.close, 5)
    drawn = item.series()
    for i in (4, 5, 100, 250, 499):
        assert drawn[i] == pytest.approx(expected[i], abs=1e-12)
    assert np.isnan(drawn[:4]).all()


def test_live_bars_extend_overlays_with_a_full_recompute_s_values(
    chart: ChartView, bars: BarArrays, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = head(bars, 2_000)
    chart.set_bars(*small)
    ids = {kind: chart.add_indicator(kind, period) for kind, period in (("sma", 5), ("bollinger", 20), ("ema", 10),
                                                                        ("rsi", 14), ("atr", 14), ("macd", None),
                                                                        ("highest", 20), ("lowest", 20),
                                                                        ("vwap", None))}  # fmt: skip
    # Live bars go through the core functions on a tail only, never over every bar again.
    lengths: list[int] = []
    real_sma = ind.sma
    monkeypatch.setattr(chart_indicators.ind, "sma", lambda x, n: lengths.append(len(x)) or real_sma(x, n))

    live = following(small, 30)
    for bar in live[:-1]:
        chart.append_bar(bar)
    forming = live[-1]
    chart.append_bar(forming)
    chart.append_bar(replace(forming, high=forming.high + 0.5, close=forming.high + 0.25))  # the forming bar updates
    chart.grab()

    assert lengths and max(lengths) <= 5
    n = chart.bar_count
    assert n == 2_030
    b = chart.buffer
    full = {
        "sma": (ind.sma(b.close, 5),),
        "bollinger": tuple(ind.bollinger(b.close, 20)),
        "ema": (ind.ema(b.close, 10),),
        "rsi": (ind.rsi(b.close, 14),),
        "atr": (ind.atr(b.high, b.low, b.close, 14),),
        "macd": tuple(ind.macd(b.close)),
        "highest": (ind.highest(b.high, 20),),
        "lowest": (ind.lowest(b.low, 20),),
        "vwap": (ind.vwap(b.high, b.low, b.close, b.volume, times=b.t),),
    }
    for kind, overlay_id in ids.items():
        series = chart.overlay(overlay_id).series
        assert len(series) == n
        assert series.tail_recomputes == 31
        for k, expected in enumerate(full[kind]):
            drawn = series.column(k)
            # windowed ones are exact; recursive ones restart 500+ bars back (see chart_indicators)
            np.testing.assert_allclose(drawn[-31:], expected[-31:], rtol=0, atol=1e-9, err_msg=kind)
            np.testing.assert_allclose(drawn[:2_000], expected[:2_000], rtol=0, atol=1e-9, err_msg=kind)


def test_removing_an_indicator_removes_its_lines_and_pane(chart: ChartView, bars: BarArrays) -> None:
    chart.set_bars(*head(bars, 500))
    bands = chart.add_indicator("bollinger", 20)
    rsi = chart.add_indicator("rsi", 14)
    macd = chart.add_indicator("macd")
    band_items = chart.overlay(bands).items
    assert len(band_items) == 3 and all(item in chart.price_plot.items for item in band_items)
    rsi_pane, macd_pane = chart.panes
    assert chart.overlay(rsi).plot is rsi_pane
    assert rsi_pane.getViewBox().viewRange()[1] == pytest.approx([-5.0, 105.0])  # RSI's fixed 0..100
    # the time axis sits under the bottom pane only
    assert macd_pane.getAxis("bottom").isVisible() and not chart.volume_plot.getAxis("bottom").isVisible()

    chart.remove_indicator(bands)
    assert not any(item in chart.price_plot.items for item in band_items)
    assert all(item.scene() is None for item in band_items)
    chart.remove_indicator(macd)
    assert chart.panes == [rsi_pane] and macd_pane.scene() is None
    assert rsi_pane.getAxis("bottom").isVisible()
    chart.remove_indicator(rsi)
    assert chart.panes == [] and chart.indicators() == []
    assert chart.volume_plot.getAxis("bottom").isVisible()
    with pytest.raises(KeyError):
        chart.remove_indicator(rsi)


def test_indicator_arguments_are_checked(chart: ChartView) -> None:
    with pytest.raises(ValueError, match="unknown indicator"):
        chart.add_indicator("ichimoku")
    with pytest.raises(ValueError, match="period"):
        chart.add_indicator("sma", 0)
    with pytest.raises(ValueError, match="MACD takes no period"):
        chart.add_indicator("macd", 12)
    assert chart.indicators() == []
    default = chart.add_indicator("EMA")  # case-insensitive, default period
    assert chart.indicators()[0].period == 20 and chart.overlay(default).series.label == "EMA 20"


def test_indicators_menu_adds_and_removes(chart: ChartView, bars: BarArrays) -> None:
    chart.set_bars(*head(bars, 300))
    chart.toolbar.ask_period = lambda kind: 7  # the trader types 7 in the period dialog
    chart.toolbar.findChild(QAction, "addIndicator_sma").trigger()
    [info] = chart.indicators()
    assert (info.kind, info.period) == ("sma", 7)

    chart.toolbar.findChild(QAction, "addIndicator_vwap").trigger()  # no period asked
    assert [i.kind for i in chart.indicators()] == ["sma", "vwap"]

    chart.toolbar.ask_period = lambda kind: None  # the trader cancels the dialog
    chart.toolbar.findChild(QAction, "addIndicator_ema").trigger()
    assert len(chart.indicators()) == 2

    chart.toolbar.findChild(QAction, f"removeIndicator_{info.id}").trigger()
    assert [i.kind for i in chart.indicators()] == ["vwap"]
    assert chart.toolbar.findChild(QAction, f"removeIndicator_{info.id}") is None


def test_lines_draw_only_the_visible_bars(qtbot: QtBot, chart: ChartView) -> None:
    big = RandomWalkBarGenerator("SIM", START, seed=5).history_arrays(200_000)
    chart.set_bars(*big)
    [item] = chart.overlay(chart.add_indicator("sma", 20)).items
    chart.show_range(99_999.5, 100_099.5)
    chart.grab()
    stats = item.last_paint
    assert stats is not None and stats.bars_per_column == 1
    assert stats.first >= 99_998 and stats.stop <= 100_102

    chart.show_range(-0.5, 199_999.5)
    chart.grab()
    stats = item.last_paint
    assert stats is not None and stats.bars_per_column > 1
    assert stats.columns <= chart.price_plot.getViewBox().width() + 2


def test_axes_label_the_visible_times_and_prices(chart: ChartView, bars: BarArrays) -> None:
    small = head(bars, 500)
    chart.set_bars(*small)
    chart.show_range(99.5, 199.5)
    chart.grab()
    times = chart.time_axis.labels()
    in_view = {f"{at(small, i).astimezone(NEW_YORK):%H:%M}" for i in range(100, 200)}  # exchange time
    assert len(times) >= 4 and set(times) <= in_view
    low, high = chart.price_plot.getViewBox().viewRange()[1]
    prices = [float(label) for label in chart.price_plot.getAxis("right").labels()]
    assert len(prices) >= 3 and all(low <= price <= high for price in prices)


def test_column_extremes_match_a_plain_loop() -> None:
    values = np.sin(np.arange(1_000) / 17.0)
    first, stop, k = 13, 987, 7
    x, low, high = column_extremes(values, first, stop, k)
    base = first - first % k
    for j, start in enumerate(range(base, stop, k)):
        end = min(start + k, stop)
        assert low[j] == values[start:end].min() and high[j] == values[start:end].max()
        assert x[j] == pytest.approx((start + end - 1) / 2)
    values[:9] = np.nan  # a warm-up
    x, low, high = column_extremes(values, 0, 20, 7)
    assert np.isnan(low[0]) and np.isnan(low[1]) and low[2] == values[14:20].min()  # groups with NaN are gaps


# --- markers --------------------------------------------------------------------------------------


def test_markers_land_on_the_bar_containing_their_time(chart: ChartView, bars: BarArrays) -> None:
    small = head(bars, 500)
    chart.set_bars(*small)
    fill = ChartMarker(at(small, 300, 59.9), float(small.low[300]), "buy", "fill", "10 AAPL")
    signal = ChartMarker(at(small, 310), float(small.high[310]), "sell", "signal", "exit")
    early = ChartMarker(at(small, 0, -1.0), 100.0, "buy", "signal")
    chart.set_markers([signal, fill, early])

    assert chart.marker_bar_index(fill) == 300
    assert chart.marker_bar_index(signal) == 310  # exactly at a bar's open: that bar
    assert chart.marker_bar_index(early) is None
    assert chart.markers() == [early, fill, signal]  # kept in time order
    assert "▲ BUY fill @" in chart.readout_at(300) and "10 AAPL" in chart.readout_at(300)

    chart.show_range(299.5, 305.5)
    chart.grab()
    assert chart.visible_markers() == [(300, fill)]
    assert chart.marker_item.painted == [(300, fill)]  # the off-screen signal was not painted

    chart.show_range(249.5, 499.5)
    chart.grab()
    assert chart.marker_item.painted == [(300, fill), (310, signal)]

    chart.clear_markers("signal")
    assert chart.markers() == [fill]
    chart.clear_markers()
    assert chart.markers() == []


def test_a_marker_before_its_bar_appears_when_the_bar_arrives(chart: ChartView, bars: BarArrays) -> None:
    small = head(bars, 500)
    chart.set_bars(*small)
    live = following(small, 2)
    early_fill = ChartMarker(live[1].timestamp + timedelta(seconds=5), live[1].close, "sell", "fill")
    chart.add_marker(early_fill)
    chart.grab()
    assert chart.marker_bar_index(early_fill) is None
    assert chart.visible_markers() == [] and chart.marker_item.painted == []

    chart.append_bar(live[0])
    chart.grab()
    assert chart.visible_markers() == []
    chart.append_bar(live[1])
    chart.grab()
    assert chart.marker_bar_index(early_fill) == 501
    assert chart.marker_item.painted == [(501, early_fill)]


def test_markers_refuse_what_they_cannot_place() -> None:
    with pytest.raises(ValueError, match="naive"):
        ChartMarker(datetime(2026, 1, 5, 15, 0), 100.0, "buy", "fill")  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="side"):
        ChartMarker(START, 100.0, "long", "fill")
    with pytest.raises(ValueError, match="kind"):
        ChartMarker(START, 100.0, "buy", "order")
    local = datetime(2026, 1, 5, 10, 0, tzinfo=UTC).astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert ChartMarker(local, 100.0, "buy", "fill").timestamp.tzinfo is UTC


# --- toolbar and status ---------------------------------------------------------------------------


def test_timeframe_box_asks_and_set_symbol_does_not(chart: ChartView, qtbot: QtBot) -> None:
    box = chart.findChild(QComboBox, "timeframeBox")
    assert [box.itemText(i) for i in range(box.count())] == ["1Min", "5Min", "15Min", "30Min", "1Hour", "1Day"]
    with qtbot.waitSignal(chart.timeframeRequested, timeout=1000) as asked:
        box.setCurrentText("5Min")
    assert asked.args == ["5Min"]

    requested: list[str] = []
    chart.timeframeRequested.connect(requested.append)
    chart.symbolRequested.connect(requested.append)
    chart.set_symbol("MSFT", "15Min")
    assert requested == []
    assert box.currentText() == "15Min"
    assert chart.findChild(QLineEdit, "symbolSearch").text() == "MSFT"
    assert "MSFT" in chart.findChild(QLabel, "chartHeader").text()


def test_symbol_search_validates_what_the_trader_types(chart: ChartView, qtbot: QtBot) -> None:
    search = chart.findChild(QLineEdit, "symbolSearch")
    chart.set_known_symbols(["MSFT", "AAPL", "AMZN"])
    assert search.completer().model().stringList() == ["AAPL", "AMZN", "MSFT"]

    requested: list[str] = []
    chart.symbolRequested.connect(requested.append)
    search.clear()
    QTest.keyClicks(search, "bad symbol!")
    QTest.keyClick(search, Qt.Key.Key_Return)
    assert requested == []
    assert "ef5350" in search.styleSheet() and "not a ticker" in search.toolTip()
    assert "not a ticker" in chart.findChild(QLabel, "chartStatus").text()

    search.clear()
    QTest.keyClicks(search, "aapl")
    assert search.styleSheet() == ""  # typing again clears the error
    QTest.keyClick(search, Qt.Key.Key_Return)
    assert requested == ["AAPL"]
    assert search.text() == "AAPL"


def test_loading_and_errors_show_in_the_chart(chart: ChartView) -> None:
    status = chart.findChild(QLabel, "chartStatus")
    chart.set_symbol("AAPL", "5Min")
    chart.set_loading(True)
    assert status.text() == "Loading AAPL 5Min…"
    chart.set_loading(False)
    assert status.text() == ""
    chart.show_error("No 5Min bars stored for XYZ yet")
    assert status.text() == "No 5Min bars stored for XYZ yet" and "ef5350" in status.styleSheet()
