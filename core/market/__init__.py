"""Market data: the normalised bar every feed produces, and the simulated market.

Kept free of Qt so that backtests, session runners and the desktop app share one bar type.
"""

from core.market.bars import TIMEFRAMES, BarArrays, MalformedBar, NormalizedBar, timeframe_delta, to_arrays
from core.market.simulated import RandomWalkBarGenerator

__all__ = [
    "TIMEFRAMES",
    "BarArrays",
    "MalformedBar",
    "NormalizedBar",
    "RandomWalkBarGenerator",
    "timeframe_delta",
    "to_arrays",
]
