"""The probe catalog: simple, well-known benchmark strategies run across many symbols and days.

A probe is not meant to be traded; it is a measuring stick. Running one textbook strategy of each family
(trend, breakout, momentum, mean reversion, volatility) over every symbol and day shows which *kind* of
behaviour a market rewarded, and gives a trader's own strategy something plain to beat.

Every probe here is a long/flat :class:`~core.strategy.api.SignalStrategy` built only from
:mod:`core.strategy.indicators` and past bars (previous highs are shifted by one bar), so it is causal and
runs unchanged on the vectorised path and the per-bar engine. The catalog's names are stored in
``probe_strategies`` and referenced by results, so a name, once published, must keep meaning the same
strategy and parameters: add a new name rather than changing an old one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from core.strategy.api import BarData, Param, SignalStrategy, StrategyError
from core.strategy.indicators import MAX_PERIOD, atr, bollinger, ema, highest, lowest, macd, rsi, sma

FAMILIES = ("trend", "breakout", "momentum", "mean_reversion", "volatility")
NEW_YORK = ZoneInfo("America/New_York")
REGULAR_OPEN_SECONDS = 9 * 3600 + 30 * 60  # 09:30 New York, seconds after local midnight

Signals = tuple[np.ndarray, np.ndarray]


class ProbeSignals(SignalStrategy):
    """Base of the catalog's probes: long/flat signals plus how many bars they need before deciding.

    ``warmup_bars`` lets a runner tell "no trades because the day was too short to warm up" apart from
    "no trades because nothing happened"; both are valid results, but only the second says something about
    the market."""

    def warmup_bars(self) -> int:
        raise NotImplementedError


def _period(default: int, doc: str) -> Param[int]:
    return Param(default, min=1, max=MAX_PERIOD, doc=doc)


def _shift(x: np.ndarray, bars: int = 1) -> np.ndarray:
    """``x`` seen ``bars`` bars later (NaN at the start): the channel a bar breaks is made of earlier bars."""
    out = np.full(len(x), np.nan)
    if bars < len(x):
        out[bars:] = x[: len(x) - bars]
    return out


def _above_below(x: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> Signals:
    """Entries where ``x > upper``, exits where ``x < lower``; NaN (warm-up) compares as neither."""
    with np.errstate(invalid="ignore"):
        return x > upper, x < lower


# ---- trend --------------------------------------------------------------------------------------------------


class SmaCross(ProbeSignals):
    """Long while the fast simple average is above the slow one."""

    fast = _period(10, "bars of the fast average")
    slow = _period(30, "bars of the slow average")

    def signals(self, data: BarData) -> Signals:
        _ordered(self.fast, self.slow)
        f, s = sma(data.close, self.fast), sma(data.close, self.slow)
        return _above_below(f, s, s)

    def warmup_bars(self) -> int:
        return self.slow


class EmaCross(ProbeSignals):
    """Long while the fast exponential average is above the slow one (reacts sooner than SMAs)."""

    fast = _period(9, "bars of the fast average")
    slow = _period(21, "bars of the slow average")

    def signals(self, data: BarData) -> Signals:
        _ordered(self.fast, self.slow)
        f, s = ema(data.close, self.fast), ema(data.close, self.slow)
        return _above_below(f, s, s)

    def warmup_bars(self) -> int:
        return self.slow


class MacdCross(ProbeSignals):
    """Long while the MACD line is above its signal line (histogram positive)."""

    fast = _period(12, "bars of the fast EMA")
    slow = _period(26, "bars of the slow EMA")
    signal = _period(9, "bars of the signal EMA")

    def signals(self, data: BarData) -> Signals:
        _ordered(self.fast, self.slow)
        hist = macd(data.close, self.fast, self.slow, self.signal).hist
        zero = np.zeros(len(hist))
        return _above_below(hist, zero, zero)

    def warmup_bars(self) -> int:
        return self.slow + self.signal - 1


# ---- breakout -----------------------------------------------------------------------------------------------


class DonchianBreakout(ProbeSignals):
    """Buy a close above the highest high of the last ``entry`` bars; sell below the lowest low of ``exit``."""

    entry = _period(20, "bars whose highest high a close must beat")
    exit = _period(10, "bars whose lowest low a close must break to exit")

    def signals(self, data: BarData) -> Signals:
        upper = _shift(highest(data.high, self.entry))
        lower = _shift(lowest(data.low, self.exit))
        return _above_below(np.asarray(data.close, dtype=np.float64), upper, lower)

    def warmup_bars(self) -> int:
        return max(self.entry, self.exit) + 1


class OpeningRangeBreakout(ProbeSignals):
    """Buy a close above the high of the session's first ``range_minutes``; sell below its low.

    The range starts at the regular open (09:30 New York) of each bar's New York date, so the probe works on
    one day or many and ignores pre-market bars when building the range."""

    range_minutes = Param(15, min=1, max=390, doc="minutes after 09:30 New York that make the opening range")

    def signals(self, data: BarData) -> Signals:
        t = np.asarray(data.time, dtype=np.float64)
        utc = pd.DatetimeIndex(pd.to_datetime(t, unit="s", utc=True)).as_unit("ns")
        local = utc.tz_convert(NEW_YORK).tz_localize(None)
        day = local.normalize().asi8
        seconds = (local.asi8 - day) / 1e9
        range_end = REGULAR_OPEN_SECONDS + 60 * self.range_minutes
        in_range = (seconds >= REGULAR_OPEN_SECONDS) & (seconds < range_end)
        high = _running_per_day(np.where(in_range, data.high, np.nan), day, "cummax")
        low = _running_per_day(np.where(in_range, data.low, np.nan), day, "cummin")
        after = seconds >= range_end
        entries, exits = _above_below(np.asarray(data.close, dtype=np.float64), high, low)
        return entries & after, exits & after

    def warmup_bars(self) -> int:
        return self.range_minutes + 1


def _running_per_day(values: np.ndarray, day: np.ndarray, how: str) -> np.ndarray:
    """The running max/min of ``values`` within each day, carried forward over the day's later NaNs."""
    grouped = pd.Series(values).groupby(day, sort=False)
    running = grouped.cummax() if how == "cummax" else grouped.cummin()
    filled: np.ndarray = running.groupby(day, sort=False).ffill().to_numpy(np.float64)
    return filled


