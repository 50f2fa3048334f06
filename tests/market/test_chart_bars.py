"""Chart history per timeframe, and live minutes folded into the forming bar the way aggregation builds it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.db.database import Database
from core.market.aggregate import aggregate
from core.market.calendar import NEW_YORK
from core.market.chart_bars import FormingBar, bucket_open, chart_bars
from core.market.live import bars_frame
from core.market.simulated import RandomWalkBarGenerator
from core.market.store import BarStore


def test_buckets_follow_the_new_york_clock() -> None:
    t = datetime(2026, 11, 23, 14, 37, tzinfo=UTC)  # 09:37 in New York
    assert bucket_open(t, "5Min") == datetime(2026, 11, 23, 14, 35, tzinfo=UTC)
    assert bucket_open(t, "1Hour") == datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    assert bucket_open(t, "1Day") == datetime(2026, 11, 23, 0, 0, tzinfo=NEW_YORK)


def test_forming_bar_equals_the_aggregate_of_its_minutes() -> None:
    minutes = RandomWalkBarGenerator("AAPL", datetime(2026, 11, 23, 14, 30, tzinfo=UTC), seed=5).history(12)
    forming = FormingBar("5Min")
    shown = [forming.update(m) for m in minutes]
    expected = aggregate(bars_frame(minutes), "5Min", session="all")
    last_of_bucket = [shown[4], shown[9], shown[11]]
    assert [b.timestamp for b in last_of_bucket] == list(expected["timestamp"])
    for bar, (_, row) in zip(last_of_bucket, expected.iterrows(), strict=True):
        assert (bar.open, bar.high, bar.low, bar.close) == (row["open"], row["high"], row["low"], row["close"])
        assert bar.volume == pytest.approx(row["volume"])
    assert shown[5].timestamp == shown[9].timestamp  # a new minute of the same bucket replaces the bar


def test_coarser_chart_is_aggregated_from_stored_minutes(db: Database) -> None:
    start = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
    minutes = RandomWalkBarGenerator("QQQ", start, seed=9).history(60)
    store = BarStore(db.engine)
    try:
        store.insert("QQQ", "1Min", bars_frame(minutes), source="simulated")
        now = start + timedelta(hours=1)
        one = chart_bars(store, "qqq", "1Min", now)
        five = chart_bars(store, "QQQ", "5Min", now)
        assert len(one.t) == 60 and len(five.t) == 12
        assert five.high[0] == max(m.high for m in minutes[:5])
        assert np.all(np.diff(five.t) == 300)
        assert len(chart_bars(store, "NONE", "15Min", now).t) == 0
        with pytest.raises(ValueError, match="unknown timeframe"):
            chart_bars(store, "QQQ", "2Min", now)
    finally:
        store.close()
