"""NormalizedBar accepts real bars and refuses each kind of impossible one with a message naming the rule."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from core.domain.bars import TIMEFRAMES, MalformedBar, NormalizedBar, timeframe_delta, to_arrays

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def make_bar(**overrides: Any) -> NormalizedBar:
    fields: dict[str, Any] = {
        "symbol": "AAPL",
        "timeframe": "1Min",
        "timestamp": T0,
        "open": 100.0,
        "high": 101.0,
        "low": 99.5,
        "close": 100.5,
        "volume": 1200.0,
        "trade_count": 31,
        "vwap": 100.3,
        "source": "test",
    }
    fields.update(overrides)
    return NormalizedBar(**fields)


def test_valid_bar_is_accepted_and_numbers_are_floats() -> None:
    bar = make_bar(open=100, high=101, low=99, close=100, volume=5)
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (100.0, 101.0, 99.0, 100.0, 5.0)
    assert all(isinstance(x, float) for x in (bar.open, bar.high, bar.low, bar.close, bar.volume))
    assert bar.end - bar.timestamp == TIMEFRAMES["1Min"]


def test_doji_with_equal_prices_is_valid() -> None:
    bar = make_bar(open=50.0, high=50.0, low=50.0, close=50.0, volume=0)
    assert bar.high == bar.low


def test_optional_fields_may_be_missing() -> None:
    bar = make_bar(trade_count=None, vwap=None)
    assert bar.trade_count is None and bar.vwap is None


def test_timestamp_in_another_zone_is_normalised_to_utc() -> None:
    new_york = timezone(timedelta(hours=-5))
    bar = make_bar(timestamp=datetime(2026, 3, 2, 9, 30, tzinfo=new_york))
    assert bar.timestamp == T0
    assert bar.timestamp.utcoffset() == timedelta(0)
    assert bar == make_bar(timestamp=T0)


@pytest.mark.parametrize("timeframe", sorted(TIMEFRAMES))
def test_every_supported_timeframe_is_accepted(timeframe: str) -> None:
    assert make_bar(timeframe=timeframe).timeframe == timeframe
    assert timeframe_delta(timeframe) > timedelta(0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"timestamp": datetime(2026, 3, 2, 14, 30)}, "naive"),  # noqa: DTZ001 - the point of the test
        ({"timestamp": "2026-03-02T14:30:00Z"}, "must be a datetime"),
        ({"open": math.nan}, "open must be finite"),
        ({"high": math.inf}, "high must be finite"),
        ({"low": -math.inf}, "low must be finite"),
        ({"close": float("nan")}, "close must be finite"),
        ({"open": 0.0, "low": 0.0}, "must be > 0"),
        ({"low": -1.0}, "low must be > 0"),
        ({"open": "abc"}, "open must be a number"),
        ({"high": 99.0, "low": 99.5}, "below low"),
        ({"high": 100.2}, "high 100.2 is below open/close"),
        ({"low": 100.2}, "low 100.2 is above open/close"),
        ({"volume": -1.0}, "volume must be >= 0"),
        ({"volume": math.nan}, "volume must be finite"),
        ({"symbol": ""}, "symbol must be a non-empty string"),
        ({"symbol": "   "}, "symbol must be a non-empty string"),
        ({"timeframe": "2Min"}, "unknown timeframe '2Min'"),
        ({"timeframe": "1min"}, "unknown timeframe"),
        ({"trade_count": -3}, "trade_count must be >= 0"),
        ({"trade_count": 2.5}, "trade_count must be an integer"),
        ({"vwap": math.nan}, "vwap must be finite"),
        ({"source": ""}, "source must be a non-empty string"),
    ],
)
def test_malformed_bar_is_rejected_with_clear_message(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedBar, match=message):
        make_bar(**overrides)


def test_malformed_bar_is_a_value_error_and_names_the_bar() -> None:
    with pytest.raises(ValueError, match=r"'AAPL' 1Min bar at 2026-03-02T14:30:00\+00:00"):
        make_bar(volume=-5)


def test_unknown_timeframe_message_lists_allowed_ones() -> None:
    with pytest.raises(MalformedBar) as info:
        make_bar(timeframe="1Week")
    for allowed in TIMEFRAMES:
        assert allowed in str(info.value)


def test_bar_is_immutable_and_replace_revalidates() -> None:
    bar = make_bar()
    with pytest.raises(AttributeError):
        bar.close = 1.0  # type: ignore[misc]
    with pytest.raises(MalformedBar):
        replace(bar, high=1.0)


def test_to_arrays_gives_float64_columns_in_order() -> None:
    bars = [make_bar(timestamp=T0 + timedelta(minutes=i), close=100.0 + i / 10, high=102.0) for i in range(5)]
    arrays = to_arrays(bars)
    assert len(arrays) == 5
    for column in arrays:
        assert column.dtype == np.float64 and column.shape == (5,)
    np.testing.assert_array_equal(arrays.t, [b.timestamp.timestamp() for b in bars])
    np.testing.assert_array_equal(arrays.close, [b.close for b in bars])
    assert len(to_arrays([])) == 0
