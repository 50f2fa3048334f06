"""The sandbox reply format's cost: a decision reply and a backtest reply, encoded in a host, decoded here.

    python -m bench.wire [--quick]

* ``wire_decision_encode_us`` / ``wire_decision_decode_us``: a paper session's decision reply (a few small dicts).
* ``wire_backtest_encode_ms`` / ``wire_backtest_decode_ms``: three float64 curves of 1,000,000 bars and metrics
  (``--quick``: 100,000 bars; the names then say ``_100k``).

Best of several repeats (this VM's speed wanders: see ``cpu_reference_ms``).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.common import cpu_reference_ms, emit
from core.strategy.sandbox.wire import decode, encode


def best_of(action: Callable[[], Any], repeat: int, number: int) -> float:
    best = math.inf
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            action()
        best = min(best, (time.perf_counter() - started) / number)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, label = (100_000, "_100k") if args.quick else (1_000_000, "")
    emit("cpu_reference_ms", cpu_reference_ms(), "ms", measures="this machine's speed now (bench.common)")
    decision = {
        "SPY": [{"kind": "buy", "bar": 1041, "shares": 10.0, "fraction": None, "value": None, "limit": 187.25,
                 "stop": None, "stop_loss": None, "take_profit": None, "tag": "entry"}],
        "QQQ": [], "AAPL": [], "MSFT": [], "NVDA": [],
    }  # fmt: skip
    rng = np.random.default_rng(0)
    backtest = {"times": rng.random(n), "equity": rng.random(n), "position": rng.random(n),
                "metrics": {"sharpe": 1.1, "sortino": float("nan")}}  # fmt: skip
    small, big = encode(decision), encode(backtest)
    emit("wire_decision_encode_us", best_of(lambda: encode(decision), 5, 500) * 1e6, "us", bytes=len(small))
    emit("wire_decision_decode_us", best_of(lambda: decode(small), 5, 500) * 1e6, "us")
    emit(f"wire_backtest{label}_encode_ms", best_of(lambda: encode(backtest), 3, 5) * 1e3, "ms", bytes=len(big))
    emit(f"wire_backtest{label}_decode_ms", best_of(lambda: decode(big), 3, 20) * 1e3, "ms")


if __name__ == "__main__":
    main()
