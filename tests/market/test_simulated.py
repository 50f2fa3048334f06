"""The random-walk market is deterministic and only ever produces valid, evenly spaced UTC bars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import numpy as np
import pytest

from core.domain.bars import MalformedBar, NormalizedBar, timeframe_delta, to_arrays
from core.market.simulated import RandomWalkBarGenerator

START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def test_same_seed_gives_same_bars_and_other_seed_differs() -> None:
    a = RandomWalkBarGenerator("SIM", START, seed=7).history(300)
    b = RandomWalkBarGenerator("SIM", START, seed=7).history(300)
    c = RandomWalkBarGenerator("SIM", START, seed=8).history(300)
    assert a == b
    assert [bar.close for bar in a] != [bar.close for bar in c]


def test_history_equals_repeated_next_bar() -> None:
    """A session fed bar by bar sees exactly the market a backtest over history() sees."""
    batch = RandomWalkBarGenerator("SIM", START, seed=3).history(50)
    gen = RandomWalkBarGenerator("SIM", START, seed=3)
    one_by_one = [gen.next_bar() for _ in range(50)]
    assert batch == one_by_one


def test_history_then_next_bar_continues_the_walk() -> None:
    gen = RandomWalkBarGenerator("SIM", START, seed=1)
    history = gen.history(10)
    nxt = gen.next_bar()
    assert nxt.open == history[-1].close
    assert nxt.timestamp == history[-1].timestamp + timedelta(minutes=1)


@pytest.mark.parametrize("timeframe", ["1Min", "15Min", "1Day"])
def test_bars_are_valid_contiguous_and_utc(timeframe: str) -> None:
    start = datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    bars = RandomWalkBarGenerator("SIM", start, start_price=42.0, seed=11, timeframe=timeframe).history(2000)
    step = timeframe_delta(timeframe)
    assert bars[0].timestamp == start
    assert bars[0].open == 42.0
    for prev, bar in pairwise(bars):
        assert bar.timestamp - prev.timestamp == step
        assert bar.open == prev.close
    for bar in bars:
        assert bar.timestamp.tzinfo is UTC
        assert bar.symbol == "SIM" and bar.timeframe == timeframe and bar.source == "simulated"
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.low > 0 and bar.volume >= 0
        # re-validating through the constructor must succeed
        assert NormalizedBar(**{f: getattr(bar, f) for f in bar.__slots__}) == bar


def test_history_arrays_match_bar_objects_and_envelope_holds_for_a_million() -> None:
    arrays = RandomWalkBarGenerator("SIM", START, seed=5).history_arrays(1_000_000)
    assert all(col.dtype == np.float64 and col.shape == (1_000_000,) for col in arrays)
    t, o, h, lo, c, v = arrays
    assert np.all(np.diff(t) == 60.0)
    assert np.all(o[1:] == c[:-1])
    assert np.all(h >= np.maximum(o, c)) and np.all(lo <= np.minimum(o, c))
    assert np.all(lo > 0) and np.all(v >= 0) and np.all(np.isfinite(h))

    small = RandomWalkBarGenerator("SIM", START, seed=5)
    expected = to_arrays(small.history(100))
    for got, want in zip(arrays, expected, strict=True):
        np.testing.assert_array_equal(got[:100], want)


def test_generator_refuses_naive_start_and_bad_price() -> None:
    with pytest.raises(MalformedBar, match="naive"):
        RandomWalkBarGenerator("SIM", datetime(2026, 3, 2, 14, 30))  # noqa: DTZ001 - the point of the test
    with pytest.raises(MalformedBar, match="start_price"):
        RandomWalkBarGenerator("SIM", START, start_price=-1.0)
    with pytest.raises(MalformedBar, match="unknown timeframe"):
        RandomWalkBarGenerator("SIM", START, timeframe="3Min")
