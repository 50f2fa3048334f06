"""A strategy being written: what its source says without running it, and saving it into the library.

The Strategy editor shows these results; any other caller (a command line, a test) gets the same verdicts. The
trader's code is never run here: problems come from the sandbox's syntax-tree rules, classes and declared
parameters from the syntax tree, the family from the deterministic family analysis. Saving goes through
``core.strategy.library`` (which validates again and versions), and a refusal comes back as a value the
editor shows at the code's lines, not as an exception it has to know.

Everything here blocks (parsing a long source, PostgreSQL), so the GUI calls it on a worker thread.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.strategy.api import StrategyParamError
from core.strategy.declared_params import DeclaredParam, declared_params
from core.strategy.family import FamilyVerdict, analyse_family
from core.strategy.library import (
    LibraryError,
    SavedStrategy,
    StrategyDraft,
    VersionInfo,
    archive_strategy,
    list_strategies,
    load_strategy,
    save_strategy,
    versions,
)
from core.strategy.sandbox import StrategyRejected
from core.strategy.sandbox.validator import Problem, validate_source
from core.strategy.source import strategy_classes

NO_CLASS_MESSAGE = "the code defines no strategy class (a class deriving from Strategy or SignalStrategy)"


@dataclass(frozen=True)
class SourceAnalysis:
    """What the editor learns from a source without running it. ``params`` is None when the source
    does not parse (the form then keeps what it shows); ``family`` is the deterministic family analysis
    of the chosen class (shown in the AI tab)."""

    problems: tuple[Problem, ...]
    classes: tuple[str, ...]
    chosen: str | None
    params: tuple[DeclaredParam, ...] | None
    family: FamilyVerdict | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def analyse_source(source: str, wanted: str | None = None) -> SourceAnalysis:
    """Sandbox-rule problems, strategy classes and the chosen class's declared parameters (pure). A source
    without a strategy class gets a whole-source problem, as a save would."""
    report = validate_source(source)
    try:
        classes = tuple(strategy_classes(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # the report already says where
        return SourceAnalysis(report.problems, (), None, None, analyse_family(source))
    if not classes:
        return SourceAnalysis((*report.problems, Problem(0, 0, NO_CLASS_MESSAGE)), (), None, (), analyse_family(source))
    chosen = wanted if wanted in classes else classes[0]
    return SourceAnalysis(
        report.problems, classes, chosen, tuple(declared_params(source, chosen)), analyse_family(source, chosen)
    )


def accepted_value(param: DeclaredParam, value: Any) -> Any:
    """``value`` if the parameter accepts it (``Param.check``, as a run would), else its default."""
    try:
        return param.to_param().check(value)
    except StrategyParamError:
        return param.default


def resolved_values(params: Sequence[DeclaredParam], values: Mapping[str, Any]) -> dict[str, Any]:
    """What a form for ``params`` would hold given ``values``: each editable parameter's value from
    ``values`` when it accepts it, else its default. Lets a save use the declarations of exactly the
    code being saved even when the form on screen was built for an earlier text."""
    return {p.name: accepted_value(p, values.get(p.name, p.default)) for p in params if p.editable}


@dataclass(frozen=True)
class SaveOutcome:
    """What a save came to. ``saved`` when the library stored it (a new version, or the same one when nothing
    changed); else ``problems`` (the sandbox rules it breaks, with their lines) or ``error`` (a sentence for the
    trader: no name, a name already taken). ``draft`` is what was offered, with the parameters resolved."""

    draft: StrategyDraft
    saved: SavedStrategy | None = None
    problems: tuple[Problem, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class OpenedStrategy:
    strategy: SavedStrategy
    history: list[VersionInfo]  # newest first


VersionInfos = list[VersionInfo]  # (inside StrategyDrafts, ``list`` is its method)


class StrategyDrafts:
    """One database's strategy library, as the editor uses it."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    analyse = staticmethod(analyse_source)

    def list(self, user_id: uuid.UUID) -> list[SavedStrategy]:
        return list_strategies(self._sessions, user_id)

    def open(self, user_id: uuid.UUID, strategy_id: uuid.UUID) -> OpenedStrategy:
        return OpenedStrategy(
            load_strategy(self._sessions, user_id, strategy_id), versions(self._sessions, user_id, strategy_id)
        )

    def versions(self, user_id: uuid.UUID, strategy_id: uuid.UUID) -> VersionInfos:
        return versions(self._sessions, user_id, strategy_id)

    def archive(self, user_id: uuid.UUID, strategy_id: uuid.UUID) -> None:
        """Hidden from the list, kept for the backtest results and sessions that refer to it."""
        archive_strategy(self._sessions, user_id, strategy_id)

    def save(
        self,
        user_id: uuid.UUID,
        draft: StrategyDraft,
        *,
        analysis: SourceAnalysis | None = None,
        values: Mapping[str, Any] | None = None,
        strategy_id: uuid.UUID | None = None,
        change_note: str | None = None,
        source: str = "manual",
    ) -> SaveOutcome:
        """Save ``draft`` as a new strategy or a new version of ``strategy_id``. Its parameters are ``values``
        resolved against the declarations of exactly this code (``analysis`` of ``draft.python_code``; analysed
        here when not given), so a form built for an earlier text cannot save values the code no longer takes."""
        if analysis is None:
            analysis = analyse_source(draft.python_code)
        if analysis.params is not None:
            draft = dataclasses.replace(draft, parameters=resolved_values(analysis.params, values or {}))
        try:
            saved = save_strategy(
                self._sessions, user_id, draft, strategy_id=strategy_id, change_note=change_note, source=source
            )
        except StrategyRejected as exc:
            return SaveOutcome(draft, problems=tuple(exc.report.problems))
        except LibraryError as exc:
            return SaveOutcome(draft, error=str(exc))
        return SaveOutcome(draft, saved)
