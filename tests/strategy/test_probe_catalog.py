"""The probe catalog: stable unique names, every family covered, causal long/flat signals, both backtest paths."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest

from core.backtest.engine import run_backtest
from core.backtest.vectorized import run_vectorized
from core.db.models.strategies import STRATEGY_FAMILIES
from core.strategy.api import BarData, LookAheadError, StrategyError, StrategyParamError, check_causal
from core.strategy.probe_catalog import (
    CATALOG,
    FAMILIES,
    OpeningRangeBreakout,
    ProbeDefinition,
    SmaCross,
    probe_named,
    probes_of_family,
)

OPEN_UTC = datetime(2025, 1, 21, 14, 30, tzinfo=UTC).timestamp()  # 09:30 New York (EST)
NAMES = [p.name for p in CATALOG]


def trend_then_revert(seed: int = 0, n: int = 390, start: float = OPEN_UTC) -> BarData:
    """One regular session of minute bars: up for the first half, then down past where it started."""
    rng = np.random.default_rng(seed)
    x = np.arange(n)
    drift = np.where(x < n // 2, 0.0006, -0.0009)
    close = 100 * np.exp(np.cumsum(drift + rng.normal(0, 0.0008, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0, 0.0004, n)) * close
    high, low = np.maximum(open_, close) + spread, np.minimum(open_, close) - spread
    return BarData.from_arrays("X", start + 60.0 * x, open_, high, low, close, np.full(n, 1000.0))


def random_sessions(days: int, seed: int) -> BarData:
    """``days`` regular sessions of a random walk, a day apart (so ORB sees several opening ranges)."""
    parts = [trend_then_revert(seed + d, start=OPEN_UTC + 86_400 * d) for d in range(days)]
    rng = np.random.default_rng(seed)
    scale = np.repeat(np.exp(rng.normal(0, 0.02, days)), 390)
    return BarData.from_arrays(
        "X", *(np.concatenate([getattr(p, c) for p in parts]) * (1 if c in ("time", "volume") else scale)
               for c in ("time", "open", "high", "low", "close", "volume"))
    )  # fmt: skip


def test_names_are_unique_stable_identifiers():
    assert len(NAMES) == len(set(NAMES))
    for name in NAMES:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name) and len(name) <= 100, name
    assert probe_named("sma_cross_10_30").params == {"fast": 10, "slow": 30}
    with pytest.raises(KeyError, match="no probe named"):
        probe_named("nope")


def test_every_family_has_at_least_two_probes_and_matches_the_schema():
    assert set(FAMILIES) == set(STRATEGY_FAMILIES)
    counts = Counter(p.family for p in CATALOG)
    assert all(counts[f] >= 2 for f in FAMILIES), counts
    for family in FAMILIES:
        assert len({p.strategy for p in probes_of_family(family)}) >= 2, family  # two ideas, not one tuned twice
    assert all(p.direction == "long" for p in CATALOG)


@pytest.mark.parametrize("probe", CATALOG, ids=NAMES)
def test_every_probe_is_causal(probe):
    check_causal(probe.build, random_sessions(2, seed=11))
    for cut in (100, 250):
        check_causal(probe.build, trend_then_revert(seed=3), cut=cut)


@pytest.mark.parametrize("probe", CATALOG, ids=NAMES)
def test_every_probe_enters_and_exits_on_a_trend_that_reverts(probe):
    entries, exits = probe.build().checked_signals(trend_then_revert())
    assert entries.any() and exits.any()
    run = run_vectorized(probe.build(), trend_then_revert())
    assert run.trades and all(t.size > 0 for t in run.trades)  # long only


@pytest.mark.parametrize("probe", CATALOG, ids=NAMES)
def test_too_few_bars_for_the_warm_up_give_no_signal_and_no_error(probe):
    strategy = probe.build()
    short = trend_then_revert(n=min(strategy.warmup_bars() - 1, 10))
    entries, _ = strategy.checked_signals(short)
    assert not entries.any()
    assert run_vectorized(probe.build(), short).trades == []


def test_definitions_declare_params_and_store_json_details():
    for probe in CATALOG:
        own = set(probe.strategy.params) - {"size"}
        assert own and set(probe.params) <= own, probe.name
        details = json.loads(json.dumps(probe.details()))
        assert details["family"] == probe.family and details["class_name"] == probe.strategy.__name__
        assert details["params"] == probe.build().values


def test_bad_definitions_are_refused_when_the_catalog_is_built():
    with pytest.raises(StrategyParamError, match="unknown parameter"):
        ProbeDefinition("x", "X", "trend", "", SmaCross, {"fastest": 3})
    with pytest.raises(ValueError, match="unknown family"):
        ProbeDefinition("x", "X", "astrology", "", SmaCross, {})
    with pytest.raises(StrategyError, match="shorter than slow"):
        SmaCross(fast=30, slow=10).checked_signals(trend_then_revert())


def test_a_strategy_that_peeks_is_still_caught():
    """The causality test above means something: a signal that reads the day's future fails it."""

    class Peeking(SmaCross):
        def signals(self, data):
            entries, exits = super().signals(data)
            return entries & (data.close < np.mean(data.close)), exits  # the mean includes later bars

    with pytest.raises(LookAheadError):
        check_causal(Peeking, trend_then_revert())


def test_opening_range_waits_for_the_range_and_ignores_pre_market():
    data = trend_then_revert()
    pre = 30  # half an hour of pre-market bars, far above the regular session's prices
    times = np.concatenate([OPEN_UTC - 60.0 * np.arange(pre, 0, -1), data.time])
    cols = {c: np.concatenate([np.full(pre, 500.0), getattr(data, c)]) for c in ("open", "high", "low", "close")}
    with_pre = BarData.from_arrays("X", times, *cols.values(), np.full(len(times), 1000.0))
    entries, exits = OpeningRangeBreakout(range_minutes=15).checked_signals(with_pre)
    assert not entries[: pre + 15].any() and not exits[: pre + 15].any()
    assert entries.any()  # the 500 pre-market high was not part of the range
    first = int(np.argmax(entries))
    assert data.close[first - pre] > data.high[:15].max()


@pytest.mark.parametrize("name", ["sma_cross_10_30", "opening_range_15", "bollinger_reversion_20_2", "roc_10"])
def test_vectorised_and_per_bar_paths_make_the_same_trades(name):
    probe = probe_named(name)
    data = random_sessions(3, seed=5)
    fast, slow = run_vectorized(probe.build(), data), run_backtest(probe.build(), data)
    assert len(fast.trades) == len(slow.trades) > 0
    for a, b in zip(fast.trades, slow.trades, strict=True):
        assert (a.entry_bar, a.exit_bar, a.exit_reason) == (b.entry_bar, b.exit_bar, b.exit_reason)
        assert (a.entry_price, a.exit_price, a.size) == (float(b.entry_price), float(b.exit_price), float(b.size))
    assert fast.final_cash == pytest.approx(float(slow.final_cash), abs=1e-6)
