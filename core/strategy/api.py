"""The Strategy API: one class runs unchanged in backtests, simulated sessions and live paper sessions.

A strategy declares its parameters (what batch tests vary), computes indicators
over the whole series in ``init`` (vectorised: fast), and decides in ``next``,
once per closed bar, by placing order intents. The runner (backtester or
session) owns the clock and turns intents into orders; the strategy never sees
a broker, a database or a bar that has not closed:

* every series a strategy reads in ``next`` is a :class:`Lagged` view that ends
  at the current bar; reading past it raises :class:`LookAheadError`;
* indicators computed in ``init`` see the whole series, so a careless one could
  peek ahead (``np.roll(close, -1)``); :func:`check_causal` recomputes them on a
  shortened series and refuses a strategy whose past values change.

Sizes say what they are. Every order call takes exactly one of:

* ``shares=``: a number of shares (> 0; for ``order_target`` the position to hold: 0 closes it);
* ``fraction=``: a fraction in (0, 1], of cash for ``buy``, of the position for ``sell``, of equity for
  ``order_target`` (0.25 = a quarter);
* ``percent=``: the same as a real percent in (0, 100] (25 = 25%, the same as ``fraction=0.25``);
* ``value=``: money (> 0), shares worth that much at the order's price.

A size out of its range (``percent=250``, ``fraction=1.5``, NaN, a bool, text) is a StrategyError naming the
call, the value and the allowed range, never trimmed quietly to something else. (Until 2026-12 ``percent`` was a
fraction: migration 0013 rewrote stored strategies' ``percent=`` to ``fraction=``, see core.strategy.api_upgrade.)

    class SmaCross(Strategy):
        fast = Param(10, min=2, max=200)
        slow = Param(50, min=5, max=500)

        def init(self, data):
            self.fast_ma = self.indicator(sma(data.close, self.fast))
            self.slow_ma = self.indicator(sma(data.close, self.slow))

        def next(self, data):
            if self.fast_ma[-1] > self.slow_ma[-1] and self.position == 0:
                self.order_target(fraction=0.15)  # 15% of equity (percent=15 says the same)
            elif self.fast_ma[-1] < self.slow_ma[-1] and self.position > 0:
                self.order_target(shares=0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from numbers import Real
from typing import Any, ClassVar, NamedTuple, cast, overload

import numpy as np

# The file name strategy code is compiled under (the sandbox compiles traders' source with it), so that a
# traceback can tell the strategy's own frames from the application's.
STRATEGY_FILENAME = "<strategy>"


class StrategyError(Exception):
    """A strategy could not be built or run; the message is for the trader."""


class StrategyParamError(StrategyError):
    """A parameter value is of the wrong type or outside its declared range."""


class LookAheadError(StrategyError):
    """The strategy read a bar that had not closed yet (or an indicator depends on future bars)."""


def describe_failure(exc: BaseException) -> str:
    """``exc`` as one line for the trader, naming the strategy line it was raised from when there is one
    (the innermost frame of code compiled as :data:`STRATEGY_FILENAME`)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == STRATEGY_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    text = f"{type(exc).__name__}: {exc}"
    return text if line is None else f"{text} (line {line} of the strategy)"


