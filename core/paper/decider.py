"""Who runs a paper session's strategy: one warm, confined host for a trader's source; this thread for a built-in.

Both keep the strategy alive for the session's life (``core.paper.live_host``): built once from the history
windows, then given every symbol's new closed bars and accounts, and answering with every symbol's intents. Each
bar is therefore decided as a backtest over the same bars would decide it, for about the cost of one more
backtest bar. A session of several symbols makes one round trip to its host per bar, not one per symbol.

Earlier, a trader's strategy ran in a fresh sandbox process per symbol per bar and was rebuilt from a 1,000-bar
window each time: 0.43-0.62 s of wall time per decision against about 2 ms in process, and state kept on
``self`` or indicators with a memory longer than the window differed from the backtest's.

Every failure comes out as a StrategyError whose message names the strategy line when there is one. A host that
dies fails the session; starting it again is the trader's decision (restart the session).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from core.paper.live_host import LiveStrategy, intent_dict
from core.strategy.api import BarData, IntentKind, OrderIntent, Strategy, StrategyError, describe_failure
from core.strategy.sandbox import StrategyHost

OPEN_DRIVER = "core.paper.live_host:open_book"
DECIDE_DRIVER = "core.paper.live_host:decide_bars"
_NUMBERS = ("shares", "fraction", "value", "limit", "stop", "stop_loss", "take_profit")
Account = Mapping[str, float | None]
Bars = Mapping[str, list[list[float]]]  # per symbol: new closed bars as [time, open, high, low, close, volume]


@dataclass(frozen=True)
class DecisionLimits:
    """Budget of the session's host: CPU per bar (and five times that to build the strategies), memory in all."""

    cpu_seconds: float = 5.0
    memory_mb: int = 1024


@dataclass(frozen=True)
class Decision:
    intents: list[OrderIntent]
    output: str = ""  # what the strategy printed while deciding (all symbols of the bar)


class Decider(Protocol):
    class_name: str
    params: dict[str, Any]  # the values the strategy runs with (defaults filled in) once opened

    def open(self, windows: Mapping[str, BarData], accounts: Mapping[str, Account], cancel: threading.Event) -> None:
        """Build the strategies from each symbol's history window (their state starts there)."""

    def decide(self, bars: Bars, accounts: Mapping[str, Account], cancel: threading.Event) -> dict[str, Decision]:
        """Each symbol's intents at the last of its new closed bars."""

    def close(self) -> None: ...


class HostDecider:
    """A trader's source, held for the session's life by one confined host."""

    def __init__(self, source: str, class_name: str, params: dict[str, Any], limits: DecisionLimits) -> None:
        self.source = source
        self.class_name = class_name
        self.params = dict(params)
        self.limits = limits
        self._host: StrategyHost | None = None

    def open(self, windows: Mapping[str, BarData], accounts: Mapping[str, Account], cancel: threading.Event) -> None:
        self.close()
        self._host = StrategyHost(self.source, self.class_name, memory_mb=self.limits.memory_mb,
                                  drivers=(OPEN_DRIVER, DECIDE_DRIVER))  # fmt: skip
        result = self._host.call(OPEN_DRIVER, (dict(windows), self.params, _plain(accounts)),
                                 cpu_seconds=self.limits.cpu_seconds * 5, cancel=cancel)  # fmt: skip
        value = result.value if isinstance(result.value, dict) else {}
        params = value.get("params")
        self.params = dict(params) if isinstance(params, dict) else self.params

    def decide(self, bars: Bars, accounts: Mapping[str, Account], cancel: threading.Event) -> dict[str, Decision]:
        if self._host is None:
            raise StrategyError("the session's strategy has not been started")
        result = self._host.call(DECIDE_DRIVER, ({s: list(b) for s, b in bars.items()}, _plain(accounts)),
                                 cpu_seconds=self.limits.cpu_seconds, cancel=cancel)  # fmt: skip
        raw = result.value
        if not isinstance(raw, dict) or set(raw) - set(bars):
            raise StrategyError("the strategy's decision could not be read (not one list of intents per symbol)")
        return {symbol: Decision(intents_from(raw.get(symbol, [])), result.output) for symbol in bars}

    def close(self) -> None:
        if self._host is not None:
            self._host.close()
            self._host = None


