"""A trader's strategy class backtested inside the sandbox: same numbers as in-process, failures contained."""

from __future__ import annotations

import threading
import time

import pytest

from core.backtest.strategy_ref import SandboxLimits, StrategyRef, run_detailed, run_runs
from core.backtest.sweep import run_one
from core.strategy.api import STRATEGY_FILENAME, StrategyError
from core.strategy.sandbox import StrategyCancelled, StrategyRejected, run_sandboxed
from tests.backtest.test_vectorized import walk
from tests.strategy.test_sandbox import _sandbox_children

CROSS = """\
from core.strategy.api import Param, Strategy
from core.strategy.indicators import sma


class Cross(Strategy):
    fast = Param(10, min=2, max=100)
    slow = Param(30, min=5, max=300)

    def init(self, data):
        self.f = self.indicator(sma(data.close, self.fast))
        self.s = self.indicator(sma(data.close, self.slow))

    def next(self, data):
        if self.fast == 13:
            raise ValueError("thirteen is unlucky")
        if self.f[-1] > self.s[-1] and self.position == 0:
            self.order_target(fraction=1.0)
        elif self.f[-1] < self.s[-1] and self.position > 0:
            self.order_target(shares=0)
"""

SIGNALS = """\
from core.strategy.api import Param, SignalStrategy
from core.strategy.indicators import sma


class Sig(SignalStrategy):
    fast = Param(10, min=2, max=100)
    slow = Param(40, min=5, max=300)

    def signals(self, data):
        f, s = sma(data.close, self.fast), sma(data.close, self.slow)
        return f > s, f < s
"""

SPINS = """\
from core.strategy.api import Strategy


class Spin(Strategy):
    def next(self, data):
        while True:
            pass
"""


def in_process(source: str, name: str) -> type:
    """The same class compiled here, for comparison (tests only: the application never does this)."""
    namespace: dict = {}
    exec(compile(source, STRATEGY_FILENAME, "exec"), namespace)
    return namespace[name]


def test_sandboxed_runs_match_the_same_class_in_process():
    data = walk(3_000, seed=4)
    runs = [(0, {"fast": 5, "slow": 20}), (1, {"fast": 8, "slow": 50})]
    sandboxed = run_runs(StrategyRef("Cross", source=CROSS), data, runs)
    local = [run_one(in_process(CROSS, "Cross"), data, i, p) for i, p in runs]
    assert [r.metrics for r in sandboxed] == [r.metrics for r in local]
    assert all(r.error is None and r.metrics["trade_count"] > 5 for r in sandboxed)


def test_a_run_that_raises_names_its_line_and_the_others_finish():
    data = walk(1_000, seed=5)
    out = run_runs(StrategyRef("Cross", source=CROSS), data, [(0, {"fast": 5}), (1, {"fast": 13}), (2, {"fast": 7})])
    assert out[1].metrics is None
    assert out[1].error == "ValueError: thirteen is unlucky (line 15 of the strategy)"
    assert out[0].metrics is not None and out[2].metrics is not None


def test_signal_strategies_take_the_fast_path_inside_the_sandbox():
    data = walk(5_000, seed=6)
    detail = run_detailed(StrategyRef("Sig", source=SIGNALS), data, {"fast": 6})
    local = run_one(in_process(SIGNALS, "Sig"), data, 0, {"fast": 6})
    assert detail["path"] == "vectorized"
    assert detail["metrics"] == local.metrics
    assert detail["params"] == {"size": 1.0, "fast": 6, "slow": 40}
    assert len(detail["trades"]) == local.metrics["trade_count"] > 0
    assert detail["equity"].shape == (5_000,)
    assert detail["metrics"]["buy_and_hold_return"] == pytest.approx(data.close[-1] / data.close[0] - 1)


def test_a_runaway_strategy_fails_every_run_of_its_call_with_its_line():
    data = walk(200, seed=7)
    out = run_runs(StrategyRef("Spin", source=SPINS), data, [(0, {}), (1, {})], limits=SandboxLimits(0.5, 512))
    assert [r.metrics for r in out] == [None, None]
    assert all("CPU" in r.error and "at line 6" in r.error for r in out)  # the `while True:` line


def test_detailed_run_errors_reach_the_caller_as_strategy_errors():
    data = walk(500, seed=8)
    with pytest.raises(StrategyError, match="line 15 of the strategy"):
        run_detailed(StrategyRef("Cross", source=CROSS), data, {"fast": 13})
    with pytest.raises(StrategyError, match="not a Strategy class"):
        run_detailed(StrategyRef("sma", source=CROSS), data, {})
    with pytest.raises(StrategyRejected, match="defines no class or function named 'Missing'"):
        run_detailed(StrategyRef("Missing", source=CROSS), data, {})


def test_only_trusted_drivers_are_accepted():
    with pytest.raises(ValueError, match="not a trusted sandbox driver"):
        run_sandboxed(CROSS, "Cross", (), driver="os:system")


def test_a_reference_is_source_or_module_never_both():
    with pytest.raises(ValueError):
        StrategyRef("Cross", source=CROSS, module="tests.backtest.test_vectorized")
    with pytest.raises(ValueError):
        StrategyRef("Cross")
    with pytest.raises(StrategyError, match="only in the sandbox"):
        StrategyRef("Cross", source=CROSS).trusted_class()
    ref = StrategyRef("SmaSignals", module="tests.backtest.test_vectorized")
    assert StrategyRef.from_snapshot(ref.snapshot()) == ref
    assert ref.trusted_class().__name__ == "SmaSignals"


def test_cancel_stops_a_running_sandboxed_backtest_at_once():
    cancel = threading.Event()
    timer = threading.Timer(0.8, cancel.set)
    timer.start()
    started = time.monotonic()
    with pytest.raises(StrategyCancelled):
        run_detailed(StrategyRef("Spin", source=SPINS), walk(200, seed=9), {}, limits=SandboxLimits(30, 512),
                     cancel=cancel)  # fmt: skip
    assert time.monotonic() - started < 25  # stopped by the cancel, not by its 30 s CPU budget
    assert _sandbox_children() == []  # and the child was killed and reaped
