"""Strategy modules the scripted model "writes" in the AI tests: good ones, broken ones, malicious ones."""

from __future__ import annotations

SMA_CROSS = '''\
import numpy as np

from core.strategy.api import Param, SignalStrategy
from core.strategy.indicators import sma


class GeminiCross(SignalStrategy):
    """Long while the fast average is above the slow one."""

    fast = Param(8, min=2, max=50, doc="bars of the fast average")
    slow = Param(30, min=10, max=200)

    def signals(self, data):
        f, s = sma(data.close, self.fast), sma(data.close, self.slow)
        with np.errstate(invalid="ignore"):
            return f > s, f < s
'''

SMA_CROSS_SLOWER = SMA_CROSS.replace("Param(8, min=2", "Param(12, min=2").replace(
    "Param(30, min=10, max=200)", 'Param(60, min=10, max=200, doc="bars of the slow average")'
)

RSI_PER_BAR = """\
import math

from core.strategy.api import Param, Strategy
from core.strategy.indicators import rsi


class RsiDip(Strategy):
    period = Param(14, min=2, max=50, doc="RSI bars")
    oversold = Param(35.0, min=5.0, max=50.0, doc="buy below this RSI")

    def init(self, data):
        self.r = self.indicator(rsi(data.close, self.period), "rsi")

    def next(self, data):
        value = self.r[-1]
        if math.isnan(value):
            return
        if value < self.oversold and self.position == 0:
            self.order_target(fraction=0.5)
        elif value > 60 and self.position > 0:
            self.order_target(shares=0)
"""

# Breaks a sandbox rule at line 10 (getattr); the validator refuses it, it is never run.
USES_GETATTR = """\
from core.strategy.api import Param, SignalStrategy
from core.strategy.indicators import sma


class Sneaky(SignalStrategy):
    fast = Param(8, min=2, max=50)
    slow = Param(30, min=10, max=200)

    def signals(self, data):
        n = getattr(self, "fast")
        f, s = sma(data.close, n), sma(data.close, self.slow)
        return f > s, f < s
"""
GETATTR_LINE = 10

# Valid code that fails when run: reads 50 bars back on the very first bar (line 12).
READS_BEFORE_THE_START = """\
from core.strategy.api import Param, Strategy
from core.strategy.indicators import sma


class TooEager(Strategy):
    slow = Param(30, min=10, max=200)

    def init(self, data):
        self.s = self.indicator(sma(data.close, self.slow), "slow")

    def next(self, data):
        if data.close[-50] > self.s[-1] and self.position == 0:
            self.order_target(fraction=1.0)
"""
EAGER_LINE = 12


def malicious(marker: str) -> dict[str, str]:
    """Modules that would leave ``marker`` behind if anything ever ran them."""
    return {
        "import os": f"""\
import os

from core.strategy.api import Strategy

os.system("touch {marker}")


class Evil(Strategy):
    def next(self, data):
        pass
""",
        "open()": f'''\
from core.strategy.api import Strategy

with open("{marker}", "w") as f:
    f.write("pwned")


class Evil(Strategy):
    def next(self, data):
        pass
''',
        "__import__": f"""\
from core.strategy.api import Strategy


class Evil(Strategy):
    def init(self, data):
        __import__("os").system("touch {marker}")

    def next(self, data):
        pass
""",
    }
