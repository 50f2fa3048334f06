"""When a session's bar closes, what window it decides on, and that the sandbox decides as the class does."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.domain.bars import NormalizedBar
from core.paper.bars import BarWindow, BucketFolder, ClosedBar
from core.paper.decider import DecisionLimits, HostDecider, InProcessDecider, intents_from
from core.strategy.api import BarData, IntentKind, Strategy, StrategyError
from core.strategy.sandbox import StrategyCrashed
from tests.paper.cross_strategy import Cross
from tests.paper.helpers import CROSS_SOURCE

OPEN = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)  # 09:30 New York
ACCOUNT = {"cash": 100_000.0, "equity": 100_000.0, "position": 0.0, "position_price": None}


def minute(m: int, close: float = 100.0, *, start: datetime = OPEN) -> NormalizedBar:
    return NormalizedBar("ACME", "1Min", start + timedelta(minutes=m), close, close + 1, close - 1, close, 10,
                         source="test")  # fmt: skip


def test_a_five_minute_bar_closes_with_its_last_minute_and_merges_them():
    folder = BucketFolder("5Min")
    assert [folder.add(minute(m, 100 + m)) for m in range(4)] == [[], [], [], []]
    [closed] = folder.add(minute(4, 104))
    assert (closed.timeframe, closed.timestamp, closed.open, closed.high, closed.low, closed.close, closed.volume) == (
        "5Min",
        OPEN,
        100,
        105,
        99,
        104,
        50,
    )


def test_a_bar_whose_last_minute_never_comes_closes_with_the_next_bucket():
    folder = BucketFolder("5Min")
    folder.add(minute(5))
    folder.add(minute(6))
    [closed] = folder.add(minute(11))  # 14:41 belongs to the 14:40 bucket, which is still forming
    assert closed.timestamp == OPEN + timedelta(minutes=5) and closed.volume == 20
    assert folder.add(minute(3)) == []  # a minute of a bucket already closed changes nothing


def test_a_daily_bar_closes_with_the_next_new_york_days_first_minute():
    folder = BucketFolder("1Day")
    assert folder.add(minute(0)) == [] and folder.add(minute(60 * 10)) == []  # 19:30 New York, same day
    [closed] = folder.add(minute(0, start=OPEN + timedelta(days=1)))
    assert closed.timestamp == datetime(2025, 3, 3, 5, 0, tzinfo=UTC)  # New York midnight (EST)


def test_one_minute_bars_close_as_they_come():
    assert BucketFolder("1Min").add(minute(0)) == [minute(0)]


def test_the_window_keeps_the_newest_bars_and_ignores_replays():
    window = BarWindow("ACME", 3)
    for m in range(5):
        assert window.add(ClosedBar.of(minute(m, 100 + m)))
    assert not window.add(ClosedBar.of(minute(2, 50)))
    data = window.data()
    assert list(data.close) == [102, 103, 104] and data.time[-1] == (OPEN + timedelta(minutes=4)).timestamp()
    assert window.last() == ClosedBar.of(minute(4, 104))


def _window(n: int = 200, seed: int = 5) -> BarData:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return BarData.from_arrays("ACME", 60.0 * np.arange(n), close, close * 1.01, close * 0.99, close, np.ones(n))


def _rows(data: BarData, start: int, end: int) -> list[list[float]]:
    columns = [getattr(data, k)[start:end] for k in ("time", "open", "high", "low", "close", "volume")]
    return [list(map(float, row)) for row in zip(*columns, strict=True)]


def _head(data: BarData, n: int) -> BarData:
    return BarData.from_arrays(data.symbol, *(getattr(data, k)[:n] for k in ("time", "open", "high", "low", "close",
                                                                               "volume")))  # fmt: skip


def test_the_sessions_host_decides_what_the_same_class_decides_in_process():
    cancel, whole = threading.Event(), _window()
    hosted = HostDecider(CROSS_SOURCE, "Cross", {"fast": 4}, DecisionLimits(cpu_seconds=5))
    local = InProcessDecider(Cross, {"fast": 4})
    try:
        for decider in (hosted, local):
            decider.open({"ACME": _head(whole, 40)}, {"ACME": ACCOUNT}, cancel)
            assert decider.params == {"fast": 4, "slow": 6, "size": 0.1}
        seen = 0
        for end in range(41, 200):  # one bar at a time, and one call with three bars (a session that fell behind)
            start = end - 1 if end != 120 else end - 3
            if 117 < end < 120:
                continue
            bars = {"ACME": _rows(whole, start, end)}
            mine, theirs = local.decide(bars, {"ACME": ACCOUNT}, cancel), hosted.decide(bars, {"ACME": ACCOUNT}, cancel)
            assert mine["ACME"].intents == theirs["ACME"].intents
            seen += len(mine["ACME"].intents)
        assert seen > 0
    finally:
        hosted.close()


def test_a_hosted_decision_that_raises_names_the_strategy_line():
    source = CROSS_SOURCE.replace("self.f[-1] > self.s[-1]", "1 / 0 > 0")
    decider = HostDecider(source, "Cross", {}, DecisionLimits())
    try:
        with pytest.raises(StrategyCrashed, match=r"ZeroDivisionError: division by zero \(line 15 of the strategy\)"):
            decider.open({"ACME": _window()}, {"ACME": ACCOUNT}, threading.Event())
    finally:
        decider.close()


def test_a_builtin_that_raises_is_reported_like_a_strategy_error():
    class Broken(Strategy):
        def next(self, data):
            raise KeyError("price")

    with pytest.raises(StrategyError, match="KeyError: 'price'"):
        InProcessDecider(Broken, {}).open({"ACME": _window()}, {"ACME": ACCOUNT}, threading.Event())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "no list of intents"),
        (["buy"], "not a mapping"),
        ([{"kind": "short"}], "unknown order intent"),
        ([{"kind": "buy", "shares": float("nan")}], "shares must be a finite number"),
        ([{"kind": "buy", "limit": True}], "limit must be a finite number"),
        # the child is believed in nothing: what the Strategy API refuses, the decoder refuses too
        ([{"kind": "buy", "fraction": 10.0}], r"fraction must be in \(0, 1\], got 10.0"),
        ([{"kind": "target", "fraction": 0.0}], r"fraction must be in \(0, 1\]"),
        ([{"kind": "buy", "percent": 0.5}], "must carry exactly one of shares, fraction or value"),
        ([{"kind": "buy", "shares": 1.0, "value": 10.0}], "exactly one of shares, fraction or value"),
        ([{"kind": "buy", "shares": -3.0}], "shares must be greater than 0"),
        ([{"kind": "sell", "value": -10.0}], "value must be greater than 0"),
        ([{"kind": "buy", "shares": 1.0, "limit": -1.0}], "limit must be greater than 0"),
    ],
)
def test_what_comes_back_from_the_sandbox_is_checked(raw, message):
    with pytest.raises(StrategyError, match=message):
        intents_from(raw)


def test_well_formed_intents_come_back_as_intents():
    [intent] = intents_from([{"kind": "target", "bar": 9, "fraction": 0.5, "tag": "entry"}])
    assert (intent.kind, intent.bar, intent.fraction, intent.shares, intent.tag) == (
        IntentKind.TARGET,
        9,
        0.5,
        None,
        "entry",
    )
