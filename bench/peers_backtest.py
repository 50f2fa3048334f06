"""The peers of ``bench.backtest``, run in their own interpreter (backtesting.py and vectorbt are not app deps).

    PEERS_PYTHON bench/peers_backtest.py BARS.npz [REPEATS]

Runs SMA(10/50) long/flat on the given bars with each peer, commission-free, and prints one JSON line with
the seconds each took (vectorbt: the second run, so numba's compilation is not counted; stats included;
backtesting.py: the best of REPEATS runs, and its first).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd


def main(path: str, repeats: int = 1) -> None:
    bars = np.load(path)
    n = len(bars["close"])
    index = pd.date_range("2020-01-01", periods=n, freq="1min")
    frame = pd.DataFrame(
        {"Open": bars["open"], "High": bars["high"], "Low": bars["low"], "Close": bars["close"],
         "Volume": bars["volume"]},
        index=index,
    )  # fmt: skip
    result: dict[str, float] = {}

    import vectorbt as vbt

    close = frame["Close"]
    for _ in range(2):  # the first run compiles
        started = time.perf_counter()
        fast, slow = vbt.MA.run(close, 10), vbt.MA.run(close, 50)
        pf = vbt.Portfolio.from_signals(close, fast.ma_above(slow), fast.ma_below(slow), freq="1min", init_cash=100_000)
        stats = pf.stats()
        result["vectorbt_s"] = time.perf_counter() - started
    result["vectorbt_trades"] = int(stats["Total Trades"])

    from backtesting import Backtest, Strategy
    from backtesting.test import SMA

    class SmaCross(Strategy):
        def init(self) -> None:
            self.fast = self.I(SMA, self.data.Close, 10)
            self.slow = self.I(SMA, self.data.Close, 50)

        def next(self) -> None:
            if self.fast[-1] > self.slow[-1]:
                if not self.position:
                    self.buy()
            elif self.fast[-1] < self.slow[-1] and self.position:
                self.position.close()

    runs = []
    for _ in range(repeats):  # the best of as many runs as bench.backtest gives the per-bar engine
        started = time.perf_counter()
        out = Backtest(frame, SmaCross, cash=1_000_000_000, commission=0.0).run()
        runs.append(time.perf_counter() - started)
    result["backtestingpy_s"], result["backtestingpy_first_s"] = min(runs), runs[0]
    result["backtestingpy_trades"] = int(out["# Trades"])
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1)
