"""Exchange time everywhere: the chart's axis and readout, the tables, and the trader's choice of zone applied at
once; intraday charts shade pre-market and after-hours bars and mark each regular open from the NYSE calendar."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from pytestqt.qtbot import QtBot

from app.display_time import DisplayTime, apply_display_zone, display_time, shown_clock, shown_minute, zone_setting
from app.models.fills_model import FillsModel
from app.models.orders_model import OrdersModel
from app.models.trades_model import TradesModel
from app.views.backtest_history import HistoryView
from app.views.chart_sessions import CLOSED, POST, PRE, PRE_COLOR, session_spans, session_table
from app.views.chart_view import ChartView
from app.views.equity_chart import EquityChart
from core.backtest.service import ResultSummary
from core.domain.display_time import DisplayZone
from core.ledger.history import FillRow, OrderRow

WINTER_OPEN = datetime(2026, 1, 15, 14, 30, tzinfo=UTC)  # 09:30 EST
SUMMER_OPEN = datetime(2026, 7, 15, 13, 30, tzinfo=UTC)  # 09:30 EDT


def minute_bars(first: datetime, count: int) -> tuple[np.ndarray, ...]:
    t = first.timestamp() + 60.0 * np.arange(count)
    price = np.full(count, 100.0)
    return t, price, price + 1, price - 1, price, np.full(count, 1000.0)


def chart_at(qtbot: QtBot, first: datetime, display: DisplayTime | None = None, count: int = 120) -> ChartView:
    chart = ChartView("SPY", "1Min", display=display)
    chart.resize(1000, 600)
    qtbot.addWidget(chart)
    chart.set_bars(*minute_bars(first, count))
    return chart


def hour_minute_label(chart: ChartView, index: int) -> str:
    return chart.time_axis.tickStrings([float(index)], scale=1.0, spacing=60.0)[0]


def fill(at: datetime) -> FillRow:
    return FillRow(uuid.uuid4(), at, "SPY", "buy", Decimal(1), Decimal("500"), Decimal(0), None, None, None)


def order(at: datetime) -> OrderRow:
    return OrderRow(
        uuid.uuid4(), "SPY", "buy", "limit", "day", Decimal(1), Decimal(0), Decimal("499"), None, None, None,
        "accepted", Decimal("499"), None, at, None, None, None, None,
    )  # fmt: skip


# --- the chart ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("open_utc", [WINTER_OPEN, SUMMER_OPEN], ids=["winter", "summer"])
def test_the_open_reads_0930_on_the_axis_and_in_the_readout(qtbot: QtBot, open_utc: datetime) -> None:
    chart = chart_at(qtbot, open_utc)
    assert hour_minute_label(chart, 0) == "09:30"
    assert chart.readout_at(0).startswith(f"{open_utc:%Y-%m-%d} 09:30 ET  O ")
    assert chart.time_axis.labelText == "ET"


def test_the_crosshair_readout_names_the_hovered_bar_in_new_york_time(qtbot: QtBot) -> None:
    chart = chart_at(qtbot, WINTER_OPEN)
    chart.crosshair.hovered.emit(30)  # what moving the pointer over bar 30 does
    assert chart.readout_text().startswith("2026-01-15 10:00 ET")


def test_choosing_utc_relabels_the_axis_readout_and_tables_without_a_restart(qtbot: QtBot) -> None:
    display = DisplayTime()
    chart = chart_at(qtbot, WINTER_OPEN, display)
    fills = FillsModel(display=display)
    fills.set_rows([fill(WINTER_OPEN)])
    chart.show_range(-0.5, 99.5)
    chart.grab()
    assert "09:30" in chart.time_axis.labels() or "10:00" in chart.time_axis.labels()

    with qtbot.waitSignals([fills.headerDataChanged, fills.dataChanged]):
        display.set_zone(DisplayZone.UTC)

    assert hour_minute_label(chart, 0) == "14:30"
    assert chart.time_axis.labelText == "UTC"
    chart.grab()
    assert all(label[:2] in ("14", "15", "16") for label in chart.time_axis.labels())
    assert chart.readout_text().startswith("2026-01-15 16:29 UTC")  # nothing hovered: the last bar
    assert fills.headerData(0, Qt.Orientation.Horizontal) == "Time (UTC)"
    assert fills.index(0, 0).data() == "2026-01-15 14:30:00"


def test_an_added_pane_labels_its_axis_in_the_chosen_zone(qtbot: QtBot) -> None:
    display = DisplayTime(DisplayZone.UTC)
    chart = chart_at(qtbot, WINTER_OPEN, display)
    chart.add_indicator("rsi")
    [pane] = chart.panes
    assert pane.getAxis("bottom").labelText == "UTC"
    display.set_zone(DisplayZone.EXCHANGE)
    assert pane.getAxis("bottom").labelText == "ET"


def test_the_application_zone_reaches_a_chart_made_without_one(qtbot: QtBot) -> None:
    chart = chart_at(qtbot, WINTER_OPEN)
    apply_display_zone("utc")
    assert hour_minute_label(chart, 0) == "14:30"
    assert display_time().zone is DisplayZone.UTC


# --- tables --------------------------------------------------------------------------------------------------


def test_the_fills_and_orders_tables_show_new_york_time() -> None:
    fills, orders = FillsModel(), OrdersModel()
    fills.set_rows([fill(SUMMER_OPEN)])
    orders.set_rows([order(WINTER_OPEN)])
    assert fills.headerData(0, Qt.Orientation.Horizontal) == "Time (ET)"
    assert fills.index(0, 0).data() == "2026-07-15 09:30:00"
    assert orders.headerData(0, Qt.Orientation.Horizontal) == "Placed (ET)"
    assert orders.index(0, 0).data() == "2026-01-15 09:30:00"


def test_a_backtests_trades_show_their_times_in_the_chosen_zone() -> None:
    display = DisplayTime()
    trades = TradesModel(display=display)
    entry, leave = WINTER_OPEN.timestamp(), (WINTER_OPEN + timedelta(hours=1)).timestamp()
    trades.set_trades([{"size": 1, "entry_time": entry, "exit_time": leave, "entry_price": 1, "exit_price": 2,
                        "pnl": 1, "return_pct": 1}])  # fmt: skip
    assert [trades.headerData(c, Qt.Orientation.Horizontal) for c in (2, 3)] == ["Entry (ET)", "Exit (ET)"]
    assert [trades.index(0, c).data() for c in (2, 3)] == ["2026-01-15 09:30", "2026-01-15 10:30"]
    display.set_zone(DisplayZone.UTC)
    assert trades.index(0, 2).data() == "2026-01-15 14:30"


def test_a_stored_choice_this_version_does_not_know_falls_back_to_exchange_time() -> None:
    assert zone_setting("utc") is DisplayZone.UTC
    assert zone_setting(None) is DisplayZone.EXCHANGE
    assert zone_setting("Mars") is DisplayZone.EXCHANGE


# --- sessions ----------------------------------------------------------------------------------------------


def spans_of_day(day: datetime) -> list[tuple[int, str, str]]:
    """The shaded runs over a day of minute bars from 00:00Z to 23:59Z, as (class, first, last) UTC clock times."""
    t = day.timestamp() + 60.0 * np.arange(1440)
    spans = session_spans(t, 60.0, session_table())

    def clock(i: int) -> str:
        return f"{datetime.fromtimestamp(t[i], UTC):%H:%M}"

    return [(kind, clock(a), clock(b)) for kind, a, b in spans.shaded]


def opens_of_day(day: datetime) -> list[str]:
    t = day.timestamp() + 60.0 * np.arange(1440)
    return [f"{datetime.fromtimestamp(t[i], UTC):%H:%M}" for i in session_spans(t, 60.0, session_table()).opens]


def test_a_normal_day_is_shaded_before_0930_and_after_1600_new_york() -> None:
    day = datetime(2026, 1, 15, tzinfo=UTC)  # EST: 04:00 = 09:00Z, 09:30 = 14:30Z, 16:00 = 21:00Z, 20:00 = 01:00Z
    assert spans_of_day(day) == [
        (POST, "00:00", "00:59"),  # the evening before, 19:00-19:59 ET
        (CLOSED, "01:00", "08:59"),
        (PRE, "09:00", "14:29"),
        (POST, "21:00", "23:59"),
    ]
    assert opens_of_day(day) == ["14:30"]


def test_an_early_close_turns_to_after_hours_at_1300_new_york() -> None:
    day = datetime(2026, 11, 27, tzinfo=UTC)  # the day after Thanksgiving: the regular session ends at 13:00 ET
    assert spans_of_day(day) == [(CLOSED, "00:00", "08:59"), (PRE, "09:00", "14:29"), (POST, "18:00", "23:59")]


def test_a_holiday_is_closed_all_day() -> None:
    day = datetime(2026, 11, 26, 5, tzinfo=UTC)  # Thanksgiving, New York midnight to midnight
    t = day.timestamp() + 60.0 * np.arange(1440)
    spans = session_spans(t, 60.0, session_table())
    assert spans.shaded == [(CLOSED, 0, 1439)] and spans.opens == []


def test_summer_sessions_follow_daylight_saving() -> None:
    day = datetime(2026, 7, 15, tzinfo=UTC)  # EDT: 09:30 = 13:30Z, 16:00 = 20:00Z
    assert (PRE, "08:00", "13:29") in spans_of_day(day) and opens_of_day(day) == ["13:30"]


def test_regular_hours_only_data_gets_one_open_line_per_session() -> None:
    days = [datetime(2026, 3, d, 14, 30, tzinfo=UTC).timestamp() for d in (2, 3, 4)]
    t = np.concatenate([d + 60.0 * np.arange(390) for d in days])
    spans = session_spans(t, 60.0, session_table(), first_index=5)
    assert spans.shaded == [] and spans.opens == [5, 395, 785]


def test_an_hourly_bar_holding_the_open_counts_as_regular() -> None:
    t = datetime(2026, 1, 15, 13, tzinfo=UTC).timestamp() + 3600.0 * np.arange(10)  # 08:00 ET to 17:00 ET
    spans = session_spans(t, 3600.0, session_table())
    assert spans.opens == [1]  # the 09:00 ET bar holds 09:30-10:00
    assert spans.shaded == [(PRE, 0, 0), (POST, 8, 9)]


def test_the_chart_shades_only_intraday_bars_and_only_the_visible_ones(qtbot: QtBot) -> None:
    chart = chart_at(qtbot, datetime(2026, 1, 15, 13, tzinfo=UTC), count=600)  # 08:00-17:59 ET
    qtbot.waitUntil(lambda: session_table() is not None and chart.sessions.spans(-0.5, 599.5).opens != [])
    spans = chart.sessions.spans(-0.5, 599.5)
    assert spans.opens == [90] and spans.shaded == [(PRE, 0, 89), (POST, 480, 599)]
    assert chart.sessions.spans(99.5, 199.5).shaded == [] and chart.sessions.spans(99.5, 199.5).opens == []
    chart.set_symbol("SPY", "1Day")
    assert chart.sessions.spans(-0.5, 599.5).shaded == []


def test_a_million_bars_shade_from_the_sessions_not_bar_by_bar() -> None:
    t = datetime(2026, 1, 5, 9, tzinfo=UTC).timestamp() + 60.0 * np.arange(1_000_000)
    spans = session_spans(t, 60.0, session_table())
    # ~23 months of sessions: one open each, and up to one pre, post and closed run each
    assert 450 < len(spans.opens) < 500 and len(spans.shaded) <= 3 * len(spans.opens) + 300


# --- panels ------------------------------------------------------------------------------------------------


def summary(at: datetime) -> ResultSummary:
    return ResultSummary(uuid.uuid4(), "Cross", "completed", at, ("SPY",), "1Min", datetime(2026, 1, 5, tzinfo=UTC),
                         datetime(2026, 1, 10, tzinfo=UTC), None, 0.1, 1.0, -0.05, 3, None)  # fmt: skip


def test_the_backtest_history_reads_run_times_in_the_chosen_zone_and_keeps_the_selection(qtbot: QtBot) -> None:
    view = HistoryView()
    qtbot.addWidget(view)
    view.set_results([summary(WINTER_OPEN), summary(SUMMER_OPEN)])
    view.table.selectRow(1)
    assert view.table.horizontalHeaderItem(0).text() == "Run at (ET)"
    assert [view.table.item(r, 0).text() for r in (0, 1)] == ["2026-01-15 09:30", "2026-07-15 09:30"]
    chosen = view.selected_ids()
    apply_display_zone(DisplayZone.UTC)
    assert view.table.horizontalHeaderItem(0).text() == "Run at (UTC)"
    assert [view.table.item(r, 0).text() for r in (0, 1)] == ["2026-01-15 14:30", "2026-07-15 13:30"]
    assert view.selected_ids() == chosen


def test_texts_built_when_shown_name_the_zone() -> None:
    assert shown_minute(WINTER_OPEN, label=True) == "2026-01-15 09:30 ET"
    assert shown_clock(SUMMER_OPEN + timedelta(seconds=5)) == "09:30:05 ET"
    apply_display_zone(DisplayZone.UTC)
    assert shown_minute(WINTER_OPEN) == "2026-01-15 14:30" and shown_minute(None) == ""


def test_the_backtest_equity_axis_labels_in_the_zone_across_a_daylight_saving_switch(qtbot: QtBot) -> None:
    display = DisplayTime()
    chart = EquityChart(display=display)
    qtbot.addWidget(chart)
    chart.resize(800, 400)
    axis = chart.equity_plot.getAxis("bottom")
    winter, summer = WINTER_OPEN.timestamp(), SUMMER_OPEN.timestamp()
    times = winter + 60.0 * np.arange(-60, 61)
    chart.set_curves(times, np.full(len(times), 1e5), np.zeros(len(times)))
    chart.grab()  # a paint picks the zoom level (hours and minutes over two hours)
    spacing = axis.zoomLevel.tickSpecs[-1].spacing
    assert axis.tickStrings([winter, summer], 1.0, spacing) == ["09:30", "09:30"]
    display.set_zone(DisplayZone.UTC)
    chart.grab()
    assert axis.tickStrings([winter, summer], 1.0, spacing) == ["14:30", "13:30"]


def test_pre_market_bars_are_drawn_on_their_shade_under_the_grid(qtbot: QtBot) -> None:
    chart = chart_at(qtbot, datetime(2026, 1, 15, 13, tzinfo=UTC), count=200)  # 08:00-11:19 ET
    chart.show()
    qtbot.waitExposed(chart)
    chart.show_range(-0.5, 199.5)
    qtbot.waitUntil(lambda: chart.sessions.spans(-0.5, 199.5).opens == [90])
    image = chart.grab().toImage()
    pre = PRE_COLOR.rgb() & 0xFFFFFF
    box = chart.price_plot.getViewBox()
    left = chart.graphics.mapTo(chart, chart.graphics.mapFromScene(box.mapViewToScene(QPointF(10, 0)))).x()
    right = chart.graphics.mapTo(chart, chart.graphics.mapFromScene(box.mapViewToScene(QPointF(150, 0)))).x()
    top = chart.graphics.mapTo(chart, chart.graphics.mapFromScene(box.mapToScene(0.0, 0.0))).y()

    def shaded(x: int) -> bool:
        return any(image.pixel(x, y) & 0xFFFFFF == pre for y in range(top + 2, top + 40))

    assert shaded(left)  # 08:10 ET: pre-market
    assert not shaded(right)  # 10:30 ET: the regular session
