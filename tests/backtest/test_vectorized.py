"""The compiled signal path agrees with the per-bar engine: same trades, same prices, same money."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from core.backtest.engine import BacktestConfig, run_backtest
from core.backtest.vectorized import SignalStrategy, run_vectorized
from core.broker.fill_costs import BpsSlippage, FixedSlippage, PercentCommission, PerShareCommission
from core.broker.fill_model import FillModel
from core.strategy.api import BarData, Param, StrategyError


def walk(n: int, seed: int, start: float = 100.0, vol: float = 0.01) -> BarData:
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0, vol, n)))
    open_ = np.concatenate([[start], close[:-1]]) * (1 + rng.normal(0, vol / 5, n))
    high = np.maximum(open_, close) * (1 + abs(rng.normal(0, vol / 3, n)))
    low = np.minimum(open_, close) * (1 - abs(rng.normal(0, vol / 3, n)))
    return BarData.from_arrays("X", 60.0 * np.arange(n), open_, high, low, close, np.full(n, 1e6))


def sma(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    c = np.cumsum(np.insert(x, 0, 0.0))
    out[n - 1 :] = (c[n:] - c[:-n]) / n
    return out


class SmaSignals(SignalStrategy):
    fast = Param(10, min=2)
    slow = Param(50, min=3)

    def signals(self, data):
        f, s = sma(data.close, self.fast), sma(data.close, self.slow)
        with np.errstate(invalid="ignore"):
            return f > s, f < s


def assert_same(per_bar, fast) -> None:
    trades = per_bar.trades
    assert len(trades) == len(fast.qty) > 5
    assert [(t.entry_bar, t.exit_bar) for t in trades] == list(zip(fast.entry_bar, fast.exit_bar, strict=True))
    assert [float(t.size) for t in trades] == fast.qty.tolist()
    assert [float(t.entry_price) for t in trades] == fast.entry_price.tolist()
    assert [float(t.exit_price) for t in trades] == fast.exit_price.tolist()
    assert [t.exit_reason for t in trades] == ["end_of_data" if e else "signal" for e in fast.end_of_data]
    assert fast.final_cash == pytest.approx(float(per_bar.final_cash), abs=1e-6)
    assert np.allclose(fast.equity, per_bar.equity, rtol=0, atol=1e-6)
    assert np.array_equal(fast.position, per_bar.position)


@pytest.mark.parametrize(
    "fill_model",
    [
        FillModel(),
        FillModel(slippage=BpsSlippage(Decimal(5)), commission=PerShareCommission(Decimal("0.005"), Decimal(1))),
        FillModel(slippage=FixedSlippage(Decimal("0.02")), commission=PercentCommission(Decimal("0.1"))),
    ],
)
def test_both_paths_make_the_same_trades_at_the_same_prices(fill_model):
    data = walk(20_000, seed=4)
    config = BacktestConfig(fill_model=fill_model)
    strategy = SmaSignals(size=0.9)
    assert_same(run_backtest(strategy, data, config), run_vectorized(SmaSignals(size=0.9), data, config))


def test_sub_dollar_prices_use_the_smaller_tick():
    data = walk(5_000, seed=7, start=0.8, vol=0.004)
    assert data.close.min() < 1 < data.close.max() or data.close.max() < 1
    assert_same(run_backtest(SmaSignals(), data), run_vectorized(SmaSignals(), data))


def test_the_fast_path_reports_metrics_like_the_engine():
    data = walk(10_000, seed=2)
    slow, fast = (
        run_backtest(SmaSignals(), data).metrics(data.close),
        run_vectorized(SmaSignals(), data).metrics(data.close),
    )
    for name in ("total_return", "max_drawdown", "win_rate", "trade_count", "exposure", "sharpe"):
        assert getattr(fast, name) == pytest.approx(getattr(slow, name), rel=1e-9, abs=1e-12), name


def test_what_the_fast_path_cannot_model_is_refused():
    data = walk(100, seed=1)
    with pytest.raises(StrategyError, match="whole shares"):
        run_vectorized(SmaSignals(), data, BacktestConfig(fractional=True))
    with pytest.raises(StrategyError, match="volume cap"):
        run_vectorized(SmaSignals(), data, BacktestConfig(fill_model=FillModel(max_volume_fraction=Decimal("0.1"))))

    class Broken(SignalStrategy):
        def signals(self, data):
            return np.ones(3, bool), np.zeros(3, bool)

    with pytest.raises(StrategyError, match="two boolean arrays of 100 bars"):
        run_vectorized(Broken(), data)
