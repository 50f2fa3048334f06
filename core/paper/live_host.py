"""A paper session's strategies, kept warm in the session's host: each closed bar decided as a backtest would.

The session's host (one confined process for the session's life) calls these drivers with the class the
trader's source defines. :func:`open_book` builds one :class:`LiveStrategy` per symbol from the history window;
:func:`decide_bars` then takes every symbol's new bars and accounts in one round trip and hands back each
symbol's intents. Built-in strategies use :class:`LiveStrategy` directly in the session's thread.

Why this equals the backtest (``run_backtest`` over the window plus the live bars, with the window as warm-up):

* ``init`` computes indicators over the whole series, and ``check_causal`` guarantees an indicator's value at a
  bar does not change when later bars are added. So after each new bar, ``init`` runs again over the history so
  far, on a scratch instance bound to the live instance's clock, and the series it derives (``self.indicator``
  results, arrays, memoryviews, and lists or dicts of them) replace the live instance's: the values ``next``
  reads at this bar are the backtest's, long-memory ones such as EMAs included (both start at the same bar).
* Everything else on ``self`` (counters, flags, lists a strategy appends to in ``next``) is the strategy's state
  and carries over from bar to bar, exactly as it does in a backtest's single instance.
* The window's bars are stepped through once at the start with their intents thrown away (the backtest's
  warm-up, ``BacktestConfig.warmup_bars``), so state built in ``next`` starts from the same bar in both.

What cannot match: a strategy whose ``init`` derives a non-series value from the whole history (the last close,
the series' maximum) reads the future in a backtest; live it keeps the value its first ``init`` computed.

Cost per bar: one ``init`` over the history (vectorised; about 0.1 ms for a few indicators over 1,000 bars) and
one ``next``, instead of a process start and a rebuild over the window.

Nothing here imports the database, the ledger or Qt: the host loads this module before it is confined.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.strategy.api import BarData, Lagged, OrderIntent, Strategy, StrategyError

_COLUMNS = ("time", "open", "high", "low", "close", "volume")
_RUNNER_FIELDS = frozenset({"_clock", "_intents", "_indicators", "account", "values"})
_books: dict[str, LiveStrategy] = {}  # this host's strategies by symbol (a host serves one session)


class _Columns:
    """The bars so far, in float64 buffers that grow by doubling (views of them are what ``init`` sees)."""

    def __init__(self, window: BarData) -> None:
        n = len(window)
        self.n = n
        self.symbol = window.symbol
        self.buffers = [np.empty(max(2 * n, 256)) for _ in _COLUMNS]
        for buffer, name in zip(self.buffers, _COLUMNS, strict=True):
            buffer[:n] = np.asarray(getattr(window, name), dtype=np.float64)

    def append(self, bar: Sequence[float]) -> None:
        if self.n == len(self.buffers[0]):
            self.buffers = [np.concatenate([b, np.empty(len(b))]) for b in self.buffers]
        for buffer, value in zip(self.buffers, bar, strict=True):
            buffer[self.n] = value
        self.n += 1

    @property
    def last_time(self) -> float:
        return float(self.buffers[0][self.n - 1]) if self.n else -math.inf

    def data(self) -> BarData:
        return BarData(self.symbol, *(b[: self.n] for b in self.buffers))


class LiveStrategy:
    """One symbol's strategy instance, fed one closed bar at a time."""

    def __init__(self, cls: type[Strategy], params: Mapping[str, Any], window: BarData,
                 account: Mapping[str, float | None]) -> None:  # fmt: skip
        self.cls = cls
        self.params = dict(params)
        self.strategy = cls(**self.params)
        self._constructed = set(vars(self.strategy))
        self.columns = _Columns(window)
        self.lagged = self.strategy.prepare(self.columns.data())
        _set_account(self.strategy, account)
        for i in range(self.columns.n):  # the warm-up: state from the first bar, intents thrown away
            self.strategy.step(i, self.lagged)

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.strategy.values)

    def on_bars(self, bars: Sequence[Sequence[float]], account: Mapping[str, float | None]) -> list[OrderIntent]:
        """Add the closed ``bars`` (time, open, high, low, close, volume; later than any before) and decide at the
        last one. Bars in between (a session that fell behind) are stepped with their intents thrown away."""
        fresh = [bar for bar in bars if len(bar) == len(_COLUMNS) and float(bar[0]) > self.columns.last_time]
        if not fresh:
            return []
        for bar in fresh:
            self.columns.append([float(x) for x in bar])
        self._refresh()
        _set_account(self.strategy, account)
        last = self.columns.n - 1
        for i in range(last - len(fresh) + 1, last):
            self.strategy.step(i, self.lagged)
        return self.strategy.step(last, self.lagged)

    def _refresh(self) -> None:
        """``init`` over the history so far, on a scratch instance sharing the live clock; its series replace the
        live instance's, and nothing else does."""
        live = self.strategy
        scratch = self.cls(**self.params)
        scratch._clock = live.runner_clock  # its Lagged views read the live instance's current bar
        self.lagged = scratch.prepare(self.columns.data())
        live._indicators = scratch._indicators
        for name, value in vars(scratch).items():
            if name in _RUNNER_FIELDS or name in self._constructed:
                continue
            if _is_series(value):
                setattr(live, name, value)


