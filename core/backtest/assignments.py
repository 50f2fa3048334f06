"""Batch variables and their assignments: the cartesian product of value lists, capped.

A batch varies named variables (strategy parameters, and ``ticker`` for the symbol, as in seed 002's
``[{"name": "ticker", "values": ["SPY", "QQQ"]}]``). Every combination is one run. Products grow fast
(five lists of ten values are 100,000 runs), so the product is taken lazily and cut at a cap; the
batch then records that it was truncated and how many assignments the full product had. The order is
``itertools.product``'s, which is stable: run ``i`` is the same assignment every time the batch is
expanded again, which is what makes resuming by run index sound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice, product
from typing import Any

from core.domain.symbols import normalize_symbol

SYMBOL_VARIABLE = "ticker"
DEFAULT_CAP = 10_000
MAX_CAP = 1_000_000


def parse_value(text: str) -> Any:
    """A value typed as text (a form, a command line), as the type it looks like: bool, int, float, else the
    trimmed text. One rule everywhere, so "10" varies an integer parameter in the CLI and in the panels alike."""
    stripped = text.strip()
    if stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    for kind in (int, float):
        try:
            return kind(stripped)
        except ValueError:
            continue
    return stripped


def parse_values(text: str) -> tuple[Any, ...]:
    """Comma-separated values; empty items (a trailing comma) are ignored."""
    return tuple(parse_value(part) for part in text.split(",") if part.strip())


class VariableError(ValueError):
    """A variable list that cannot be expanded; the message says which and why."""


@dataclass(frozen=True)
class Variable:
    name: str
    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise VariableError(f"a variable name must be an identifier, got {self.name!r}")
        if not self.values:
            raise VariableError(f"variable {self.name!r} has no values")
        if self.name == SYMBOL_VARIABLE:
            if not all(isinstance(v, str) and v.strip() for v in self.values):
                raise VariableError("ticker values must be symbols")
            object.__setattr__(self, "values", tuple(normalize_symbol(v) for v in self.values))
        if len(set(map(repr, self.values))) != len(self.values):
            raise VariableError(f"variable {self.name!r} lists a value twice")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "values": list(self.values), "count": len(self.values)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Variable:
        values = data.get("values")
        if not isinstance(values, list):
            raise VariableError(f"variable {data.get('name')!r} needs a list of values")
        return cls(str(data.get("name", "")), tuple(values))


@dataclass(frozen=True)
class Assignments:
    items: tuple[dict[str, Any], ...]
    full_count: int  # the size of the whole product
    truncated: bool


def product_size(variables: Sequence[Variable]) -> int:
    return math.prod(len(v.values) for v in variables)


def expand(variables: Sequence[Variable], cap: int = DEFAULT_CAP) -> Assignments:
    """The first ``cap`` assignments of the product of ``variables`` (one empty assignment when none)."""
    if not 1 <= cap <= MAX_CAP:
        raise VariableError(f"the assignment cap must be between 1 and {MAX_CAP:,}, got {cap}")
    names = [v.name for v in variables]
    if len(set(names)) != len(names):
        raise VariableError("a variable is listed twice")
    full = product_size(variables)
    combos = islice(product(*(v.values for v in variables)), cap)
    items = tuple(dict(zip(names, combo, strict=True)) for combo in combos)
    return Assignments(items, full, full > cap)
