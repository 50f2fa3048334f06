"""A warm strategy fed one bar at a time decides every bar exactly as the backtest over the same bars does.

The backtest runs the window as warm-up (``BacktestConfig.warmup_bars``) and then the "live" bars; a recording
subclass notes, at every live bar, the account the engine showed the strategy and the intents it made. The
:class:`LiveStrategy` is built from the window and given each live bar with that same account: its intents must
be the same, bar for bar, for indicator strategies (long-memory EMAs included), a signal strategy, and one that
keeps state on ``self``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from core.backtest.engine import BacktestConfig, run_backtest
from core.paper.live_host import LiveStrategy, decide_bars, open_book
from core.strategy.api import BarData, SignalStrategy, Strategy
from core.strategy.indicators import ema, rsi, sma


class EmaCross(Strategy):
    def init(self, data: BarData) -> None:
        self.fast = self.indicator(ema(data.close, 12))
        self.slow = self.indicator(ema(data.close, 90))

    def next(self, data: BarData) -> None:
        if self.fast[-1] > self.slow[-1] and self.position == 0:
            self.order_target(fraction=0.9)
        elif self.fast[-1] < self.slow[-1] and self.position > 0:
            self.order_target(shares=0)


class Stateful(Strategy):
    """Counts its own bars and entries on ``self``, keeps a list it appends to, and trades with limits and stops."""

    def init(self, data: BarData) -> None:
        self.bars_seen = 0
        self.entries: list[float] = []
        self.trend = self.indicator(sma(data.close, 20))
        self.bands = [self.indicator(sma(data.high, 5)), self.indicator(sma(data.low, 5))]

    def next(self, data: BarData) -> None:
        self.bars_seen += 1
        if self.bars_seen % 7 == 0 and self.position == 0 and data.close[-1] > self.trend[-1]:
            self.entries.append(data.close[-1])
            self.buy(shares=len(self.entries), limit=self.bands[1][-1])
        elif self.position > 0 and self.bars_seen % 11 == 0:
            self.sell(shares=self.position, stop=data.low[-1] * 0.99, tag=f"exit {len(self.entries)}")


class RsiSignals(SignalStrategy):
    def signals(self, data: BarData) -> tuple[np.ndarray, np.ndarray]:
        value = rsi(data.close, 14)
        return value < 35, value > 65


def _bars(n: int, seed: int) -> BarData:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    opens = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0, 0.002, n)) * close
    high, low = np.maximum(opens, close) + spread, np.minimum(opens, close) - spread
    times = 1_700_000_000 + 60.0 * np.arange(n)
    return BarData.from_arrays("SPY", times, opens, high, low, close, rng.integers(100, 10_000, n).astype(float))


def _recording(cls: type[Strategy], seen: list[tuple[int, dict[str, float], list[Any]]]) -> type[Strategy]:
    class Recording(cls):  # type: ignore[misc, valid-type]
        def next(self, data: BarData) -> None:
            super().next(data)
            a = self.account
            account = {"cash": a.cash, "equity": a.equity, "position": a.position, "position_price": a.position_price}
            seen.append((self.bar_index, account, list(self.intents)))

    Recording.__name__ = cls.__name__
    return Recording


def _window(data: BarData, n: int) -> BarData:
    return BarData(data.symbol, *(getattr(data, k)[:n] for k in ("time", "open", "high", "low", "close", "volume")))


def _row(data: BarData, i: int) -> list[float]:
    return [float(getattr(data, k)[i]) for k in ("time", "open", "high", "low", "close", "volume")]


@pytest.mark.parametrize("cls", [EmaCross, Stateful, RsiSignals], ids=lambda c: c.__name__)
def test_each_live_bar_is_decided_as_the_backtest_decides_it(cls: type[Strategy]) -> None:
    data, warm = _bars(1_500, seed=7), 400
    seen: list[tuple[int, dict[str, float], list[Any]]] = []
    run = run_backtest(_recording(cls, seen)(), data, BacktestConfig(warmup_bars=warm))
    assert run.fills, "the backtest must trade for the comparison to mean anything"
    by_bar = {i: (account, intents) for i, account, intents in seen}
    first_account = by_bar[warm - 1][0]
    live = LiveStrategy(cls, {}, _window(data, warm), first_account)
    traded = 0
    for i in range(warm, len(data)):
        account, expected = by_bar[i]
        got = live.on_bars([_row(data, i)], account)
        assert got == expected, f"bar {i}: live {got} != backtest {expected}"
        traded += bool(got)
    assert traded >= 3


def test_state_kept_on_self_carries_from_bar_to_bar() -> None:
    data, warm = _bars(600, seed=3), 200
    account = {"cash": 100_000.0, "equity": 100_000.0, "position": 0.0, "position_price": None}
    live = LiveStrategy(Stateful, {}, _window(data, warm), account)
    for i in range(warm, warm + 50):
        live.on_bars([_row(data, i)], account)
    strategy = live.strategy
    assert isinstance(strategy, Stateful)
    assert strategy.bars_seen == warm + 50  # one next() per bar, warm-up included, never reset by the refresh
    assert len(strategy.trend) == warm + 50


def test_a_bar_not_later_than_the_last_is_ignored() -> None:
    data, warm = _bars(300, seed=5), 250
    account = {"cash": 100_000.0, "equity": 100_000.0, "position": 0.0, "position_price": None}
    live = LiveStrategy(EmaCross, {}, _window(data, warm), account)
    assert live.on_bars([_row(data, warm - 1)], account) == []
    assert live.columns.n == warm


def test_the_host_drivers_decide_every_symbol_in_one_call() -> None:
    spy, qqq = _bars(500, seed=1), _bars(500, seed=2)
    qqq = BarData("QQQ", qqq.time, qqq.open, qqq.high, qqq.low, qqq.close, qqq.volume)
    account = {"cash": 50_000.0, "equity": 50_000.0, "position": 0.0, "position_price": None}
    opened = open_book(EmaCross, {"SPY": _window(spy, 300), "QQQ": _window(qqq, 300)}, {}, {"SPY": account})
    assert opened == {"params": {}}
    out = decide_bars(EmaCross, {"SPY": [_row(spy, 300)], "QQQ": [_row(qqq, 300), _row(qqq, 301)]},
                      {"SPY": account, "QQQ": account})  # fmt: skip
    assert set(out) == {"SPY", "QQQ"}
    assert all(isinstance(v, list) for v in out.values())
