"""The Strategy API contract as the model reads it: what a strategy module may contain and call.

Most of it is built from the code it describes, so it cannot drift from what the sandbox enforces and the
engine runs: the allowed imports, refused built-ins and refused attribute names come from
:mod:`core.strategy.sandbox.rules`; the order methods' and indicators' signatures and first docstring
sentences from :mod:`core.strategy.api` and :mod:`core.strategy.indicators` (read with ``inspect``, not run);
the timeframes from :mod:`core.domain.bars`. The prose around them says what those lists cannot: the life
cycle of ``init``/``next``, what a ``Lagged`` series is, that orders fill on the next bar, long only.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import re
import textwrap
from collections.abc import Callable
from typing import Any

from core.domain.bars import TIMEFRAMES
from core.strategy import api, indicators
from core.strategy.sandbox import rules

CONTRACT_TITLE = "StratForge Strategy API contract"
"""The heading the contract starts with (tests look for it in requests)."""

_EXAMPLE_PER_BAR = '''\
from core.strategy.api import Param, Strategy
from core.strategy.indicators import sma


class SmaCross(Strategy):
    """Long while the fast average is above the slow one."""

    fast = Param(10, min=2, max=200, doc="bars of the fast average")
    slow = Param(50, min=5, max=500, doc="bars of the slow average")

    def init(self, data):
        self.fast_ma = self.indicator(sma(data.close, self.fast), "fast_ma")
        self.slow_ma = self.indicator(sma(data.close, self.slow), "slow_ma")

    def next(self, data):
        if self.fast_ma[-1] > self.slow_ma[-1] and self.position == 0:
            self.order_target(fraction=0.15)  # 15% of equity: inside the default risk limits
        elif self.fast_ma[-1] < self.slow_ma[-1] and self.position > 0:
            self.order_target(shares=0)
'''

_EXAMPLE_SIGNALS = '''\
import numpy as np

from core.strategy.api import Param, SignalStrategy
from core.strategy.indicators import rsi


class RsiBounce(SignalStrategy):
    """Buy when RSI is oversold, sell when it has recovered."""

    period = Param(14, min=2, max=100, doc="RSI bars")
    oversold = Param(30.0, min=1.0, max=50.0, doc="RSI level that counts as oversold")
    recovered = Param(55.0, min=40.0, max=99.0, doc="RSI level at which to sell")

    def signals(self, data):
        r = rsi(data.close, self.period)
        with np.errstate(invalid="ignore"):  # warm-up bars are NaN and compare as False
            return r < self.oversold, r > self.recovered
'''


@functools.cache
def strategy_api_contract() -> str:
    """The whole contract, as plain text with Python code blocks (a few thousand tokens)."""
    sections = [
        f"# {CONTRACT_TITLE}",
        _module_shape(),
        _params(),
        _life_cycle(),
        _orders(),
        _signal_strategy(),
        _indicator_list(),
        _sandbox_rules(),
        _examples(),
    ]
    return "\n\n".join(s.strip() for s in sections) + "\n"


def importable_modules() -> tuple[str, ...]:
    """The sandbox's allowed modules that exist in this installation (an allowed name that does not import
    would only earn the model a run-time error)."""
    found = []
    for name in rules.ALLOWED_MODULES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            found.append(name)
    return tuple(found)


def _module_shape() -> str:
    modules = ", ".join(importable_modules())
    return f"""\
## The module
A strategy is ONE Python 3.12 module that defines exactly ONE strategy class: a subclass of `Strategy` (decide
bar by bar) or of `SignalStrategy` (entry/exit signals computed over the whole series), both from
`core.strategy.api`. It may also define constants and helper functions; nothing may run at import time except
definitions. The same class runs unchanged in backtests, simulated sessions and live paper trading.

Imports allowed (and their submodules): {modules}. Nothing else can be imported: no os, sys, io, pathlib,
subprocess, socket, requests, urllib, pickle, importlib, talib, scipy, sklearn.
Write `from core.strategy.api import Param, Strategy` and `from core.strategy.indicators import sma, rsi`.
`import a.b` without `as` is refused when `a` itself is not allowed: write `from a.b import x` or
`import a.b as b`. `from x import *` and relative imports are refused."""


def _params() -> str:
    return f"""\
