"""The backtester's side of the sandbox: functions a strategy host calls with a trader's strategy class.

A trader's class must run in a confined strategy host (see ``core.strategy.sandbox``), but the engine that
runs it is ours. So the host executes the trader's source, takes the class it defines, and hands it to one
of these functions (named in ``host.TRUSTED_DRIVERS``): the engine runs next to the strategy, under the same
confinement and limits, and only plain data (metrics, arrays, trade rows; ``wire``) crosses back to the
application. Nothing here imports the database or Qt.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.backtest.engine import BacktestConfig, run_backtest
from core.backtest.sweep import run_one
from core.backtest.vectorized import SignalStrategy, run_vectorized
from core.strategy.api import BarData, Strategy, StrategyError


def before_limits() -> None:
    """Load the fast path's compiled code now: it lives in cache files the audit hook will not let the
    child read once the strategy runs (compiling it afresh would need far more memory than the limit)."""

    class _Warm(SignalStrategy):
        def signals(self, data: BarData) -> tuple[np.ndarray, np.ndarray]:
            return np.array([True, False, False]), np.array([False, True, False])

    ones = np.ones(3)
    run_vectorized(_Warm(), BarData.from_arrays("WARM", np.arange(3.0), ones, ones, ones, ones, ones))


def _strategy_class(target: Any) -> type[Strategy]:
    if not (isinstance(target, type) and issubclass(target, Strategy)):
        raise StrategyError(f"{getattr(target, '__name__', 'the entry')} is not a Strategy class")
    return target


def run_runs(
    target: Any, data: BarData, runs: list[tuple[int, dict[str, Any]]], config: BacktestConfig | None
) -> list[dict[str, Any]]:
    """Each ``(index, params)`` run's metrics (or its error), as the sweep computes them in-process."""
    cls = _strategy_class(target)
    return [run_one(cls, data, index, params, config).__dict__ for index, params in runs]


def run_detailed(target: Any, data: BarData, params: dict[str, Any], config: BacktestConfig | None) -> dict[str, Any]:
    """One run with everything a result page shows: curves, trades, metrics, the path taken."""
    cls = _strategy_class(target)
    strategy = cls(**params)
    cfg = config or BacktestConfig()
    fast = isinstance(strategy, SignalStrategy) and not cfg.fractional and cfg.fill_model.max_volume_fraction is None
    # (the isinstance again: the type checker does not carry it through ``fast``)
    run = run_vectorized(strategy, data, cfg) if fast and isinstance(strategy, SignalStrategy) else run_backtest(
        strategy, data, cfg
    )
    trades = [
        {
            "entry_bar": int(t.entry_bar), "exit_bar": int(t.exit_bar), "entry_time": float(t.entry_time),
            "exit_time": float(t.exit_time), "size": float(t.size), "entry_price": float(t.entry_price),
            "exit_price": float(t.exit_price), "pnl": float(t.pnl), "return_pct": float(t.return_pct),
            "fees": float(t.fees), "exit_reason": str(t.exit_reason),
        }
        for t in run.trades
    ]  # fmt: skip
    return {
        "path": "vectorized" if fast else "per_bar",
        "params": dict(strategy.values),
        "times": np.asarray(run.times, dtype=np.float64),
        "equity": np.asarray(run.equity, dtype=np.float64),
        "position": np.asarray(run.position, dtype=np.float64),
        "trades": trades,
        "metrics": run.metrics(data.close).to_dict(),  # buy-and-hold of the traded symbol for comparison
        "final_cash": str(run.final_cash),
    }
