"""The fast path: long/flat strategies whose decisions are entry and exit signals, compiled with numba.

A :class:`SignalStrategy` computes boolean ``entries`` and ``exits`` for the whole
series (decided at each bar's close, from that bar and earlier ones). The same
class runs on the per-bar engine (its ``next`` reads the signals bar by bar) and
here, where one compiled loop replays the engine's rules on floats:

* a signal at bar i's close becomes a market order filled at bar i+1's open;
* the price is the fill model's: slippage against the trader, rounded to a tick
  against the trader ($0.01, or $0.0001 below $1), clamped into the bar;
* entries buy ``size`` of equity in whole shares, trimmed to what the ledger
  would reserve (the close plus its 3% collar); exits sell everything;
* commission as the fill model's (per share with a minimum, or a percent), in
  cents rounded half up; an open position is valued out at the last close.

Tick and cent rounding is done on integers of ticks and cents, so prices equal
the per-bar engine's Decimal prices converted to float; a test holds both paths
to the same trades and final equity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from core.backtest.engine import BacktestConfig
from core.backtest.metrics import Metrics, Trade, TradeColumns, compute_metrics
from core.broker.fill_costs import (
    BpsSlippage,
    FixedSlippage,
    NoSlippage,
    PercentCommission,
    PerShareCommission,
    ZeroCommission,
)
from core.domain.money import MARKET_COLLAR
from core.strategy.api import BarData, SignalStrategy, StrategyError

_SLIP_NONE, _SLIP_FIXED, _SLIP_BPS = 0, 1, 2
_FEE_ZERO, _FEE_PER_SHARE, _FEE_PERCENT = 0, 1, 2


@dataclass
class VectorRun:
    times: np.ndarray
    equity: np.ndarray
    position: np.ndarray
    entry_bar: np.ndarray
    exit_bar: np.ndarray
    qty: np.ndarray
    entry_price: np.ndarray
    exit_price: np.ndarray
    pnl: np.ndarray
    fees: np.ndarray
    end_of_data: np.ndarray  # per trade: closed at the last close rather than by an exit signal
    final_cash: float
    starting_cash: float

    @property
    def trades(self) -> list[Trade]:
        t = self.times
        return [
            Trade(
                entry_time=float(t[e]), exit_time=float(t[x]), entry_price=float(ep), exit_price=float(xp),
                size=float(q), pnl=float(p), return_pct=float(p / (ep * q)) if ep * q else 0.0,
                exit_reason="end_of_data" if eod else "signal", entry_bar=int(e), exit_bar=int(x), fees=float(f),
            )
            for e, x, q, ep, xp, p, f, eod in zip(
                self.entry_bar, self.exit_bar, self.qty, self.entry_price, self.exit_price, self.pnl, self.fees,
                self.end_of_data, strict=True,
            )
        ]  # fmt: skip

    def metrics(self, benchmark_close: np.ndarray | None = None) -> Metrics:
        cost = self.entry_price * self.qty
        columns = TradeColumns(
            self.pnl, np.divide(self.pnl, cost, out=np.zeros_like(self.pnl), where=cost != 0),
            self.times[self.entry_bar], self.times[self.exit_bar], self.entry_bar, self.exit_bar,
        )  # fmt: skip
        return compute_metrics(
            self.equity, self.times, columns, starting_cash=self.starting_cash,
            benchmark_close=benchmark_close, exposure=self.position,
        )  # fmt: skip


def run_vectorized(strategy: SignalStrategy, data: BarData, config: BacktestConfig | None = None) -> VectorRun:
    """The same run as ``run_backtest(strategy, data, config)``, in one compiled pass."""
    cfg = config or BacktestConfig()
    if cfg.fractional:
        raise StrategyError("the fast path trades whole shares; use the per-bar engine for fractional shares")
    if cfg.fill_model.max_volume_fraction is not None:
        raise StrategyError("the fast path has no volume cap; use the per-bar engine")
    slip_kind, slip = _slippage(cfg)
    fee_kind, fee_a, fee_b = _commission(cfg)
    entries, exits = strategy.checked_signals(data)
    cols = [np.ascontiguousarray(getattr(data, k), dtype=np.float64) for k in ("open", "high", "low", "close")]
    # numba types a compiled function's __call__ as taking no arguments; it takes the Python function's
    out = _simulate(  # type: ignore[call-arg]
        *cols, entries, exits, float(strategy.size), float(cfg.starting_cash), 1.0 + float(MARKET_COLLAR),
        slip_kind, slip, fee_kind, fee_a, fee_b, cfg.close_at_end,
    )  # fmt: skip
    equity, position, trades, count, cash = out
    t = trades[:count]
    return VectorRun(
        np.asarray(data.time, dtype=np.float64), equity, position, t[:, 0].astype(np.int64), t[:, 1].astype(np.int64),
        t[:, 2], t[:, 3], t[:, 4], t[:, 5], t[:, 6], t[:, 7] > 0, float(cash), float(cfg.starting_cash),
    )  # fmt: skip


def _slippage(cfg: BacktestConfig) -> tuple[int, float]:
    model = cfg.fill_model.slippage
    if isinstance(model, NoSlippage):
        return _SLIP_NONE, 0.0
    if isinstance(model, FixedSlippage):
        return _SLIP_FIXED, float(model.per_share)
    if isinstance(model, BpsSlippage):
        return _SLIP_BPS, float(model.bps)
    raise StrategyError(f"the fast path does not know the slippage model {type(model).__name__}")


def _commission(cfg: BacktestConfig) -> tuple[int, float, float]:
    model = cfg.fill_model.commission
    if isinstance(model, ZeroCommission):
        return _FEE_ZERO, 0.0, 0.0
    if isinstance(model, PerShareCommission):
        return _FEE_PER_SHARE, float(model.per_share), float(model.minimum)
    if isinstance(model, PercentCommission):
        return _FEE_PERCENT, float(model.percent), 0.0
    raise StrategyError(f"the fast path does not know the commission model {type(model).__name__}")


@numba.njit(cache=True)
def _ticks(price: float) -> float:
    return 100.0 if price >= 1.0 else 10000.0  # ticks per dollar: $0.01, or $0.0001 below $1


@numba.njit(cache=True)
def _round_tick(price: float, up: bool) -> float:
    per = _ticks(price)
    scaled = round(price * per, 6)  # absorb binary noise before rounding to a tick, as Decimal(repr()) would
    return (math.ceil(scaled) if up else math.floor(scaled)) / per


@numba.njit(cache=True)
def _fill_price(o: float, hi: float, lo: float, buy: bool, slip_kind: int, slip: float) -> float:
    p = o
    if slip_kind == 1:
        p = o + slip if buy else o - slip
    elif slip_kind == 2:
        p = o + o * slip / 10000.0 if buy else o - o * slip / 10000.0
    p = _round_tick(p, buy)
    lo_t, hi_t = _round_tick(lo, True), _round_tick(hi, False)
    if lo_t > hi_t:
        q = min(max(p, lo), hi)
        per = _ticks(q)
        return math.floor(round(q * per, 6) + 0.5) / per
    return min(max(p, lo_t), hi_t)


@numba.njit(cache=True)
def _fee(price: float, qty: float, kind: int, a: float, b: float) -> float:
    if kind == 0:
        return 0.0
    amount = max(a * qty, b) if kind == 1 else price * qty * a / 100.0
    return math.floor(round(amount * 100.0, 6) + 0.5) / 100.0  # cents, half up


@numba.njit(cache=True)
def _simulate(o, h, lo, c, entries, exits, size, cash, collar, slip_kind, slip, fee_kind, fee_a, fee_b, close_end):
    n = len(c)
    equity = np.empty(n)
    position = np.empty(n)
    trades = np.empty((n // 2 + 2, 8))
    count = 0
    pos = 0.0
    want = 0.0  # shares ordered at the last close: > 0 buy, < 0 sell, filled at this bar's open
    entry_bar, entry_price, fees = 0, 0.0, 0.0
    for i in range(n):
        if want > 0:
            p = _fill_price(o[i], h[i], lo[i], True, slip_kind, slip)
            f = _fee(p, want, fee_kind, fee_a, fee_b)
            cash -= want * p + f
            pos, entry_bar, entry_price, fees = want, i, p, f
        elif want < 0:
            p = _fill_price(o[i], h[i], lo[i], False, slip_kind, slip)
            f = _fee(p, pos, fee_kind, fee_a, fee_b)
            cash += pos * p - f
            fees += f
            trades[count, 0], trades[count, 1], trades[count, 2] = entry_bar, i, pos
            trades[count, 3], trades[count, 4] = entry_price, p
            trades[count, 5], trades[count, 6], trades[count, 7] = pos * (p - entry_price) - fees, fees, 0.0
            count += 1
            pos = 0.0
        want = 0.0
        value = cash + pos * c[i]
        equity[i] = value
        position[i] = pos
        if entries[i] and pos == 0.0:
            target = math.floor(value * size / c[i])
            affordable = math.floor(cash / (c[i] * collar))
            if target > 0 and affordable > 0:
                want = min(target, affordable)
        elif exits[i] and pos > 0.0:
            want = -1.0
    if close_end and pos > 0.0:
        p = c[n - 1]
        f = _fee(p, pos, fee_kind, fee_a, fee_b)
        cash += pos * p - f
        fees += f
        trades[count, 0], trades[count, 1], trades[count, 2] = entry_bar, n - 1, pos
        trades[count, 3], trades[count, 4] = entry_price, p
        trades[count, 5], trades[count, 6], trades[count, 7] = pos * (p - entry_price) - fees, fees, 1.0
        count += 1
        equity[n - 1] = cash
    return equity, position, trades, count, cash
