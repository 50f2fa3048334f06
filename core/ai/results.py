"""What the generator hands the editor: a vetted strategy (with everything the editor shows next to its
code), a modification with its diff, an explanation. Frozen values: they are passed from a worker thread
to the GUI thread and may be kept in an undo history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.ai.client import Usage
from core.ai.errors import FailedAttempt
from core.ai.smoke import SmokeReport
from core.strategy.declared_params import DeclaredParam
from core.strategy.library import StrategyDraft


@dataclass(frozen=True)
class GeneratedStrategy:
    """A strategy the model wrote that passed the sandbox validator and the smoke backtest.

    ``parameters`` are the code's own ``Param`` declarations (read from its syntax tree, with the model's
    description where the code gives none). ``family`` is the model's when it named an allowed one
    (``family_source == "model"``), else the code analysis' (``"analysis"``, possibly None). ``attempts`` is how
    many answers it took (1: the first was good) and ``repaired`` the earlier answers with their problems."""

    code: str
    class_name: str
    explanation: str
    parameters: tuple[DeclaredParam, ...]
    symbols: tuple[str, ...]
    timeframe: str
    family: str | None
    family_source: str
    smoke: SmokeReport
    attempts: int
    usage: Usage
    model: str
    created_at: datetime  # UTC
    repaired: tuple[FailedAttempt, ...] = ()

    @property
    def default_values(self) -> dict[str, Any]:
        """Each parameter's default: the values the smoke backtest ran with, and a new strategy's first values."""
        return {p.name: p.default for p in self.parameters}

    def to_draft(self, name: str, *, description: str | None = None, tags: tuple[str, ...] = ()) -> StrategyDraft:
        """The library draft the editor saves (with ``save_strategy(..., source="ai")``)."""
        return StrategyDraft(
            name=name,
            python_code=self.code,
            logic_explanation=self.explanation,
            description=description,
            parameters=self.default_values,
            symbols=self.symbols,
            timeframes=(self.timeframe,),
            tags=tags,
            implied_family=self.family,
        )


@dataclass(frozen=True)
class Modification:
    """The model's change to an existing strategy: the new, vetted strategy and a unified diff from the old
    code, for the editor to show before anything is saved."""

    strategy: GeneratedStrategy
    old_code: str
    diff: str

    @property
    def changed(self) -> bool:
        return bool(self.diff)


@dataclass(frozen=True)
class Explanation:
    """A plain-English explanation of some strategy code (the code was not run or changed)."""

    summary: str
    text: str
    family: str | None
    family_source: str
    usage: Usage
    model: str