# ---- momentum -----------------------------------------------------------------------------------------------


class RsiMomentum(ProbeSignals):
    """Long while RSI shows strength (above ``enter_above``) until it fades below ``exit_below``."""

    period = _period(14, "RSI bars")
    enter_above = Param(55.0, min=0.0, max=100.0, doc="RSI level that signals momentum")
    exit_below = Param(45.0, min=0.0, max=100.0, doc="RSI level where momentum is gone")

    def signals(self, data: BarData) -> Signals:
        r = rsi(data.close, self.period)
        return _above_below(r, np.full(len(r), self.enter_above), np.full(len(r), self.exit_below))

    def warmup_bars(self) -> int:
        return self.period + 1


class RateOfChange(ProbeSignals):
    """Long when price rose more than ``threshold`` over ``period`` bars; out when the change turns negative."""

    period = _period(10, "bars the change is measured over")
    threshold = Param(0.001, min=0.0, max=1.0, doc="rise (a fraction: 0.001 = 0.1%) that signals momentum")

    def signals(self, data: BarData) -> Signals:
        close = np.asarray(data.close, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            roc = close / _shift(close, self.period) - 1.0
        return _above_below(roc, np.full(len(roc), self.threshold), np.zeros(len(roc)))

    def warmup_bars(self) -> int:
        return self.period + 1


# ---- mean reversion -----------------------------------------------------------------------------------------


class BollingerReversion(ProbeSignals):
    """Buy a close below the lower Bollinger band; sell when price is back above the middle."""

    period = _period(20, "bars of the bands")
    k = Param(2.0, min=0.1, max=10.0, doc="band width in standard deviations")

    def signals(self, data: BarData) -> Signals:
        mid, _, lower = bollinger(data.close, self.period, self.k)
        close = np.asarray(data.close, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            return close < lower, close > mid

    def warmup_bars(self) -> int:
        return self.period


class RsiOversold(ProbeSignals):
    """Buy when RSI is oversold (below ``oversold``); sell when it recovers above ``exit_above``."""

    period = _period(14, "RSI bars")
    oversold = Param(30.0, min=0.0, max=100.0, doc="RSI level that counts as oversold")
    exit_above = Param(50.0, min=0.0, max=100.0, doc="RSI level that counts as recovered")

    def signals(self, data: BarData) -> Signals:
        r = rsi(data.close, self.period)
        with np.errstate(invalid="ignore"):
            return r < self.oversold, r > self.exit_above

    def warmup_bars(self) -> int:
        return self.period + 1


# ---- volatility ---------------------------------------------------------------------------------------------


class AtrChannelBreakout(ProbeSignals):
    """Buy a close more than ``k`` ATRs above its EMA (volatility expanding upwards); sell back at the EMA."""

    period = _period(20, "bars of the EMA and the ATR")
    k = Param(2.0, min=0.1, max=10.0, doc="channel width in ATRs")

    def signals(self, data: BarData) -> Signals:
        mid = ema(data.close, self.period)
        width = atr(data.high, data.low, data.close, self.period)
        return _above_below(np.asarray(data.close, dtype=np.float64), mid + self.k * width, mid)

    def warmup_bars(self) -> int:
        return self.period + 1


class BollingerSqueeze(ProbeSignals):
    """Buy an upper-band break shortly after the bands were at their narrowest; sell at the middle band.

    A "squeeze" is a band width within ``tolerance`` of its lowest over ``lookback`` bars; quiet markets
    tend to be followed by moves, and the break says which way."""

    period = _period(20, "bars of the bands")
    k = Param(2.0, min=0.1, max=10.0, doc="band width in standard deviations")
    lookback = _period(60, "bars over which the narrowest width is taken")
    tolerance = Param(1.1, min=1.0, max=10.0, doc="a width up to this multiple of the narrowest is a squeeze")
    memory = _period(10, "bars a squeeze stays recent enough to trade its break")

    def signals(self, data: BarData) -> Signals:
        mid, upper, lower = bollinger(data.close, self.period, self.k)
        close = np.asarray(data.close, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            width = (upper - lower) / mid
            squeezed = width <= self.tolerance * lowest(width, self.lookback)
            recent = highest(squeezed.astype(np.float64), self.memory) > 0
            return recent & (close > upper), close < mid

    def warmup_bars(self) -> int:
        return self.period + self.lookback


def _ordered(fast: int, slow: int) -> None:
    if fast >= slow:
        raise StrategyError(f"fast ({fast}) must be shorter than slow ({slow})")


# ---- the catalog --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeDefinition:
    """One named probe: a strategy class with fixed parameters, and what it stands for."""

    name: str
    display_name: str
    family: str
    philosophy: str
    strategy: type[ProbeSignals]
    params: Mapping[str, Any] = field(default_factory=dict)
    direction: str = "long"

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"{self.name}: unknown family {self.family!r}")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        self.build()  # refuse unknown or out-of-range parameters when the catalog is defined, not mid-run

    def build(self) -> ProbeSignals:
        """A fresh strategy instance (strategies keep per-run state, so never share one)."""
        return self.strategy(**self.params)

    def details(self) -> dict[str, Any]:
        """What ``probe_strategies.details`` stores: enough to rebuild the probe and to group results."""
        values = self.build().values
        return {
            "family": self.family,
            "module": self.strategy.__module__,
            "class_name": self.strategy.__qualname__,
            "params": dict(values),
        }


def _probe(
    name: str, display: str, family: str, philosophy: str, cls: type[ProbeSignals], **params: Any
) -> ProbeDefinition:
    return ProbeDefinition(name, display, family, philosophy, cls, params)


CATALOG: tuple[ProbeDefinition, ...] = (
    # trend
    _probe("sma_cross_10_30", "SMA cross 10/30", "trend", "Trends persist: ride them while the fast average leads.",
           SmaCross, fast=10, slow=30),
    _probe("sma_cross_20_50", "SMA cross 20/50", "trend", "Slower trends persist: fewer, longer rides.",
           SmaCross, fast=20, slow=50),
    _probe("ema_cross_9_21", "EMA cross 9/21", "trend", "Trends persist; exponential averages catch them sooner.",
           EmaCross, fast=9, slow=21),
    _probe("ema_cross_12_26", "EMA cross 12/26", "trend", "Trends persist; the classic MACD pair as a crossover.",
           EmaCross, fast=12, slow=26),
    _probe("macd_12_26_9", "MACD 12/26/9", "trend", "Trend strength accelerating: MACD above its signal.",
           MacdCross, fast=12, slow=26, signal=9),
    _probe("macd_5_35_5", "MACD 5/35/5", "trend", "A faster MACD for intraday swings.",
           MacdCross, fast=5, slow=35, signal=5),
    # breakout
    _probe("donchian_20_10", "Donchian 20/10", "breakout", "New highs beget new highs (the Turtles' rule, intraday).",
           DonchianBreakout, entry=20, exit=10),
    _probe("donchian_55_20", "Donchian 55/20", "breakout", "Only the bigger breakouts matter.",
           DonchianBreakout, entry=55, exit=20),
    _probe("opening_range_15", "Opening range breakout 15 min", "breakout",
           "The first quarter hour sets the day's battle lines; a break above shows the winner.",
           OpeningRangeBreakout, range_minutes=15),
    _probe("opening_range_30", "Opening range breakout 30 min", "breakout",
           "A wider opening range filters out the open's noise.", OpeningRangeBreakout, range_minutes=30),
    # momentum
    _probe("rsi_momentum_14", "RSI momentum 14", "momentum", "Strength continues: buy RSI above 55, leave below 45.",
           RsiMomentum, period=14, enter_above=55.0, exit_below=45.0),
    _probe("rsi_momentum_7", "RSI momentum 7", "momentum", "Short-term strength continues.",
           RsiMomentum, period=7, enter_above=60.0, exit_below=40.0),
    _probe("roc_10", "Rate of change 10", "momentum", "What rose over ten minutes keeps rising.",
           RateOfChange, period=10, threshold=0.001),
    _probe("roc_30", "Rate of change 30", "momentum", "What rose over half an hour keeps rising.",
           RateOfChange, period=30, threshold=0.002),
    # mean reversion
    _probe("bollinger_reversion_20_2", "Bollinger reversion 20/2", "mean_reversion",
           "Stretched prices snap back: buy below the lower band.", BollingerReversion, period=20, k=2.0),
    _probe("bollinger_reversion_20_2_5", "Bollinger reversion 20/2.5", "mean_reversion",
           "Only the most stretched prices snap back.", BollingerReversion, period=20, k=2.5),
    _probe("rsi_oversold_14_30", "RSI oversold 14/30", "mean_reversion", "Oversold bounces: buy RSI below 30.",
           RsiOversold, period=14, oversold=30.0, exit_above=50.0),
    _probe("rsi_oversold_2_10", "RSI oversold 2/10", "mean_reversion",
           "Very short-term washouts bounce (Connors' RSI(2)).", RsiOversold, period=2, oversold=10.0,
           exit_above=70.0),
    # volatility
    _probe("atr_channel_20_2", "ATR channel 20/2", "volatility",
           "Volatility expanding upwards starts a move: buy two ATRs above the average.",
           AtrChannelBreakout, period=20, k=2.0),
    _probe("atr_channel_10_1_5", "ATR channel 10/1.5", "volatility", "A tighter, faster volatility channel.",
           AtrChannelBreakout, period=10, k=1.5),
    _probe("bollinger_squeeze_20", "Bollinger squeeze 20", "volatility",
           "Quiet precedes movement: buy the break out of a squeeze.", BollingerSqueeze, period=20, k=2.0,
           lookback=60),
    _probe("bollinger_squeeze_10", "Bollinger squeeze 10", "volatility", "A faster squeeze for short bursts.",
           BollingerSqueeze, period=10, k=2.0, lookback=30, memory=5),
)  # fmt: skip


def probe_named(name: str) -> ProbeDefinition:
    """The catalog entry called ``name`` (KeyError naming it otherwise)."""
    for probe in CATALOG:
        if probe.name == name:
            return probe
    raise KeyError(f"no probe named {name!r} in the catalog")


def probes_of_family(family: str) -> tuple[ProbeDefinition, ...]:
    return tuple(p for p in CATALOG if p.family == family)
