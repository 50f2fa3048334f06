"""Who runs the strategy at each closed bar: the sandbox for a trader's source, this thread for a built-in.

Both call the same function (``core.paper.sandboxed.decide_with``) and hand back OrderIntents, so a
session cannot tell them apart except by cost: a sandboxed decision starts a limited child process per bar
(measured about 0.43 s of wall time on a 2-core machine for a 500 or 2,000-bar window, of which the strategy
itself used 2-6 ms of CPU; in-process the same decision takes 1.6-5.4 ms). Every failure comes out as a
StrategyError whose message names the strategy line when there is one.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from core.paper.sandboxed import decide_with
from core.strategy.api import BarData, IntentKind, OrderIntent, Strategy, StrategyError, describe_failure
from core.strategy.sandbox import run_sandboxed

DRIVER = "core.paper.sandboxed:decide"
_NUMBERS = ("shares", "percent", "value", "limit", "stop", "stop_loss", "take_profit")


@dataclass(frozen=True)
class DecisionLimits:
    """Budget of one sandboxed decision (the window's init plus a next per bar)."""

    cpu_seconds: float = 5.0
    memory_mb: int = 1024


@dataclass(frozen=True)
class Decision:
    intents: list[OrderIntent]
    params: dict[str, Any]  # the values the strategy ran with (defaults filled in)
    output: str = ""  # what the strategy printed


class Decider(Protocol):
    class_name: str

    def decide(self, window: BarData, account: dict[str, float | None], cancel: threading.Event) -> Decision: ...


class SandboxDecider:
    """A trader's source, run in a fresh sandbox child per decision with the session's trusted driver."""

    def __init__(self, source: str, class_name: str, params: dict[str, Any], limits: DecisionLimits) -> None:
        self.source = source
        self.class_name = class_name
        self.params = dict(params)
        self.limits = limits

    def decide(self, window: BarData, account: dict[str, float | None], cancel: threading.Event) -> Decision:
        result = run_sandboxed(
            self.source, self.class_name, (window, self.params, account), driver=DRIVER,
            cpu_seconds=self.limits.cpu_seconds, memory_mb=self.limits.memory_mb, cancel=cancel,
        )  # fmt: skip
        value = result.value if isinstance(result.value, dict) else {}
        return Decision(intents_from(value.get("intents")), dict(value.get("params") or {}), result.output)


class InProcessDecider:
    """A built-in (trusted) strategy class, run in the calling thread."""

    def __init__(self, cls: type[Strategy], params: dict[str, Any]) -> None:
        self.cls = cls
        self.class_name = cls.__qualname__
        self.params = dict(params)

    def decide(self, window: BarData, account: dict[str, float | None], cancel: threading.Event) -> Decision:
        try:
            value = decide_with(self.cls, window, self.params, account)  # type: ignore[arg-type]
        except StrategyError:
            raise
        except Exception as exc:
            raise StrategyError(describe_failure(exc)) from exc
        return Decision(intents_from(value["intents"]), dict(value["params"]))


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
    bar, tag = item.get("bar"), item.get("tag")
    index = bar if isinstance(bar, int) and not isinstance(bar, bool) else -1
    return OrderIntent(kind, index, tag=str(tag)[:100] if tag else "", **numbers)


def _text(value: object) -> str:
    """``value`` if it is text; anything else as ValueError, which an enumeration raises for a value it lacks."""
    if not isinstance(value, str):
        raise ValueError(value)
    return value
