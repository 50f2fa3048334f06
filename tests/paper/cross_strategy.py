from core.strategy.api import Param, Strategy
from core.strategy.indicators import sma


class Cross(Strategy):
    fast = Param(3, min=2, max=100)
    slow = Param(6, min=3, max=300)
    size = Param(0.1, min=0.01, max=1.0)

    def init(self, data):
        self.f = self.indicator(sma(data.close, self.fast))
        self.s = self.indicator(sma(data.close, self.slow))

    def next(self, data):
        if self.f[-1] > self.s[-1] and self.position == 0:
            self.order_target(fraction=self.size)
        elif self.f[-1] < self.s[-1] and self.position > 0:
            self.order_target(shares=0)