# ---- parameters -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param[T: (bool, int, float, str)]:
    """A declared parameter: a class attribute ``fast = Param(10, min=2, max=200)``.

    The type is the default's (int, float, bool or str); ``choices`` restricts to a set. Batch tests read
    these declarations to build their variable lists and to refuse values outside the range.

    To a type checker (and an editor) a ``Param[T]`` is a descriptor: ``MyStrategy.fast`` is the ``Param[int]``,
    ``self.fast`` in a strategy's method is the ``int``. At run time no descriptor is involved in reading a
    value: ``Strategy.__init_subclass__`` takes the declarations off the class and ``Strategy.__init__`` sets each
    chosen value on the instance, so ``self.fast`` stays a plain attribute read on every bar."""

    default: T
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""
    name: str = ""  # set by the Strategy class that declares it

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Param[T]: ...

    @overload
    def __get__(self, instance: Strategy, owner: type[Any] | None = None) -> T: ...

    def __get__(self, instance: Strategy | None, owner: type[Any] | None = None) -> Param[T] | T:
        # Only reached for a Param still on its class (a class that is not a Strategy, or one assigned after the
        # Strategy subclass was made): there the declaration itself is what the attribute holds, as it always was.
        return self

    @property
    def type(self) -> type[T]:
        return type(self.default)

    def check(self, value: Any) -> T:
        """``value`` converted to the parameter's type, or StrategyParamError saying what is wrong."""
        kind = self.type
        if kind is bool:
            if not isinstance(value, bool):
                raise StrategyParamError(f"{self.name} must be true or false, got {value!r}")
            converted: Any = value
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int | float) or float(value) != int(value):
                raise StrategyParamError(f"{self.name} must be a whole number, got {value!r}")
            converted = int(value)
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise StrategyParamError(f"{self.name} must be a number, got {value!r}")
            converted = float(value)
        else:
            if not isinstance(value, str):
                raise StrategyParamError(f"{self.name} must be text, got {value!r}")
            converted = value
        if self.choices is not None and converted not in self.choices:
            raise StrategyParamError(f"{self.name} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        if self.min is not None and converted < self.min:
            raise StrategyParamError(f"{self.name} must be at least {self.min}, got {value!r}")
        if self.max is not None and converted > self.max:
            raise StrategyParamError(f"{self.name} must be at most {self.max}, got {value!r}")
        return cast(T, converted)  # the branch taken above is the one for the default's type, T


# ---- series that end at the current bar --------------------------------------------------------------------


class Clock:
    """The index of the current (latest closed) bar, shared by every view of one run."""

    __slots__ = ("i",)

    def __init__(self) -> None:
        self.i = -1


class Lagged:
    """A float64 series seen from the current bar: ``x[-1]`` is now, ``x[-2]`` the bar before.

    Absolute indices up to the current bar work too; anything later raises LookAheadError. ``values``
    is a zero-copy view of everything up to now, for numpy calls inside ``next``."""

    __slots__ = ("_a", "_clock", "_m", "name")

    def __init__(self, values: np.ndarray, clock: Clock, name: str = "series") -> None:
        self._a = values
        self._m = memoryview(np.ascontiguousarray(values, dtype=np.float64))  # indexes to plain Python floats
        self._clock = clock
        self.name = name

    @property
    def values(self) -> np.ndarray:
        return self._a[: self._clock.i + 1]

    def __len__(self) -> int:
        return self._clock.i + 1

    def __getitem__(self, key: int | slice) -> Any:
        if key.__class__ is int:  # the hot path: a strategy reads x[-1], x[-2] on every bar
            if key < 0:
                j = self._clock.i + 1 + key
                if j >= 0:
                    return self._m[j]
                raise IndexError(f"{self.name}[{key}]: only {self._clock.i + 1} bars so far")
            if key > self._clock.i:
                raise LookAheadError(f"{self.name}[{key}] is a future bar (the current bar is {self._clock.i})")
            return self._m[key]
        if isinstance(key, slice):
            return self.values[key]
        return self[int(key)]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        view = self.values
        return view.astype(dtype) if dtype is not None else view

    def __iter__(self) -> Iterator[float]:
        return iter(self.values)

    def __repr__(self) -> str:
        return f"Lagged({self.name}, {len(self)} bars)"


@dataclass(frozen=True)
class BarData:
    """The columns of one symbol's bars. In ``init`` whole float64 arrays; in ``next`` Lagged views."""

    symbol: str
    time: Any  # epoch seconds (UTC) of each bar's open
    open: Any
    high: Any
    low: Any
    close: Any
    volume: Any

    @classmethod
    def from_arrays(cls, symbol: str, t: Any, o: Any, h: Any, lo: Any, c: Any, v: Any) -> BarData:
        cols = [np.ascontiguousarray(x, dtype=np.float64) for x in (t, o, h, lo, c, v)]
        if len({len(x) for x in cols}) != 1:
            raise StrategyError("bar columns differ in length")
        return cls(symbol, *cols)

    def lagged(self, clock: Clock) -> BarData:
        return BarData(
            self.symbol,
            *(Lagged(getattr(self, n), clock, n) for n in ("time", "open", "high", "low", "close", "volume")),
        )

    def __len__(self) -> int:
        return len(self.close)


# ---- order intents ------------------------------------------------------------------------------------------


class IntentKind(StrEnum):
    BUY = "buy"
    SELL = "sell"
    TARGET = "target"  # reach a position (shares, a fraction of equity or a money value)
    CANCEL_ALL = "cancel_all"


_BUY, _SELL, _TARGET = IntentKind.BUY, IntentKind.SELL, IntentKind.TARGET
_isfinite = math.isfinite
_tuple = tuple.__new__


class OrderIntent(NamedTuple):
    """What a strategy asked for at one bar; the runner sizes it, checks it and makes it an order. (Immutable and
    cheap to build: a strategy that trades often makes one on many bars.)"""

    kind: IntentKind
    bar: int
    shares: float | None = None
    fraction: float | None = None  # in (0, 1]: of equity (targets), of cash (buys), of the position (sells)
    value: float | None = None  # money
    limit: float | None = None
    stop: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    tag: str = ""


class Account:
    """What the runner tells the strategy about its money (read-only for the strategy).

    ``equity`` is either set by the runner or, for a runner that marks to every bar's close (the backtester),
    computed when read from ``cash + position * close`` of the current bar (``mark_to_closes``): a strategy reads
    it on few bars, and setting it on each of a million bars was a tenth of a backtest's loop."""

    __slots__ = ("_clock", "_closes", "_equity", "cash", "position", "position_price")
    FIELDS: ClassVar[tuple[str, ...]] = ("cash", "equity", "position", "position_price")  # what a strategy reads

    def __init__(self, cash: float = 0.0, equity: float = 0.0, position: float = 0.0,
                 position_price: float = math.nan) -> None:  # fmt: skip
        self.cash = cash
        self.position = position  # shares held (negative: short, when a runner allows it)
        self.position_price = position_price  # average entry price
        self._equity = equity
        self._closes: Sequence[float] | None = None
        self._clock: Clock | None = None

    @property
    def equity(self) -> float:
        closes, clock = self._closes, self._clock
        if closes is None or clock is None or clock.i < 0:  # before the first bar nothing is marked yet
            return self._equity if closes is None else self.cash
        return self.cash + self.position * closes[clock.i]

    @equity.setter
    def equity(self, value: float) -> None:
        self._equity, self._closes = value, None

    def mark_to_closes(self, closes: Sequence[float], clock: Clock) -> None:
        """From now on equity is cash plus the position at ``closes[clock.i]`` (a sequence of floats)."""
        self._closes, self._clock = closes, clock

    def __repr__(self) -> str:
        return (f"Account(cash={self.cash!r}, equity={self.equity!r}, position={self.position!r}, "
                f"position_price={self.position_price!r})")  # fmt: skip


# ---- sizes -------------------------------------------------------------------------------------------------

# The range each size keyword admits, as the error states it (a target's shares may be 0: close the position).
_RANGES = {"shares": "> 0", "fraction": "(0, 1]", "percent": "(0, 100]", "value": "> 0"}
_MEANING = {
    IntentKind.BUY: "of cash", IntentKind.SELL: "of the position", IntentKind.TARGET: "of equity",
}  # fmt: skip


def _call(kind: IntentKind) -> str:
    return "order_target" if kind is IntentKind.TARGET else kind.value


def _one_size_message(kind: IntentKind, *sizes: object) -> str:
    given = [f"{n}={v!r}" for n, v in zip(("shares", "fraction", "percent", "value"), sizes, strict=True)
             if v is not None]  # fmt: skip
    what = ", ".join(given) if given else "no size"
    return f"{_call(kind)}({what}): give exactly one of shares, fraction, percent or value"


def _checked_size(kind: IntentKind, name: str, size: object) -> float:
    """``size`` as a float when it is in ``name``'s range, else StrategyError saying what is allowed. Off the hot
    path: ``_intend`` calls it only for a value its inline test did not pass (or not a plain int or float: a
    numpy number is admitted here, as its float)."""
    call = f"{_call(kind)}({name}={size!r})"
    if isinstance(size, bool | np.bool_) or not isinstance(size, Real):
        raise StrategyError(f"{call}: {name} must be a number, not {type(size).__name__}")
    number = float(size)
    # A target's shares are a position: 0 closes it, below 0 is a short (refused by runners that do not short).
    position = name == "shares" and kind is IntentKind.TARGET
    high = {"fraction": 1.0, "percent": 100.0}.get(name, math.inf)
    if math.isfinite(number) and (position or number > 0) and number <= high:
        return number
    if name in ("fraction", "percent"):
        message = f"{call}: {name} must be in {_RANGES[name]}"
        if name == "percent" and math.isfinite(number) and number > 100:
            message += f"; {number:g}% {_MEANING[kind]} is more than all of it (percent=100 is all)"
        elif name == "fraction" and math.isfinite(number) and 1 < number <= 100:
            message += f"; fraction=1 is all {_MEANING[kind]}: for {number:g}% write percent={number:g}"
    else:
        message = f"{call}: {name} must be a finite number" + ("" if position else f" {_RANGES[name]}")
    raise StrategyError(message)


# ---- the base class -----------------------------------------------------------------------------------------


class Strategy:
    """Subclass, declare ``Param`` attributes, implement ``init`` and ``next``."""

    params: ClassVar[dict[str, Param[Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = dict(getattr(cls, "params", {}))
        for name, value in list(vars(cls).items()):
            if isinstance(value, Param):
                declared[name] = Param(**{**value.__dict__, "name": name})
                delattr(cls, name)  # instances carry the chosen value instead
        cls.params = declared

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self.params)
        if unknown:
            allowed = ", ".join(sorted(self.params)) or "none"
            raise StrategyParamError(f"unknown parameter(s) {', '.join(sorted(unknown))} (declared: {allowed})")
        self.values = {name: p.check(values.get(name, p.default)) for name, p in self.params.items()}
        for name, value in self.values.items():
            setattr(self, name, value)
        self.account = Account()
        self._intents: list[OrderIntent] = []
        self._clock = Clock()
        self._indicators: list[tuple[str, np.ndarray]] = []

    # -- for the strategy's author --
    def init(self, data: BarData) -> None:
        """Compute indicators over the whole series (``self.indicator(...)``)."""

    def next(self, data: BarData) -> None:
        """Decide at the close of the current bar; ``data`` columns end at that bar."""
        raise NotImplementedError("a strategy must implement next()")

    def indicator(self, values: Any, name: str | None = None) -> Lagged:
        """Register a whole-series indicator; in ``next`` it reads like the bars (``x[-1]`` is now)."""
        array = np.ascontiguousarray(values, dtype=np.float64)
        label = name or f"indicator{len(self._indicators)}"
        self._indicators.append((label, array))
        return Lagged(array, self._clock, label)

    @property
    def position(self) -> float:
        return self.account.position

    @property
    def bar_index(self) -> int:
        return self._clock.i

    def buy(self, shares: float | None = None, *, fraction: float | None = None, percent: float | None = None,
            value: float | None = None, limit: float | None = None, stop: float | None = None,
            stop_loss: float | None = None, take_profit: float | None = None, tag: str = "") -> None:  # fmt: skip
        """Buy ``shares``, or a ``fraction`` (0, 1] of cash, or a ``percent`` (0, 100] of cash, or shares worth
        ``value``; market unless ``limit``/``stop``; a bracket with ``stop_loss`` and ``take_profit``."""
        self._intend(_BUY, shares, fraction, percent, value, limit, stop, stop_loss, take_profit, tag)

    def sell(self, shares: float | None = None, *, fraction: float | None = None, percent: float | None = None,
             value: float | None = None, limit: float | None = None, stop: float | None = None,
             tag: str = "") -> None:  # fmt: skip
        """Sell ``shares``, or a ``fraction`` (0, 1] or ``percent`` (0, 100] of the position, or shares worth
        ``value``."""
        self._intend(_SELL, shares, fraction, percent, value, limit, stop, None, None, tag)

    def order_target(self, *, shares: float | None = None, fraction: float | None = None,
                     percent: float | None = None, value: float | None = None, limit: float | None = None,
                     tag: str = "") -> None:  # fmt: skip
        """Trade to a position: ``shares`` held (0 closes it), a ``fraction`` (0, 1] or ``percent`` (0, 100] of
        equity, or ``value`` in money."""
        self._intend(_TARGET, shares, fraction, percent, value, limit, None, None, None, tag)

    def cancel_all(self) -> None:
        self._intents.append(OrderIntent(IntentKind.CANCEL_ALL, self._clock.i))

    def _intend(self, kind: IntentKind, shares: float | None, fraction: float | None, percent: float | None,
                value: float | None, limit: float | None, stop: float | None, stop_loss: float | None,
                take_profit: float | None, tag: str) -> None:  # fmt: skip
        # written out rather than with comprehensions: strategies that trade often call this on many bars
        if (shares is None) + (fraction is None) + (percent is None) + (value is None) != 3:
            raise StrategyError(_one_size_message(kind, shares, fraction, percent, value))
        if shares is not None:
            if shares.__class__ is not float and shares.__class__ is not int:
                shares = _checked_size(kind, "shares", shares)
            if not (_isfinite(shares) and (shares > 0 or kind is _TARGET)):
                _checked_size(kind, "shares", shares)
        elif fraction is not None:
            if not (fraction.__class__ is float or fraction.__class__ is int) or not 0 < fraction <= 1:
                fraction = _checked_size(kind, "fraction", fraction)
        elif percent is not None:
            if not (percent.__class__ is float or percent.__class__ is int) or not 0 < percent <= 100:
                percent = _checked_size(kind, "percent", percent)
            fraction = percent / 100
        elif not (value.__class__ is float or value.__class__ is int) or not (_isfinite(value) and value > 0):
            value = _checked_size(kind, "value", value)
        if limit is not None or stop is not None or stop_loss is not None or take_profit is not None:
            prices = (("limit", limit), ("stop", stop), ("stop_loss", stop_loss), ("take_profit", take_profit))
            for label, price in prices:
                if price is not None and not (
                    not isinstance(price, bool) and isinstance(price, int | float) and math.isfinite(price)
                    and price > 0
                ):  # fmt: skip
                    raise StrategyError(f"{_call(kind)}({label}={price!r}): {label} must be a price > 0")
        # tuple.__new__ with every field in order, as OrderIntent._make does: half the cost of calling the type
        intent = (kind, self._clock.i, shares, fraction, value, limit, stop, stop_loss, take_profit, tag)
        self._intents.append(_tuple(OrderIntent, intent))

    # -- for runners --
    def prepare(self, data: BarData) -> BarData:
        """Run ``init`` on the whole series; returns the lagged view ``next`` must be given."""
        self._indicators.clear()
        self._clock.i = -1  # no bar is current in init (not even the last one of an earlier run)
        self.init(data)
        return data.lagged(self._clock)

    def step(self, index: int, lagged: BarData) -> list[OrderIntent]:
        """Advance to bar ``index`` (now closed), run ``next``, hand back the intents it made."""
        if self._intents:
            self.take_intents()  # left by a next() that raised: not this bar's
        self._clock.i = index
        self.next(lagged)
        return self.take_intents()

    @property
    def runner_clock(self) -> Clock:
        """The bar index the lagged views read. A runner that calls ``next`` itself (instead of ``step``) sets
        ``runner_clock.i`` before each call and collects with ``take_intents``."""
        return self._clock

    @property
    def intents(self) -> list[OrderIntent]:
        """The intents made since the last ``take_intents``: always the same list, emptied in place, so a runner
        may hold on to it and test it after every bar (read-only: a strategy cannot swap it for another)."""
        return self._intents

    def take_intents(self) -> list[OrderIntent]:
        """The intents made since the last call, handed over (``intents`` is emptied in place)."""
        taken = self._intents.copy()
        self._intents.clear()
        return taken

    def indicators(self) -> list[tuple[str, np.ndarray]]:
        """The whole-series indicators ``init`` registered, as float64 (for charts and the causality check)."""
        return [(name, np.asarray(values, dtype=np.float64)) for name, values in self._indicators]


class SignalStrategy(Strategy):
    """Implement ``signals(data) -> (entries, exits)``; ``size`` is the fraction of equity an entry buys."""

    size = Param(1.0, min=0.01, max=1.0, doc="fraction of equity each entry buys")

    def signals(self, data: BarData) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError("a signal strategy must implement signals()")

    def init(self, data: BarData) -> None:
        entries, exits = self.checked_signals(data)
        # Registered as they are (the causality check and charts get them as floats from ``indicators()``):
        # next() never reads them, and two float copies were a million-bar run's largest first-touch allocation.
        self._indicators += [("entries", entries), ("exits", exits)]
        # What next() reads, one small int per bar (1: entry, 2: exit, 3: both), indexed by the current bar
        # only: the same values as entries[-1] and exits[-1], at a third of the cost on every bar of a run.
        flags = exits.view(np.int8) << 1
        flags |= entries.view(np.int8)
        self._flags = memoryview(flags)

    def next(self, data: BarData) -> None:
        flags = self._flags[self._clock.i]
        if flags:
            held = self.account.position  # a float: compared with floats, the interpreter's fast path
            if held == 0.0:
                if flags & 1:
                    self.order_target(fraction=self.size)
            elif flags & 2 and held > 0.0:
                self.order_target(shares=0)

    def checked_signals(self, data: BarData) -> tuple[np.ndarray, np.ndarray]:
        entries, exits = self.signals(data)
        entries, exits = np.asarray(entries, dtype=bool), np.asarray(exits, dtype=bool)
        if entries.shape != (len(data),) or exits.shape != (len(data),):
            raise StrategyError(f"signals must be two boolean arrays of {len(data)} bars")
        return entries, exits


def check_causal(factory: Callable[[], Strategy], data: BarData, cut: int | None = None, rtol: float = 1e-9) -> None:
    """Refuse a strategy whose indicators change their past when later bars are removed.

    ``init`` runs on the whole series and again on its first ``cut`` bars (default: two thirds); every
    indicator must agree on those bars (NaN where the other is NaN). Raises LookAheadError naming the
    indicator and the first bar that differs."""
    n = len(data)
    cut = cut if cut is not None else max(1, (2 * n) // 3)
    whole, part = factory(), factory()
    whole.prepare(data)
    part.prepare(BarData(data.symbol, *(getattr(data, k)[:cut] for k in ("time", "open", "high", "low", "close",
                                                                         "volume"))))  # fmt: skip
    for (name, full), (_, short) in zip(whole.indicators(), part.indicators(), strict=True):
        a, b = full[:cut], short[:cut]
        same = np.isclose(a, b, rtol=rtol, atol=0.0, equal_nan=True)
        if not same.all():
            first = int(np.flatnonzero(~same)[0])
            raise LookAheadError(
                f"indicator {name!r} at bar {first} changes when later bars are removed: it reads the future"
            )


@dataclass(frozen=True)
class ParamGrid:
    """Helper for batch tests: every assignment of ``values`` (name -> list), checked against the strategy."""

    strategy: type[Strategy]
    values: dict[str, list[Any]] = field(default_factory=dict)

    def assignments(self) -> Iterator[dict[str, Any]]:
        from itertools import product

        names = list(self.values)
        for name in names:
            if name not in self.strategy.params:
                raise StrategyParamError(f"{self.strategy.__name__} has no parameter {name!r}")
        for combo in product(*(self.values[n] for n in names)):
            assignment = dict(zip(names, combo, strict=True))
            yield {n: self.strategy.params[n].check(v) for n, v in assignment.items()}