def _is_series(value: Any) -> bool:
    """A value ``init`` derives from the bars: refreshed each bar. Everything else on ``self`` is state."""
    if isinstance(value, Lagged | np.ndarray | memoryview):
        return True
    if isinstance(value, list | tuple) and value:
        return all(_is_series(v) for v in value)
    if isinstance(value, dict) and value:
        return all(_is_series(v) for v in value.values())
    return False


def _set_account(strategy: Strategy, account: Mapping[str, float | None]) -> None:
    state = strategy.account
    state.cash = float(account.get("cash") or 0.0)
    state.equity = float(account.get("equity") or 0.0)
    state.position = float(account.get("position") or 0.0)
    price = account.get("position_price")
    state.position_price = float(price) if price is not None else math.nan


def _strategy_class(target: Any) -> type[Strategy]:
    if not (isinstance(target, type) and issubclass(target, Strategy)):
        raise StrategyError(f"{getattr(target, '__name__', 'the entry')} is not a Strategy class")
    return target


# ---- the drivers a session's host runs ----


def open_book(target: Any, windows: dict[str, BarData], params: dict[str, Any],
              accounts: dict[str, dict[str, float | None]]) -> dict[str, Any]:  # fmt: skip
    """Build the session's strategies (one per symbol) from their history windows; the parameter values they run
    with (defaults filled in) come back."""
    cls = _strategy_class(target)
    _books.clear()
    values: dict[str, Any] = {}
    for symbol, window in windows.items():
        _books[symbol] = LiveStrategy(cls, params, window, accounts.get(symbol, {}))
        values = _books[symbol].values
    return {"params": values}


def decide_bars(target: Any, bars: dict[str, list[list[float]]],
                accounts: dict[str, dict[str, float | None]]) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """Every symbol's new closed bars in, every symbol's intents (as plain data) out: one round trip per bar."""
    out: dict[str, list[dict[str, Any]]] = {}
    for symbol, new in bars.items():
        book = _books.get(symbol)
        if book is None:
            raise StrategyError(f"the session's host has no strategy for {symbol}")
        out[symbol] = [intent_dict(i) for i in book.on_bars(new, accounts.get(symbol, {}))]
    return out


def intent_dict(intent: OrderIntent) -> dict[str, Any]:
    """An intent as plain data (what crosses back from the host, and what a signal's metadata keeps)."""
    return {
        "kind": intent.kind.value, "bar": int(intent.bar), "shares": intent.shares, "fraction": intent.fraction,
        "value": intent.value, "limit": intent.limit, "stop": intent.stop, "stop_loss": intent.stop_loss,
        "take_profit": intent.take_profit, "tag": str(intent.tag),
    }  # fmt: skip
