"""What a session will run, checked before its row exists: the saved strategy, its class and its parameters.

A trader's code is never imported here: its class and parameters are read from the syntax tree
(``core.strategy.source``, ``core.strategy.declared_params``) and checked with the same ``Param.check`` a
run applies, so a wrong value is refused at Start with a message, not by a FAILED session a minute later.
A built-in class is trusted and simply instantiated.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.paper import records
from core.paper.decider import Decider, DecisionLimits, HostDecider, InProcessDecider
from core.paper.types import PaperSessionError
from core.strategy.api import Strategy, StrategyError
from core.strategy.declared_params import declared_params
from core.strategy.library import LibraryError, load_strategy
from core.strategy.sandbox import validate_source
from core.strategy.source import pick_strategy_class


@dataclass(frozen=True)
class Resolved:
    strategy_id: uuid.UUID
    strategy_name: str
    version_id: uuid.UUID | None
    class_name: str
    params: dict[str, Any]
    runner: str  # "sandbox" | "builtin"
    builtin: str | None  # "module:qualname" of a built-in class
    make_decider: Callable[[], Decider]


def resolve(
    factory: sessionmaker[Session],
    user_id: uuid.UUID,
    strategy_id: uuid.UUID,
    *,
    params: dict[str, Any] | None,
    class_name: str | None,
    builtin: type[Strategy] | None,
    limits: DecisionLimits,
) -> Resolved:
    """The user's saved strategy ``strategy_id`` ready to run; PaperSessionError saying what is wrong otherwise.

    ``params`` override the saved strategy's parameters. With ``builtin``, that trusted class runs in-process
    and the saved strategy is what the session is recorded against."""
    try:
        saved = load_strategy(factory, user_id, strategy_id)
    except LibraryError as exc:
        raise PaperSessionError(str(exc).capitalize() + ".") from exc
    values = {**saved.parameters, **(params or {})}
    version = records.version_id(factory, saved.id, saved.version, user_id=user_id)
    if builtin is not None:
        try:
            checked = builtin(**values).values
        except StrategyError as exc:
            raise PaperSessionError(str(exc)) from exc
        module_path = f"{builtin.__module__}:{builtin.__qualname__}"
        return Resolved(saved.id, saved.name, version, builtin.__qualname__, dict(checked), "builtin", module_path,
                        lambda: InProcessDecider(builtin, checked))  # fmt: skip
    source = saved.python_code
    report = validate_source(source)
    if not report.ok:
        raise PaperSessionError(f"{saved.name} breaks the sandbox rules:\n{report}")
    try:
        chosen = pick_strategy_class(source, class_name)
    except SyntaxError as exc:
        raise PaperSessionError(f"line {exc.lineno}: {exc.msg}") from exc
    except ValueError as exc:
        raise PaperSessionError(str(exc)) from exc
    checked = check_params(source, chosen, values)
    return Resolved(saved.id, saved.name, version, chosen, checked, "sandbox", None,
                    lambda: HostDecider(source, chosen, checked, limits))  # fmt: skip


def check_params(source: str, class_name: str, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` converted as the strategy's declared parameters would convert them; PaperSessionError otherwise."""
    declared = {p.name: p for p in declared_params(source, class_name)}
    unknown = sorted(set(values) - set(declared))
    if unknown:
        allowed = ", ".join(declared) or "none"
        raise PaperSessionError(f"{class_name} has no parameter(s) {', '.join(unknown)} (declared: {allowed})")
    out: dict[str, Any] = {}
    for name, value in values.items():
        param = declared[name]
        if not param.editable:
            out[name] = value  # the run itself checks it
            continue
        try:
            out[name] = param.to_param().check(value)
        except StrategyError as exc:
            raise PaperSessionError(str(exc)) from exc
    return out
