"""One list of timeframes: the bar type, the aggregator, the chart, the Alpaca adapter and the menus read it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.adapters.alpaca.bar_history import _TIMEFRAMES as ALPACA_TIMEFRAMES
from core.domain.bars import TIMEFRAMES, timeframe_delta
from core.domain.timeframes import Timeframe
from core.market.aggregate import AGGREGATE_TIMEFRAMES
from core.market.chart_bars import LOOKBACK
from core.market.chart_bars import TIMEFRAMES as CHART_TIMEFRAMES


def test_every_consumer_knows_every_timeframe() -> None:
    names = [t.value for t in Timeframe]
    assert names == ["1Min", "5Min", "15Min", "30Min", "1Hour", "1Day"]
    assert list(TIMEFRAMES) == names
    assert list(AGGREGATE_TIMEFRAMES) == names
    assert list(CHART_TIMEFRAMES) == names
    assert set(ALPACA_TIMEFRAMES) == set(names)
    assert set(LOOKBACK) == set(names)


def test_a_member_is_its_string_and_knows_its_length() -> None:
    assert Timeframe.MIN_30 == "30Min" and f"{Timeframe.MIN_30}" == "30Min"
    assert Timeframe.MIN_30.delta == timedelta(minutes=30) == timeframe_delta("30Min")
    assert Timeframe.parse("1Hour") is Timeframe.HOUR_1


@pytest.mark.parametrize("text", ["30min", "1H", "2Hour", ""])
def test_an_unknown_timeframe_names_the_allowed_ones(text: str) -> None:
    with pytest.raises(ValueError, match="allowed: 1Min, 5Min, 15Min, 30Min, 1Hour, 1Day"):
        Timeframe.parse(text)
