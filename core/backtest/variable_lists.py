"""Saved variable lists (seed 002): named value lists a trader reuses across batches.

A list has a type that says what its values are (tickers, numbers, dates, strings) and is checked
when it is saved, so a batch never discovers a bad value halfway through a thousand runs. A list is
the user's own; one marked shared is visible (read-only) to the other users of the database.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import CursorResult, delete, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from core.backtest.assignments import Variable
from core.db.models import VariableList
from core.db.models.backtest import VARIABLE_TYPES
from core.domain.symbols import normalize_symbol

MAX_VALUES = 10_000


class VariableListError(ValueError):
    """A list that cannot be saved or found; the message is for the trader."""


@dataclass(frozen=True)
class SavedList:
    id: uuid.UUID
    name: str
    type: str
    values: tuple[Any, ...]
    description: str | None
    is_shared: bool
    owned: bool

    def as_variable(self, variable_name: str) -> Variable:
        """This list's values as the values of one batch variable (a strategy parameter, or ``ticker``)."""
        return Variable(variable_name, self.values)


def _check_value(kind: str, value: Any) -> Any:
    if kind == "ticker":
        if not isinstance(value, str) or not value.strip() or not value.strip().replace(".", "").isalnum():
            raise VariableListError(f"{value!r} is not a ticker symbol")
        return normalize_symbol(value)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise VariableListError(f"{value!r} is not a finite number")
        return value
    if kind == "date":
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise VariableListError(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None
    if not isinstance(value, str):
        raise VariableListError(f"{value!r} is not text")
    return value


def checked_values(kind: str, values: list[Any]) -> list[Any]:
    if kind not in VARIABLE_TYPES:
        raise VariableListError(f"unknown list type {kind!r} (one of {', '.join(VARIABLE_TYPES)})")
    if not values:
        raise VariableListError("a list needs at least one value")
    if len(values) > MAX_VALUES:
        raise VariableListError(f"a list holds at most {MAX_VALUES:,} values")
    out = [_check_value(kind, v) for v in values]
    if len(set(map(repr, out))) != len(out):
        raise VariableListError("a list holds each value once")
    return out


def save_list(
    sessions: sessionmaker[Session],
    user_id: uuid.UUID,
    name: str,
    kind: str,
    values: list[Any],
    *,
    description: str | None = None,
    shared: bool = False,
) -> uuid.UUID:
    """Create or replace the user's list called ``name``."""
    name = name.strip()
    if not name:
        raise VariableListError("a list needs a name")
    row = {
        "id": uuid.uuid4(), "user_id": user_id, "name": name, "type": kind, "values": checked_values(kind, values),
        "description": description, "is_shared": shared,
    }  # fmt: skip
    stmt = insert(VariableList).values(row)
    upsert = stmt.on_conflict_do_update(
        index_elements=["user_id", "name"],
        set_={k: stmt.excluded[k] for k in ("type", "values", "description", "is_shared")},
    ).returning(VariableList.id)
    with sessions() as s:
        list_id = s.execute(upsert).scalar_one()
        s.commit()
        return list_id


def _saved(row: VariableList, user_id: uuid.UUID) -> SavedList:
    return SavedList(row.id, row.name, row.type, tuple(row.values), row.description, row.is_shared,
                     row.user_id == user_id)  # fmt: skip


def visible_lists(sessions: sessionmaker[Session], user_id: uuid.UUID) -> list[SavedList]:
    """The user's own lists and the lists others shared, own first, by name."""
    with sessions() as s:
        rows = s.scalars(
            select(VariableList)
            .where(or_(VariableList.user_id == user_id, VariableList.is_shared))
            .order_by((VariableList.user_id != user_id), VariableList.name)
        ).all()
        return [_saved(r, user_id) for r in rows]


def get_list(sessions: sessionmaker[Session], user_id: uuid.UUID, name: str) -> SavedList:
    """The user's own list ``name``, else a shared one of that name."""
    for saved in visible_lists(sessions, user_id):
        if saved.name == name:
            return saved
    raise VariableListError(f"no variable list named {name!r}")


def delete_list(sessions: sessionmaker[Session], user_id: uuid.UUID, name: str) -> None:
    with sessions() as s:
        # a DML statement's result is a CursorResult (Session.execute is typed as returning any Result)
        gone = cast(
            CursorResult[Any],
            s.execute(
                delete(VariableList).where(VariableList.user_id == user_id, VariableList.name == name)
            ),
        ).rowcount
        s.commit()
    if not gone:
        raise VariableListError(f"you have no variable list named {name!r}")
