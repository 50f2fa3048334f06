"""A trader's saved strategies: validated before they are stored, versioned on every save, private to them.

Code that breaks the sandbox rules is never stored: the save is refused with every problem and its line,
so the editor can mark them. Each save that changes the code, explanation, parameters or elements makes a
new immutable ``strategy_versions`` row, and a backtest can point at the exact version it ran. The
``strategies`` row holds the current version for lists and the editor.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import Strategy as StrategyRow
from core.db.models import StrategyVersion
from core.db.models.strategies import STRATEGY_FAMILIES
from core.domain.timeframes import Timeframe
from core.strategy.family import analyse_family
from core.strategy.sandbox import StrategyRejected, validate_source
from core.strategy.source import strategy_classes

SOURCES = ("manual", "ai", "import")

# The editor's "New" strategy: a trader's first. Sized inside the default risk limits (core.accounts.defaults:
# $25,000 per order, $20,000 in one symbol, on $100,000), so that its first paper session places orders instead of
# being refused on every bar (tests/paper/test_first_session.py).
NEW_STRATEGY_TEMPLATE = '''\
from core.strategy.api import Param, Strategy
from core.strategy.indicators import sma


class SmaCross(Strategy):
    """Buys when the fast average crosses above the slow one, sells when it crosses back below."""

    fast = Param(10, min=2, max=200, doc="bars in the fast moving average")
    slow = Param(50, min=5, max=500, doc="bars in the slow moving average")

    def init(self, data):
        self.fast_ma = self.indicator(sma(data.close, self.fast))
        self.slow_ma = self.indicator(sma(data.close, self.slow))

    def next(self, data):
        if self.fast_ma[-1] > self.slow_ma[-1] and self.position == 0:
            # 15% of equity: $15,000 of a new $100,000 account, inside the default risk limits (at most $20,000
            # in one symbol, $25,000 per order) with room for the price to move. fraction=1.0 would be all of it.
            self.order_target(fraction=0.15)
        elif self.fast_ma[-1] < self.slow_ma[-1] and self.position > 0:
            self.order_target(shares=0)
'''


class LibraryError(ValueError):
    """A strategy that cannot be saved or found; the message is for the trader."""


@dataclass(frozen=True)
class StrategyDraft:
    """What the editor saves: the code and its plain-English explanation, plus descriptive fields."""

    name: str
    python_code: str
    logic_explanation: str | None = None
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    symbols: tuple[str, ...] = ()
    timeframes: tuple[str, ...] = (Timeframe.MIN_1,)
    tags: tuple[str, ...] = ()
    implied_family: str | None = None


@dataclass(frozen=True)
class SavedStrategy:
    id: uuid.UUID
    name: str
    version: int
    python_code: str
    logic_explanation: str | None
    parameters: dict[str, Any]
    symbols: tuple[str, ...]
    classes: tuple[str, ...]  # the strategy classes the code defines
    updated_at: datetime | None


@dataclass(frozen=True)
class VersionInfo:
    id: uuid.UUID
    version: int
    python_code: str | None
    change_note: str | None
    source: str
    created_at: datetime


def _checked(draft: StrategyDraft) -> tuple[str, ...]:
    if not draft.name.strip():
        raise LibraryError("a strategy needs a name")
    if draft.implied_family is not None and draft.implied_family not in STRATEGY_FAMILIES:
        raise LibraryError(f"unknown strategy family {draft.implied_family!r} (one of {', '.join(STRATEGY_FAMILIES)})")
    report = validate_source(draft.python_code)
    if not report.ok:
        raise StrategyRejected(report)
    classes = tuple(strategy_classes(draft.python_code))
    if not classes:
        raise LibraryError("the code defines no strategy class (a class deriving from Strategy or SignalStrategy)")
    return classes


def _saved(row: StrategyRow) -> SavedStrategy:
    code = row.python_code or ""
    return SavedStrategy(row.id, row.name, row.current_version, code, row.logic_explanation, dict(row.parameters),
                         tuple(row.symbols), tuple(strategy_classes(code)), row.updated_at)  # fmt: skip


def save_strategy(
    sessions: sessionmaker[Session],
    user_id: uuid.UUID,
    draft: StrategyDraft,
    *,
    strategy_id: uuid.UUID | None = None,
    change_note: str | None = None,
    source: str = "manual",
) -> SavedStrategy:
    """Create a strategy (``strategy_id`` None) or save a new version of one of the user's own.

    Raises StrategyRejected (with every problem and its line) for code that breaks the sandbox rules, and
    LibraryError for a missing name, a name already used by another of the user's strategies, or a strategy
    that is not the user's. Saving unchanged content makes no new version.

    Every strategy gets an implied family (seed 003): the draft's (Gemini's, when it generated the code), else the
    one an earlier save recorded for the same code, else the deterministic analysis of the code."""
    if source not in SOURCES:
        raise LibraryError(f"unknown source {source!r}")
    _checked(draft)
    fields_ = {
        "name": draft.name.strip(), "python_code": draft.python_code, "logic_explanation": draft.logic_explanation,
        "description": draft.description, "parameters": dict(draft.parameters), "symbols": list(draft.symbols),
        "timeframes": list(draft.timeframes), "tags": list(draft.tags),
        "implied_strategy_family": draft.implied_family or analyse_family(draft.python_code).family,
    }  # fmt: skip
    row: StrategyRow | None
    with sessions() as s:
        if strategy_id is None:
            row = StrategyRow(id=uuid.uuid4(), user_id=user_id, kind="code", current_version=1, **fields_)
            s.add(row)
            changed = True
        else:
            row = s.get(StrategyRow, strategy_id, with_for_update=True)
            if row is None or row.user_id != user_id:
                raise LibraryError("no such strategy")
            versioned = ("python_code", "logic_explanation", "parameters")
            changed = any(getattr(row, k) != fields_[k] for k in versioned)
            if draft.implied_family is None and row.python_code == draft.python_code:
                fields_["implied_strategy_family"] = row.implied_strategy_family or fields_["implied_strategy_family"]
            for key, value in fields_.items():
                setattr(row, key, value)
            if changed:
                row.current_version += 1
        if changed:
            s.add(StrategyVersion(
                strategy_id=row.id, version=row.current_version, python_code=draft.python_code,
                logic_explanation=draft.logic_explanation, parameters=dict(draft.parameters),
                change_note=change_note, source=source,
            ))  # fmt: skip
        try:
            s.commit()
        except IntegrityError as exc:
            s.rollback()
            if "user_id" in str(exc.orig) and "name" in str(exc.orig):
                raise LibraryError(f"you already have a strategy named {draft.name.strip()!r}") from None
            raise
        s.refresh(row)
        return _saved(row)


def list_strategies(
    sessions: sessionmaker[Session], user_id: uuid.UUID, *, include_archived: bool = False
) -> list[SavedStrategy]:
    with sessions() as s:
        query = select(StrategyRow).where(StrategyRow.user_id == user_id, StrategyRow.kind == "code")
        if not include_archived:
            query = query.where(StrategyRow.is_archived.is_(False))
        return [_saved(r) for r in s.scalars(query.order_by(func.lower(StrategyRow.name)))]


def load_strategy(sessions: sessionmaker[Session], user_id: uuid.UUID, strategy_id: uuid.UUID) -> SavedStrategy:
    with sessions() as s:
        row = s.get(StrategyRow, strategy_id)
        if row is None or row.user_id != user_id:
            raise LibraryError("no such strategy")
        return _saved(row)


def versions(sessions: sessionmaker[Session], user_id: uuid.UUID, strategy_id: uuid.UUID) -> list[VersionInfo]:
    """Every saved version, newest first."""
    with sessions() as s:
        row = s.get(StrategyRow, strategy_id)
        if row is None or row.user_id != user_id:
            raise LibraryError("no such strategy")
        rows = s.scalars(
            select(StrategyVersion)
            .where(StrategyVersion.strategy_id == strategy_id)
            .order_by(StrategyVersion.version.desc())
        )
        return [VersionInfo(v.id, v.version, v.python_code, v.change_note, v.source, v.created_at) for v in rows]


def archive_strategy(sessions: sessionmaker[Session], user_id: uuid.UUID, strategy_id: uuid.UUID) -> None:
    """Hide a strategy from lists; kept, since backtest results and sessions refer to it."""
    with sessions() as s:
        row = s.get(StrategyRow, strategy_id)
        if row is None or row.user_id != user_id:
            raise LibraryError("no such strategy")
        row.is_archived = True
        s.commit()