## Parameters
Declare tunable parameters as class attributes: `name = {_signature("Param", api.Param)}`, e.g.
`fast = Param(10, min=2, max=200, doc="bars of the fast average")`. The default's type (int, float, bool or
str) is the parameter's type; `min`/`max` bound numbers, `choices` is a tuple of allowed values, `doc` a short
description for the trader. Use LITERAL values only (numbers, text, True/False): the editor reads the
declarations without running the code. Inside methods the chosen value is `self.name` (a plain int/float/...).
Batch tests vary these parameters, so every number a trader might want to tune should be a Param, and
lengths of moving averages etc. must stay valid across the declared range (e.g. keep fast < slow by ranges
that cannot overlap, or check it in `init` and raise `StrategyError` with a clear message)."""


def _life_cycle() -> str:
    account_fields = ", ".join(f"`self.account.{name}`" for name in api.Account.FIELDS)
    return f"""\
## Life cycle of a `Strategy`
- `init(self, data)` runs once with the WHOLE series: `data.open`, `data.high`, `data.low`, `data.close`,
  `data.volume` and `data.time` (epoch seconds, UTC, of each bar's open) are 1-D float64 numpy arrays of the same
  length; `data.symbol` is the ticker; `len(data)` the number of bars. Compute indicators here, vectorised, and
  register each with `self.indicator(values, name=None)`, which returns a `Lagged` series for `next`.
  Indicators must be causal: a bar's value may depend only on that bar and earlier ones (never
  `np.roll(x, -1)`, a centred window, `x[i + 1]`, or statistics of the whole series such as `x.mean()`).
- `next(self, data)` runs at the close of every bar, oldest first. Here every column of `data` and every
  registered indicator is a `Lagged` view that ends at the current bar: `x[-1]` is the current bar, `x[-2]` the
  one before; `x[k]` with k > the current index raises `LookAheadError`; `x[-n]` before the first bar raises
  IndexError, so check `len(x)` (or `self.bar_index`) first; `x.values` is a numpy array up to now.
  Indicator values are NaN during their warm-up, and any comparison with NaN is False: check
  `math.isnan(v)` where it matters.
- State: `self.position` (shares held, never negative), `self.bar_index` (0-based index of the current bar),
  {account_fields}. You may keep your own attributes on `self` (set them in `init`).
- Raise `StrategyError("message for the trader")` (from core.strategy.api) for an impossible parameter
  combination."""


def _orders() -> str:
    fallback = {"cancel_all": "Cancel the strategy's working (unfilled) orders."}
    methods = "\n".join(
        f"- `self.{_signature(name, getattr(api.Strategy, name))}`: "
        f"{_first_sentence(getattr(api.Strategy, name)) or fallback.get(name, '')}"
        for name in ("buy", "sell", "order_target", "cancel_all")
    )
    return f"""\
## Orders (only inside `next`)
{methods}
Give exactly ONE of shares / fraction / percent / value. `fraction` is a fraction in (0, 1]: 0.25 = a quarter
(of cash for `buy`, of the position for `sell`, of equity for `order_target`); `percent` is a real percent in
(0, 100]: `percent=25` is the same as `fraction=0.25`. A size outside its range (`percent=250`, `fraction=1.5`)
stops the strategy with an error: nothing is trimmed to fit. The trader's default risk limits refuse an order
worth more than $25,000 of a $100,000 account and more than $20,000 in one symbol, so size entries at
`fraction=0.15` or less unless asked otherwise. `order_target(shares=0)` closes the position.
An order decided at a bar's close fills on the NEXT bar (market orders at its open; limit/stop orders when
its range reaches the price), never on the bar that produced it. Long only: selling more than is held
(shorting) is refused. Whole shares unless the run allows fractions. Place at most one order per decision
and check `self.position` so the same order is not sent again on every bar."""


def _signal_strategy() -> str:
    size = api.SignalStrategy.params["size"]
    return f"""\
