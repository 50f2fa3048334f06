"""The deterministic family analysis (``core.strategy.family``): the probe catalog, hand-written snippets,
tie-breaking, and code that must not (and cannot) be run."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import core.strategy.probe_catalog as probe_catalog
from core.ai.contract import example_sources
from core.db.models.strategies import STRATEGY_FAMILIES
from core.strategy.family import TIE_ORDER, analyse_family
from tests.ai.sources import RSI_PER_BAR, SMA_CROSS, malicious

CATALOG_SOURCE = inspect.getsource(probe_catalog)


@pytest.mark.parametrize("probe", probe_catalog.CATALOG, ids=lambda p: p.name)
def test_every_probe_gets_its_catalog_family(probe: probe_catalog.ProbeDefinition) -> None:
    verdict = analyse_family(CATALOG_SOURCE, probe.strategy.__name__)
    assert verdict.family == probe.family, verdict.evidence
    assert verdict.source == "analysis" and verdict.reason.startswith(probe.family)


@pytest.mark.parametrize("probe", probe_catalog.CATALOG, ids=lambda p: p.name)
def test_the_code_decides_not_the_class_name(probe: probe_catalog.ProbeDefinition) -> None:
    name = probe.strategy.__name__
    anonymous = re.sub(rf"\b{name}\b", "Anonymous", CATALOG_SOURCE)
    assert analyse_family(anonymous, "Anonymous").family == probe.family


def _module(body: str, base: str = "SignalStrategy") -> str:
    return (
        "import numpy as np\nimport pandas as pd\n\nfrom core.strategy.api import Param, SignalStrategy, Strategy\n"
        "from core.strategy.indicators import atr, bollinger, ema, highest, lowest, macd, rsi, sma\n\n\n"
        f"class Mine({base}):\n" + body
    )


SNIPPETS = {
    "trend": _module(
        """\
    def signals(self, data):
        f = ema(data.close, 12)
        s = ema(data.close, 48)
        return f > s, f < s
"""
    ),
    "trend, with an ATR stop": _module(
        """\
    def init(self, data):
        self.fast = self.indicator(sma(data.close, 10))
        self.slow = self.indicator(sma(data.close, 40))
        self.atr = self.indicator(atr(data.high, data.low, data.close, 14))

    def next(self, data):
        if self.fast[-1] > self.slow[-1] and self.position == 0:
            self.buy(fraction=1.0, stop_loss=data.close[-1] - 2 * self.atr[-1])
        elif self.fast[-1] < self.slow[-1] and self.position > 0:
            self.order_target(shares=0)
""",
        base="Strategy",
    ),
    "breakout": _module(
        """\
    lookback = Param(20, min=2, max=200)

    def signals(self, data):
        close = pd.Series(data.close)
        top = pd.Series(data.high).rolling(self.lookback).max().shift(1).to_numpy()
        bottom = pd.Series(data.low).rolling(self.lookback).min().shift(1).to_numpy()
        return close.to_numpy() > top, close.to_numpy() < bottom
"""
    ),
    "momentum": _module(
        """\
    def signals(self, data):
        change = pd.Series(data.close).pct_change(10).to_numpy()
        return change > 0.02, change < 0
"""
    ),
    "mean_reversion": _module(
        """\
    window = Param(30, min=5, max=300)

    def signals(self, data):
        c = pd.Series(data.close)
        z = (c - c.rolling(self.window).mean()) / c.rolling(self.window).std()
        return (z < -2).to_numpy(), (z > 0).to_numpy()
"""
    ),
    "volatility": _module(
        """\
    def signals(self, data):
        a = atr(data.high, data.low, data.close, 14)
        calm = lowest(a, 100)
        with np.errstate(invalid="ignore"):
            return a > 1.5 * calm, a < calm * 1.1
"""
    ),
}


@pytest.mark.parametrize("name", list(SNIPPETS))
def test_hand_written_snippets(name: str) -> None:
    expected = name.split(",")[0]
    verdict = analyse_family(SNIPPETS[name])
    assert verdict.family == expected, [str(e) for e in verdict.evidence]


def test_the_generators_own_examples_and_test_sources() -> None:
    per_bar, signals = example_sources()
    assert analyse_family(per_bar).family == "trend"
    assert analyse_family(signals).family == "mean_reversion"  # RSI below an oversold level
    assert analyse_family(SMA_CROSS).family == "trend"
    assert analyse_family(RSI_PER_BAR).family == "mean_reversion"


def test_rsi_above_a_strength_level_is_momentum() -> None:
    code = _module(
        """\
    def init(self, data):
        self.r = self.indicator(rsi(data.close, 14))

    def next(self, data):
        if self.r[-1] > 55 and self.position == 0:
            self.order_target(fraction=1.0)
        elif self.r[-1] < 45 and self.position > 0:
            self.order_target(shares=0)
""",
        base="Strategy",
    )
    verdict = analyse_family(code)
    assert verdict.family == "momentum"
    assert any("RSI above a strength level" in str(e) and "line 13" in str(e) for e in verdict.evidence)


def test_ties_go_to_the_more_specific_family() -> None:
    assert TIE_ORDER[0] == "mean_reversion" and TIE_ORDER[-1] == "trend"
    assert set(TIE_ORDER) == set(STRATEGY_FAMILIES)
    code = _module(
        """\
    def signals(self, data):
        a = sma(data.close, 20)
        b = atr(data.high, data.low, data.close, 14)
        return a + b, a
"""
    )
    verdict = analyse_family(code)
    assert verdict.scores["trend"] == verdict.scores["volatility"] == 2
    assert verdict.family == "volatility"


def test_no_evidence_is_no_family() -> None:
    hold = _module(
        """\
    def next(self, data):
        if self.position == 0:
            self.order_target(fraction=1.0)
""",
        base="Strategy",
    )
    verdict = analyse_family(hold)
    assert verdict.family is None and verdict.reason == "no family evidence in the code"
    assert all(score == 0 for score in verdict.scores.values())


def test_bad_input_never_raises() -> None:
    assert analyse_family("def broken(:\n").family is None
    assert "does not parse" in analyse_family("def broken(:\n").reason
    assert analyse_family(SMA_CROSS, "NoSuchClass").reason == "no class 'NoSuchClass' in the code"
    assert analyse_family("").family is None


def test_the_analysis_never_runs_the_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for code in malicious(str(marker)).values():
        analyse_family(code)
    assert not marker.exists()


def test_evidence_names_lines() -> None:
    verdict = analyse_family(SNIPPETS["breakout"])
    lines = {e.line for e in verdict.evidence if e.family == "breakout" and e.line}
    source_lines = SNIPPETS["breakout"].splitlines()
    assert all("rolling" in source_lines[line - 1] or "return" in source_lines[line - 1] for line in lines)
