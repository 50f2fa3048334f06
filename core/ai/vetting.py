"""Vetting a candidate strategy before it is offered: the sandbox rules, the shape of the module, its
parameter declarations, then the smoke backtest. Each problem is one line a model (or a trader) can act on,
with the strategy line where there is one, so it can go straight back to the model in a repair turn.

Order matters: code that breaks the sandbox rules is never run, not even in the sandbox (the sandbox would
refuse it too, but the validator's report lists every problem at once, which is what a repair turn needs).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from core.ai.smoke import SmokeReport, smoke_test
from core.strategy.api import BarData
from core.strategy.declared_params import DeclaredParam, declared_params
from core.strategy.sandbox import validate_source
from core.strategy.source import strategy_classes


@dataclass(frozen=True)
class Vetting:
    """The verdict on one candidate: ``problems`` empty means it may be offered. ``class_name`` and ``params``
    are known once the module's shape is right; ``smoke`` once the smoke backtest ran (None on a good candidate:
    it was not asked to run)."""

    problems: tuple[str, ...]
    class_name: str | None = None
    params: tuple[DeclaredParam, ...] = ()
    smoke: SmokeReport | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def vet_strategy(
    code: str,
    *,
    bars: BarData,
    timeframe: str,
    simulated: bool,
    cpu_seconds: float,
    memory_mb: int,
    cancel: threading.Event | None = None,
    smoke: bool = True,
) -> Vetting:
    """Check ``code``; the smoke backtest (which blocks for about a second, up to the CPU budget) runs only when
    every static check passed, and only with ``smoke``: without it a candidate that passes the static checks is
    good with ``smoke`` None (not yet run), because the trader must confirm running code they did not write where
    the sandbox is not fully confined (:mod:`core.strategy.code_trust`)."""
    report = validate_source(code)
    if not report.ok:
        return Vetting(tuple(str(p) for p in report.problems))
    classes = strategy_classes(code)
    if not classes:
        return Vetting(("the module defines no strategy class (a class deriving from Strategy or SignalStrategy)",))
    if len(classes) > 1:
        return Vetting((f"the module defines {len(classes)} strategy classes ({', '.join(classes)}); define exactly "
                        "one (helpers may be plain functions)",))  # fmt: skip
    class_name = classes[0]
    params = tuple(declared_params(code, class_name))
    fixed = [f"line {p.line}: parameter {p.name!r} cannot be edited: {p.reason}" for p in params if not p.editable]
    if fixed:
        return Vetting(tuple(fixed), class_name, params)
    if not smoke:
        return Vetting((), class_name, params)
    ran = smoke_test(code, class_name, bars, timeframe=timeframe, simulated=simulated, cpu_seconds=cpu_seconds,
                     memory_mb=memory_mb, cancel=cancel)  # fmt: skip
    if not ran.ok:
        kind = "simulated" if simulated else "given"
        run = f"{len(bars):,} {kind} {timeframe} bars, default parameters"
        problem = f"the smoke backtest ({run}) failed: {ran.error}"
        return Vetting((problem,), class_name, params, ran)
    return Vetting((), class_name, params, ran)
