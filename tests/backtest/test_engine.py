"""The per-bar backtester: next-bar fills through the shared fill model, the ledger's money, round trips."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from core.backtest.engine import BacktestConfig, run_backtest
from core.broker.fill_costs import PerShareCommission
from core.broker.fill_model import FillModel
from core.domain.orders import OrderSide
from core.strategy.api import BarData, Param, Strategy


def bars(opens, highs, lows, closes) -> BarData:
    n = len(closes)
    return BarData.from_arrays("X", 60.0 * np.arange(n), opens, highs, lows, closes, np.full(n, 1e6))


def walk(n: int, seed: int = 0) -> BarData:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]]) * (1 + rng.normal(0, 0.001, n))
    high = np.maximum(open_, close) * 1.002
    low = np.minimum(open_, close) * 0.998
    return BarData.from_arrays("X", 60.0 * np.arange(n), open_, high, low, close, np.full(n, 1e6))


class Script(Strategy):
    """Places the intents a test lists, at the bars it names."""

    def __init__(self, plan, **kw):
        super().__init__(**kw)
        self.plan = plan

    def next(self, data):
        for action in self.plan.get(self.bar_index, []):
            action(self)


def test_a_market_order_fills_at_the_next_bar_open_never_at_its_own_bar():
    data = bars([10, 11, 12, 13], [10.5, 11.5, 12.5, 13.5], [9.5, 10.5, 11.5, 12.5], [10.2, 11.2, 12.2, 13.2])
    run = run_backtest(Script({0: [lambda s: s.buy(10)], 2: [lambda s: s.sell(10)]}), data)
    assert [(f.bar, f.side, f.qty, f.price) for f in run.fills] == [
        (1, OrderSide.BUY, Decimal(10), Decimal("11")),
        (3, OrderSide.SELL, Decimal(10), Decimal("13")),
    ]
    assert run.final_cash == Decimal("100020")
    trade = run.trades[0]
    assert (trade.entry_bar, trade.exit_bar, trade.pnl, trade.exit_reason) == (1, 3, Decimal(20), "signal")
    assert run.equity.tolist() == [100000, 100000 + 10 * 11.2 - 110, 100000 + 10 * 12.2 - 110, 100020]


def test_commission_and_exact_cost_basis_follow_the_ledger():
    data = bars([10, 10, 12, 12, 15], [10] * 2 + [12] * 2 + [15], [10] * 2 + [12] * 2 + [15], [10, 10, 12, 12, 15])
    fees = FillModel(commission=PerShareCommission(Decimal("0.01"), minimum=Decimal("1")))
    plan = {0: [lambda s: s.buy(30)], 1: [lambda s: s.sell(10)], 3: [lambda s: s.sell(20)]}
    run = run_backtest(Script(plan), data, BacktestConfig(fill_model=fees))
    # buy 30 @10 (fee 1), sell 10 @12 (fee 1), sell 20 @15 (fee 1): pnl = 20 + 100 - 3
    assert run.trades[0].pnl == Decimal(117) and run.trades[0].fees == Decimal(3)
    assert run.final_cash == Decimal(100117)
    assert run.trades[0].size == Decimal(30) and run.trades[0].exit_price == Decimal("14")


def test_limit_and_stop_orders_use_the_bar_range():
    data = bars([10, 10, 9, 9, 12], [10.2, 10.1, 9.2, 9.1, 12.5], [9.9, 9.6, 8.8, 8.9, 11.8], [10, 9.8, 9, 9, 12])
    plan = {0: [lambda s: s.buy(5, limit=9.0)], 3: [lambda s: s.sell(5, stop=11.0)]}
    run = run_backtest(Script(plan), data)
    buy, sell = run.fills
    assert (buy.bar, buy.price) == (2, Decimal("9.0"))  # the low reached the limit on bar 2
    assert (sell.bar, sell.price) == (4, Decimal("12"))  # gapped through the stop: the worse open


def test_what_the_ledger_would_refuse_is_recorded_not_traded():
    data = walk(20)
    plan = {
        1: [lambda s: s.sell(5)],  # nothing held
        2: [lambda s: s.order_target(shares=-5)],  # a short
        3: [lambda s: s.buy(10_000_000)],  # more than the cash: trimmed to what is affordable
    }
    run = run_backtest(Script(plan), data)
    assert [r.bar for r in run.rejections] == [1, 2]
    assert "only 0 held" in run.rejections[0].reason and "shorting" in run.rejections[1].reason
    # Trimmed as the ledger reserves a market buy: the last close plus its 3% collar must fit in the cash.
    assert 0 < run.fills[0].qty * Decimal(repr(float(data.close[2]))) * Decimal("1.03") <= Decimal(100000)


class Cross(Strategy):
    fast = Param(5, min=2)
    slow = Param(20, min=3)

    def init(self, data):
        c = np.cumsum(np.insert(data.close, 0, 0.0))

        def sma(n):
            out = np.full(len(data.close), np.nan)
            out[n - 1 :] = (c[n:] - c[:-n]) / n
            return out

        self.f, self.s = self.indicator(sma(self.fast)), self.indicator(sma(self.slow))

    def next(self, data):
        if np.isnan(self.s[-1]):
            return
        if self.f[-1] > self.s[-1] and self.position == 0:
            self.order_target(fraction=0.95)
        elif self.f[-1] < self.s[-1] and self.position > 0:
            self.order_target(shares=0)


def test_a_crossover_backtest_is_consistent():
    data = walk(3000, seed=3)
    run = run_backtest(Cross(), data)
    assert len(run.trades) > 10
    assert all(t.entry_bar < t.exit_bar for t in run.trades)
    # Flat at the end: final cash is the start plus every trade's P&L, and the curve ends there.
    assert run.final_cash == run.starting_cash + sum((t.pnl for t in run.trades), Decimal(0))
    assert run.equity[-1] == pytest.approx(float(run.final_cash))
    # Each fill happened on a bar after the one whose close decided it.
    decided = {t.entry_bar - 1 for t in run.trades}
    assert all(run.position[b] == 0 for b in decided)
    assert run.trades[-1].exit_reason in ("signal", "end_of_data")
    m = run.metrics(benchmark_close=data.close)
    assert m.trade_count == len(run.trades) and m.final_equity == pytest.approx(float(run.final_cash))
    assert m.total_return == pytest.approx(float(run.final_cash) / 100_000 - 1)
    assert m.win_rate == pytest.approx(sum(t.pnl > 0 for t in run.trades) / len(run.trades))
    assert 0 < m.exposure < 1 and m.buy_and_hold_return == pytest.approx(data.close[-1] / data.close[0] - 1)


def test_an_open_position_is_closed_at_the_last_close():
    data = walk(50, seed=1)
    run = run_backtest(Script({0: [lambda s: s.buy(3)]}), data)
    last = run.trades[-1]
    assert last.exit_reason == "end_of_data" and last.exit_bar == 49
    assert last.exit_price == Decimal(repr(float(data.close[-1])))


def test_equity_and_position_curves_follow_every_fill_including_two_on_one_bar():
    data = walk(60, seed=3)
    plan = {
        4: [lambda s: s.buy(10), lambda s: s.buy(5)],  # both fill on bar 5
        9: [lambda s: s.sell(6)],
        20: [lambda s: s.sell(9)],
        30: [lambda s: s.buy(3)],
    }
    run = run_backtest(Script(plan), data, BacktestConfig(close_at_end=False))
    assert [f.bar for f in run.fills] == [5, 5, 10, 21, 31]
    # replayed bar by bar, as a runner without the shortcut would: cash and shares after each bar's fills
    cash, qty = Decimal("100000"), Decimal(0)
    for i in range(len(data)):
        for fill in (f for f in run.fills if f.bar == i):
            sign = 1 if fill.side is OrderSide.BUY else -1
            cash -= sign * fill.qty * fill.price + fill.fee
            qty += sign * fill.qty
        assert run.position[i] == float(qty)
        assert run.equity[i] == float(cash) + float(qty) * float(data.close[i])  # the same float arithmetic
    assert run.position.tolist()[4:6] == [0.0, 15.0] and run.position[-1] == 3.0


class Watcher(Strategy):
    """Buys once and records what the account tells it, in init and on every bar."""

    def init(self, data):
        self.at_init = (self.account.cash, self.account.equity)
        self.seen = []

    def next(self, data):
        a = self.account
        self.seen.append((a.cash, a.position, a.equity, a.position_price))
        if self.bar_index == 2:
            self.buy(7)


def test_the_account_is_marked_at_the_current_close_and_never_ahead_of_it():
    data = walk(12, seed=4)
    strategy = Watcher()
    run = run_backtest(strategy, data)
    # In init no bar is current: equity is the cash, not a position marked at some (future) close.
    assert strategy.at_init == (100000.0, 100000.0)
    price = float(run.fills[0].price)
    for i, (cash, position, equity, position_price) in enumerate(strategy.seen):
        assert equity == cash + position * float(data.close[i])  # the engine's own float arithmetic
        assert equity == run.equity[i] or i == len(data) - 1  # the last point includes the end-of-data sale
        if i < 3:
            assert (cash, position) == (100000.0, 0.0) and position_price != position_price  # NaN: nothing held
        else:
            assert (position, position_price) == (7.0, price)
    # Set by a runner that does not mark (a live session), equity is what it was told.
    strategy.account.equity = 123.0
    assert strategy.account.equity == 123.0


def test_a_buy_the_cash_cannot_cover_is_cut_with_a_notice_not_quietly():
    data = bars([100, 100, 100], [101, 101, 101], [99, 99, 99], [100, 100, 100])
    run = run_backtest(Script({0: [lambda s: s.buy(shares=5000)]}), data, BacktestConfig(close_at_end=False))
    assert run.fills[0].qty == Decimal(970)  # $100,000 covers 970 shares at 100 plus the ledger's 3% collar
    assert [(n.bar, n.reason) for n in run.notices] == [(0, "buy of 5000 trimmed to 970: the cash covers no more")]
    assert run.rejections == []