## `SignalStrategy` (preferred for plain long/flat rules: it runs on a fast vectorised path)
Implement only `signals(self, data) -> (entries, exits)`: two boolean numpy arrays of `len(data)` bars,
computed over the whole series like `init` (same causality rule). When flat, an entry buys `self.size` of
equity (`size` is a built-in Param, default {size.default}, range {size.min}..{size.max}); when long, an exit
sells everything. Do not override `init` or `next` in a SignalStrategy. Use `with np.errstate(invalid="ignore"):`
around comparisons of series that start with NaN."""


def _indicator_list() -> str:
    lines = []
    for name, fn in _indicator_functions():
        lines.append(f"- `{_signature(name, fn)}`: {_first_sentence(fn)}")
    return f"""\
## Indicators (`from core.strategy.indicators import ...`)
Each takes whole 1-D arrays (in `init`/`signals`, not the Lagged views of `next`) and returns float64 array(s) of
the same length, NaN during warm-up; periods are whole numbers from 1 to {indicators.MAX_PERIOD:,}.
{chr(10).join(lines)}
`macd` returns `Macd(line, signal, hist)` and `bollinger` returns `Bands(mid, upper, lower)`: unpack them
(`mid, upper, lower = bollinger(data.close, 20, 2.0)`) or use the fields (`.hist`, `.lower`).
numpy and pandas may compute anything else (e.g. `pd.Series(data.close).rolling(20).max().to_numpy()`); to
compare with EARLIER bars only, shift by one bar first (a channel a close breaks is made of previous bars)."""


def _sandbox_rules() -> str:
    builtins_ = ", ".join(sorted(rules.FORBIDDEN_BUILTINS))
    denied = ", ".join(sorted(rules.DENIED_ATTRIBUTES, key=str.lower))
    prefixes = ", ".join(f"{p}*" for p in rules.DENIED_ATTRIBUTE_PREFIXES)
    dunders = ", ".join(sorted(rules.ALLOWED_DUNDER_ACCESS))
    return f"""\
## Sandbox rules (the code is checked before it is saved and runs in a locked-down process)
- These built-ins do not exist in a strategy: {builtins_}.
- Double-underscore names (`__class__`, `__dict__`, ...) are refused, except {dunders}; text containing such
  a name is refused too. Private attributes (`obj._x`) are allowed only on `self`/`cls`.
- These attribute names are refused on ANY object, including your own (so do not name your methods or
  attributes like this): {denied}, and every name starting with {prefixes}.
- No async code, no `type()` with three arguments, no files, network, processes or threads.
- CPU time and memory are limited; a strategy that raises, loops forever or runs out of memory is stopped and
  the error is reported with its line. `print` works, but nobody sees it unless the run fails.
- Timeframes the app runs: {", ".join(TIMEFRAMES)}."""


def _examples() -> str:
    return (
        f"## Examples of complete, valid modules\n```python\n{_EXAMPLE_PER_BAR}```\n\n```python\n{_EXAMPLE_SIGNALS}```"
    )


def example_sources() -> tuple[str, str]:
    """The contract's two example modules (tests check that they pass the sandbox validator)."""
    return _EXAMPLE_PER_BAR, _EXAMPLE_SIGNALS


# ---- reading the API without running anything -----------------------------------------------------------------


def _indicator_functions() -> list[tuple[str, Callable[..., Any]]]:
    return [
        (name, fn)
        for name, fn in vars(indicators).items()
        if inspect.isfunction(fn) and not name.startswith("_") and fn.__module__ == indicators.__name__
    ]


def _signature(name: str, fn: Callable[..., Any]) -> str:
    """``name(a, b=1, *, c=None)``: the call shape without annotations (which are strings here and only noise)."""
    signature = inspect.signature(fn)
    parameters = [
        p.replace(annotation=inspect.Parameter.empty)
        for p in signature.parameters.values()
        if p.name != "self" and not (fn is api.Param and p.name == "name")
    ]
    plain = signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty)
    return f"{name}{plain}"


def _first_sentence(fn: Callable[..., Any]) -> str:
    """The docstring's first paragraph on one line, reST markup removed."""
    doc = inspect.getdoc(fn) or ""
    paragraph = textwrap.dedent(doc).split("\n\n", 1)[0]
    text = " ".join(paragraph.split())
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "`")
