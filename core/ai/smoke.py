"""The smoke backtest: run a generated strategy once, in the sandbox, on a short series, before offering it.

Passing the sandbox validator says the code is allowed; it does not say it runs. A model's typical
mistakes (an indicator called with the wrong arguments, ``x[-1]`` read before the first bar, a ``signals``
that returns the wrong shape, NaN compared without care) only show when the class runs on bars. So each
candidate is backtested exactly as the Backtest panel would run it (``core.backtest.strategy_ref
.run_detailed``: the trader's class in a confined strategy host with our engine as its trusted driver), never in
this process.

The bars are a seeded geometric random walk (``core.market.simulated.RandomWalkBarGenerator``: every bar
valid, deterministic, no database needed) starting at a New York regular-session open, or bars the caller
passes (the symbol's stored history, when the editor has it). A strategy that makes no trade on them is not
refused, only reported: a quiet rule on a random walk can be correct.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from core.ai.errors import AiCancelled, AiError
from core.backtest.engine import BacktestConfig
from core.backtest.strategy_ref import SandboxLimits, StrategyRef, run_detailed
from core.domain.timeframes import Timeframe
from core.market.simulated import RandomWalkBarGenerator
from core.strategy.api import BarData, StrategyError
from core.strategy.sandbox import SandboxError, StrategyCancelled

SMOKE_SYMBOL = "SMOKE"
SMOKE_START = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)  # 09:30 New York, the first session of 2025
_KEPT_METRICS = ("total_return", "max_drawdown", "trade_count", "win_rate", "exposure", "sharpe", "bar_count")


@dataclass(frozen=True)
class SmokeReport:
    """How the smoke backtest went. ``error`` None means it ran to the end; then ``metrics`` holds a few of the
    run's metrics (JSON-safe) and ``warnings`` anything worth telling the trader (no trades, say)."""

    bars: int
    timeframe: str
    simulated: bool  # True: the seeded random walk; False: bars the caller passed
    seconds: float
    error: str | None = None
    path: str | None = None  # "vectorized" or "per_bar"
    metrics: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def trade_count(self) -> int:
        return int(self.metrics.get("trade_count") or 0)


def simulated_bars(n: int, seed: int, timeframe: str = Timeframe.MIN_1) -> BarData:
    """``n`` consecutive bars of a seeded random walk (the same bars for the same arguments).

    Built afresh each time (a few thousand bars take well under a millisecond) rather than cached: the arrays
    must stay writable, because the fast path's compiled code is cached for writable arrays only and the
    sandbox may not compile another variant (its cache files are out of the child's reach)."""
    arrays = RandomWalkBarGenerator(SMOKE_SYMBOL, SMOKE_START, seed=seed, timeframe=timeframe).history_arrays(n)
    return BarData.from_arrays(
        SMOKE_SYMBOL, arrays.t, arrays.open, arrays.high, arrays.low, arrays.close, arrays.volume
    )


def smoke_test(
    code: str,
    class_name: str,
    bars: BarData,
    *,
    timeframe: str,
    simulated: bool,
    cpu_seconds: float,
    memory_mb: int,
    cancel: threading.Event | None = None,
) -> SmokeReport:
    """Backtest ``class_name`` from ``code`` with its default parameters in the sandbox. A failure of the
    strategy (it raised, ran out of time or memory, broke a rule at run time) is the report's ``error``, with
    the strategy line when known; a failure of the sandbox itself raises :class:`AiError` (feeding it back to
    the model would not help); a cancel raises :class:`AiCancelled`. Blocks for up to about ``2 * cpu_seconds
    + 5`` seconds."""
    started = time.perf_counter()
    common: dict[str, Any] = {"bars": len(bars), "timeframe": timeframe, "simulated": simulated}
    try:
        detail = run_detailed(
            StrategyRef(class_name, source=code), _writable(bars), {}, BacktestConfig(),
            SandboxLimits(cpu_seconds_per_run=cpu_seconds, memory_mb=memory_mb), cancel,
        )  # fmt: skip
    except StrategyCancelled as exc:
        raise AiCancelled("cancelled while the strategy was being smoke-tested") from exc
    except SandboxError as exc:
        raise AiError(f"the smoke backtest could not run: {exc}") from exc
    except StrategyError as exc:
        return SmokeReport(**common, seconds=time.perf_counter() - started, error=str(exc))
    metrics = {k: detail["metrics"].get(k) for k in _KEPT_METRICS if k in detail.get("metrics", {})}
    warnings = []
    if not metrics.get("trade_count"):
        kind = "simulated" if simulated else "given"
        warnings.append(f"the strategy made no trades in the smoke backtest ({len(bars):,} {kind} {timeframe} bars)")
    return SmokeReport(**common, seconds=time.perf_counter() - started, path=detail.get("path"), metrics=metrics,
                       warnings=tuple(warnings))  # fmt: skip


def _writable(bars: BarData) -> BarData:
    """``bars`` with writable columns (copies only where needed): read-only arrays (a memory-mapped or frozen
    cache, say) would make the fast path compile a new variant, which the sandbox cannot do."""
    columns = ("time", "open", "high", "low", "close", "volume")
    if all(getattr(getattr(bars, c), "flags", None) is not None and getattr(bars, c).flags.writeable for c in columns):
        return bars
    return BarData.from_arrays(bars.symbol, *(np.array(getattr(bars, c), dtype=np.float64) for c in columns))
