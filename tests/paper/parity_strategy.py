from core.strategy.api import Param, Strategy
from core.strategy.indicators import sma


class Parity(Strategy):
    """Every kind of order a strategy can ask for, taken in turn at each crossing of two moving averages.

    Entries (only when flat, after cancelling whatever still works): a market buy for a percent of cash, a
    ladder of two limit buys, a stop buy for a number of shares, a bracket (market entry with a stop-loss and a
    take-profit), a percent-of-equity target and a stop-limit buy for an amount of money. Exits (when holding):
    a target of zero, a limit sell and a stop sell of everything. Which one is chosen depends on counters
    kept on ``self`` and changed in ``next``: state a live session must carry from bar to bar as a backtest does.
At the day's last minute it buys at market and at a limit: orders that work overnight, into the next day.
    """

    fast = Param(3, min=2, max=100)
    slow = Param(10, min=3, max=300)

    def init(self, data):
        self.f = self.indicator(sma(data.close, self.fast))
        self.s = self.indicator(sma(data.close, self.slow))
        self.crossings = 0
        self.exits = []

    def next(self, data):
        if len(data.close) < self.slow + 2:
            return
        up = self.f[-1] > self.s[-1] and self.f[-2] <= self.s[-2]
        down = self.f[-1] < self.s[-1] and self.f[-2] >= self.s[-2]
        close = data.close[-1]
        if int(data.time[-1]) % 86400 == 75540:  # 20:59 UTC, the day's last minute in New York's winter
            self.buy(shares=10, tag="overnight")
            self.buy(shares=10, limit=round(close * 0.998, 2), tag="overnight limit")
        elif up and self.position == 0:
            self.crossings += 1
            self.cancel_all()
            self.enter(self.crossings % 6, close)
        elif down and self.position > 0:
            self.exits.append(self.bar_index)
            self.leave(len(self.exits) % 3, close)

    def enter(self, mode, close):
        if mode == 0:
            self.buy(fraction=0.5, tag="market")
        elif mode == 1:
            self.buy(fraction=0.3, limit=round(close * 0.9995, 2), tag="limit ladder")
            self.buy(fraction=0.3, limit=round(close * 0.999, 2), tag="limit ladder")
        elif mode == 2:
            self.buy(shares=40, stop=round(close * 1.0005, 2), tag="stop")
        elif mode == 3:
            self.buy(fraction=0.4, stop_loss=round(close * 0.997, 2), take_profit=round(close * 1.003, 2),
                     tag="bracket")  # fmt: skip
        elif mode == 4:
            self.order_target(fraction=0.6, tag="target")
        else:
            self.buy(value=8000, stop=round(close * 1.0005, 2), limit=round(close * 1.001, 2), tag="stop limit")

    def leave(self, mode, close):
        if mode == 0:
            self.order_target(shares=0, tag="exit")
        elif mode == 1:
            self.sell(fraction=1.0, limit=round(close * 1.0005, 2), tag="limit exit")
        else:
            self.sell(fraction=1.0, stop=round(close * 0.999, 2), tag="stop exit")
