"""What the chart tests share: a shown chart of the benchmark's size, and live bars that follow a history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pytestqt.qtbot import QtBot

from app.views.chart_view import ChartView
from core.domain.bars import BarArrays, NormalizedBar
from core.market.simulated import RandomWalkBarGenerator


def shown_chart(qtbot: QtBot) -> ChartView:
    """A 1200x700 chart for SIM 1Min, shown (offscreen) and closed with the test."""
    view = ChartView("SIM", "1Min")
    view.resize(1200, 700)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    return view


def bars_following(arrays: BarArrays, count: int, seed: int = 1, gap: timedelta = timedelta(0)) -> list[NormalizedBar]:
    """`count` live bars continuing where `arrays` ended (after `gap`, a pause in trading)."""
    start = datetime.fromtimestamp(float(arrays.t[-1]), UTC) + timedelta(minutes=1) + gap
    return RandomWalkBarGenerator("SIM", start, start_price=float(arrays.close[-1]), seed=seed).history(count)