class InProcessDecider:
    """A built-in (trusted) strategy class, kept in the session's own thread."""

    def __init__(self, cls: type[Strategy], params: dict[str, Any]) -> None:
        self.cls = cls
        self.class_name = cls.__qualname__
        self.params = dict(params)
        self._books: dict[str, LiveStrategy] = {}

    def open(self, windows: Mapping[str, BarData], accounts: Mapping[str, Account], cancel: threading.Event) -> None:
        try:
            self._books = {s: LiveStrategy(self.cls, self.params, w, accounts.get(s, {})) for s, w in windows.items()}
        except StrategyError:
            raise
        except Exception as exc:
            raise StrategyError(describe_failure(exc)) from exc
        if self._books:
            self.params = next(iter(self._books.values())).values

    def decide(self, bars: Bars, accounts: Mapping[str, Account], cancel: threading.Event) -> dict[str, Decision]:
        out: dict[str, Decision] = {}
        for symbol, new in bars.items():
            book = self._books.get(symbol)
            if book is None:
                raise StrategyError(f"the session has no strategy for {symbol}")
            try:
                intents = book.on_bars(new, accounts.get(symbol, {}))
            except StrategyError:
                raise
            except Exception as exc:
                raise StrategyError(describe_failure(exc)) from exc
            # through plain data and back, exactly as a host's answer comes: one path for both kinds of decider
            out[symbol] = Decision(intents_from([intent_dict(i) for i in intents]))
        return out

    def close(self) -> None:
        self._books = {}


def _plain(accounts: Mapping[str, Account]) -> dict[str, dict[str, float | None]]:
    return {symbol: dict(account) for symbol, account in accounts.items()}


def intents_from(raw: Any) -> list[OrderIntent]:
    """Intents from the plain data the driver returned, checked: it crossed a process boundary."""
    if not isinstance(raw, list):
        raise StrategyError("the strategy's decision could not be read (no list of intents)")
    return [_intent(item) for item in raw]


def _intent(item: Any) -> OrderIntent:
    if not isinstance(item, dict):
        raise StrategyError("the strategy's decision could not be read (an intent is not a mapping)")
    try:
        kind = IntentKind(_text(item.get("kind")))
    except ValueError:
        raise StrategyError(f"unknown order intent {item.get('kind')!r}") from None
    numbers: dict[str, float | None] = {}
    for name in _NUMBERS:
        value = item.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value)):  # fmt: skip
            raise StrategyError(f"order intent {name} must be a finite number, got {value!r}")
        numbers[name] = None if value is None else float(value)
    # The child is believed in nothing: what the Strategy API refuses in a strategy is refused here too, so a forged
    # reply cannot ask for 1,000% of cash (a fraction above 1) or a negative buy.
    sizes = [name for name in ("shares", "fraction", "value") if numbers[name] is not None]
    if kind is not IntentKind.CANCEL_ALL and len(sizes) != 1:
        raise StrategyError(f"order intent {kind.value} must carry exactly one of shares, fraction or value")
    fraction = numbers["fraction"]
    if fraction is not None and not 0 < fraction <= 1:
        raise StrategyError(f"order intent fraction must be in (0, 1], got {fraction!r}")
    for name in ("value", "limit", "stop", "stop_loss", "take_profit"):
        number = numbers[name]
        if number is not None and number <= 0:
            raise StrategyError(f"order intent {name} must be greater than 0, got {number!r}")
    shares = numbers["shares"]
    if shares is not None and kind is not IntentKind.TARGET and shares <= 0:
        raise StrategyError(f"order intent shares must be greater than 0, got {shares!r}")
    bar, tag = item.get("bar"), item.get("tag")
    index = bar if isinstance(bar, int) and not isinstance(bar, bool) else -1
    return OrderIntent(kind, index, tag=str(tag)[:100] if tag else "", **numbers)


def _text(value: object) -> str:
    """``value`` if it is text; anything else as ValueError, which an enumeration raises for a value it lacks."""
    if not isinstance(value, str):
        raise ValueError(value)
    return value
