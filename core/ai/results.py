"""What the generator hands the editor: a vetted strategy (with everything the editor shows next to its
code), a modification with its diff, an explanation. Frozen values: they are passed from a worker thread
to the GUI thread and may be kept in an undo history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.ai.client import Turn, Usage
from core.ai.errors import FailedAttempt
from core.ai.smoke import SmokeReport
from core.strategy.declared_params import DeclaredParam
from core.strategy.library import StrategyDraft


@dataclass(frozen=True)
class Conversation:
    """Where a generation stopped before its smoke backtest: the turns sent for the answer being offered and the
    model's reply, so :meth:`StrategyGenerator.smoke_test` can append a repair turn if the backtest fails."""

    turns: tuple[Turn, ...]
    reply: str


@dataclass(frozen=True)
class GeneratedStrategy:
    """A strategy the model wrote that passed the sandbox validator and, unless ``smoke`` is None, the smoke
    backtest.

    ``smoke`` None means "not yet run": the sandbox is not fully confined on this computer, so the code may run
    only once the trader confirmed ``smoke_warning`` (the text :func:`core.strategy.code_trust
    .needs_confirmation` gave); :meth:`StrategyGenerator.smoke_test` then runs it, with repair turns if it fails.

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
    smoke: SmokeReport | None
    attempts: int
    usage: Usage
    model: str
    created_at: datetime  # UTC
    repaired: tuple[FailedAttempt, ...] = ()
    smoke_warning: str | None = None  # set while ``smoke`` is None: what the trader confirms before it runs
    conversation: Conversation | None = field(default=None, repr=False, compare=False)  # while not yet run

    @property
    def smoke_pending(self) -> bool:
        """Validated but not yet run: the trader has not confirmed the smoke backtest."""
        return self.smoke is None

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
