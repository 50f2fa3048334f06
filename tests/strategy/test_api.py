"""The Strategy API: declared parameters, series that end at the current bar, intents, the causality check."""

from __future__ import annotations

import numpy as np
import pytest

from core.strategy.api import (
    BarData,
    IntentKind,
    LookAheadError,
    Param,
    ParamGrid,
    Strategy,
    StrategyError,
    StrategyParamError,
    check_causal,
)


def rolling_mean(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    c = np.cumsum(np.insert(x, 0, 0.0))
    out[n - 1 :] = (c[n:] - c[:-n]) / n
    return out


def walk(n: int = 300, seed: int = 0) -> BarData:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    t = 1_700_000_000 + 60.0 * np.arange(n)
    return BarData.from_arrays("X", t, open_, np.maximum(open_, close) + 0.1, np.minimum(open_, close) - 0.1, close,
                               np.full(n, 1000.0))  # fmt: skip


class Cross(Strategy):
    fast = Param(5, min=2, max=50, doc="fast average")
    slow = Param(20, min=5, max=200)
    mode = Param("long", choices=("long", "flat"))

    def init(self, data):
        self.f = self.indicator(rolling_mean(data.close, self.fast), "fast")
        self.s = self.indicator(rolling_mean(data.close, self.slow), "slow")

    def next(self, data):
        if np.isnan(self.s[-1]):
            return
        if self.f[-1] > self.s[-1] and self.position == 0:
            self.order_target(fraction=1.0)
        elif self.f[-1] < self.s[-1] and self.position > 0:
            self.order_target(shares=0)


def test_parameters_are_declared_checked_and_carried():
    assert set(Cross.params) == {"fast", "slow", "mode"}
    assert Cross.params["fast"].doc == "fast average" and Cross.params["fast"].type is int
    s = Cross(fast=7)
    assert (s.fast, s.slow, s.mode) == (7, 20, "long")
    with pytest.raises(StrategyParamError, match="at least 2"):
        Cross(fast=1)
    with pytest.raises(StrategyParamError, match="whole number"):
        Cross(fast=2.5)
    with pytest.raises(StrategyParamError, match="one of long, flat"):
        Cross(mode="short")
    with pytest.raises(StrategyParamError, match="unknown parameter"):
        Cross(speed=3)


def test_next_sees_only_closed_bars():
    class Peeker(Strategy):
        def next(self, data):
            self.seen = (data.close[-1], len(data.close), data.close.values.copy())
            if self.bar_index == 3:
                data.close[4]  # the next bar has not closed

    data = walk(10)
    s = Peeker()
    lagged = s.prepare(data)
    s.step(2, lagged)
    assert s.seen[0] == data.close[2] and s.seen[1] == 3 and np.array_equal(s.seen[2], data.close[:3])
    with pytest.raises(LookAheadError, match="future bar"):
        s.step(3, lagged)


def test_indicators_read_like_bars():
    data = walk(60)
    s = Cross()
    lagged = s.prepare(data)
    s.step(30, lagged)
    assert s.f[-1] == pytest.approx(np.mean(data.close[26:31]))
    assert s.f[-2] == pytest.approx(np.mean(data.close[25:30]))
    with pytest.raises(IndexError):
        s.f[-32]
    with pytest.raises(LookAheadError):
        s.f[31]


def test_intents_are_collected_per_bar_and_checked():
    data = walk(300)
    s = Cross()
    lagged = s.prepare(data)
    kinds = []
    for i in range(len(data)):
        kinds += [(i, intent.kind, intent.fraction, intent.shares) for intent in s.step(i, lagged)]
        if kinds and kinds[-1][0] == i:
            s.account.position = 10.0 if kinds[-1][2] == 1.0 else 0.0  # what a runner would report back
    assert kinds and all(k is IntentKind.TARGET for _, k, _, _ in kinds)
    assert kinds[0][2] == 1.0 and kinds[1][3] == 0  # in, then out
    with pytest.raises(StrategyError, match="exactly one"):
        s.buy(1, fraction=0.5)
    with pytest.raises(StrategyError, match=r"buy\(shares=-1\): shares must be a finite number > 0"):
        s.buy(-1)
    with pytest.raises(StrategyError, match="limit must be a price"):
        s.buy(1, limit=0)


def test_a_future_reading_indicator_is_refused():
    class Cheat(Strategy):
        def init(self, data):
            self.tomorrow = self.indicator(np.roll(data.close, -1), "tomorrow")

        def next(self, data):
            pass

    check_causal(Cross, walk(200))  # honest indicators pass
    with pytest.raises(LookAheadError, match="'tomorrow' at bar"):
        check_causal(Cheat, walk(200))


def test_param_grid_checks_every_assignment():
    grid = ParamGrid(Cross, {"fast": [5, 10], "slow": [20, 50, 100]})
    assert len(list(grid.assignments())) == 6
    with pytest.raises(StrategyParamError):
        list(ParamGrid(Cross, {"fast": [1]}).assignments())
    with pytest.raises(StrategyParamError, match="no parameter"):
        list(ParamGrid(Cross, {"speed": [1]}).assignments())
