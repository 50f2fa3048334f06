"""stored strategies keep their meaning: ``percent=`` (a fraction until now) becomes ``fraction=`` in their orders

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

From this revision the Strategy API's ``percent=`` is a real percent (``percent=10`` is 10%) and ``fraction=`` is
what ``percent=`` used to be (``1.0`` is all of the cash). Every stored strategy source is rewritten so that it
asks for exactly what it asked for before: ``percent=`` becomes ``fraction=`` inside calls to ``.buy(``,
``.sell(`` and ``.order_target(``, by tokens, nothing else in the file changing (core.strategy.api_upgrade, frozen
below: a migration must not read the current code). Sources that do not tokenize are left as they are.

Rewritten: ``strategies.python_code``, ``strategy_versions.python_code`` (the library and its history), and the
``source`` kept in ``batch_jobs.strategy_snapshot`` (a resumed batch runs it again) and
``backtest_results.strategy_snapshot`` (so that a result's recorded code still produces it). Downgrade rewrites
back: ``fraction=X`` -> ``percent=X`` and a new-style ``percent=X`` -> ``percent=(X) / 100``.
"""

# No ``from __future__ import annotations``: alembic loads this file outside sys.modules, where dataclasses cannot
# resolve string annotations.
import io
import tokenize
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ---- frozen copy of core.strategy.api_upgrade (2026-12-07) ----------------------------------------------------

SIZING_METHODS = frozenset({"buy", "sell", "order_target"})
_OPENERS = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True)
class _Edit:
    """Replace ``length`` characters at (``row``, ``col``) (1-based row, as tokenize counts) with ``text``."""

    row: int
    col: int
    length: int
    text: str


@dataclass
class _Frame:
    closer: str
    sizing: bool  # the brackets of a .buy( / .sell( / .order_target( call
    pending: tuple[str, int, int] | None = None  # a keyword whose argument's end is still to come
    keywords: list[tuple[str, int, int, int, int]] = field(default_factory=list)  # name, row, col, end row, end col


def _sizing_keywords(source: str) -> list[tuple[str, int, int, int, int]] | None:
    """Every keyword argument of every sizing call: (name, row, col, end of its argument), or None when ``source``
    does not tokenize."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    found: list[tuple[str, int, int, int, int]] = []
    stack: list[_Frame] = []
    significant = [t for t in tokens if t.type not in (tokenize.NL, tokenize.COMMENT, tokenize.NEWLINE)]
    for i, tok in enumerate(significant):
        top = stack[-1] if stack else None
        if tok.type == tokenize.OP and tok.string in _OPENERS:
            sizing = (
                tok.string == "("
                and i >= 2
                and significant[i - 1].type == tokenize.NAME
                and significant[i - 1].string in SIZING_METHODS
                and significant[i - 2].type == tokenize.OP
                and significant[i - 2].string == "."
            )
            stack.append(_Frame(_OPENERS[tok.string], sizing))
        elif tok.type == tokenize.OP and top is not None and tok.string in (top.closer, ","):
            if top.sizing and top.pending is not None:
                name, row, col = top.pending
                found.append((name, row, col, *tok.start))
                top.pending = None
            if tok.string == top.closer:
                stack.pop()
        elif (
            top is not None
            and top.sizing
            and tok.type == tokenize.NAME
            and i + 1 < len(significant)
            and significant[i + 1].type == tokenize.OP
            and significant[i + 1].string == "="
            and significant[i - 1].string in ("(", ",")
        ):
            top.pending = (tok.string, *tok.start)
    return found


def _apply(source: str, edits: list[_Edit]) -> str:
    lines = source.splitlines(keepends=True)
    for edit in sorted(edits, key=lambda e: (e.row, e.col), reverse=True):
        line = lines[edit.row - 1]
        lines[edit.row - 1] = line[: edit.col] + edit.text + line[edit.col + edit.length :]
    return "".join(lines)


def upgrade_sizes(source: str) -> str:
    """``source`` with ``percent=`` (the old fraction) renamed ``fraction=`` in every sizing call."""
    keywords = _sizing_keywords(source)
    if not keywords:
        return source
    edits = [_Edit(row, col, len("percent"), "fraction") for name, row, col, _, _ in keywords if name == "percent"]
    return _apply(source, edits) if edits else source


def downgrade_sizes(source: str) -> str:
    """``source`` for the old meaning: ``fraction=X`` -> ``percent=X``, and a new ``percent=X`` -> ``percent=(X) /
    100`` (so that it still asks for X%)."""
    keywords = _sizing_keywords(source)
    if not keywords:
        return source
    lines = source.splitlines(keepends=True)
    edits: list[_Edit] = []
    for name, row, col, end_row, end_col in keywords:
        if name == "fraction":
            edits.append(_Edit(row, col, len("fraction"), "percent"))
        elif name == "percent":
            # The argument starts after "percent=" (and any spaces); it ends where the next "," or ")" starts,
            # less the spaces, comments and line breaks before it.
            start_row, start_col = row, col + len("percent")
            rest = lines[start_row - 1][start_col:]
            start_col += len(rest) - len(rest.lstrip(" \t"))
            start_col += 1  # the "="
            rest = lines[start_row - 1][start_col:]
            start_col += len(rest) - len(rest.lstrip(" \t"))
            end_row, end_col = _before_trailing_space(lines, end_row, end_col)
            edits.append(_Edit(start_row, start_col, 0, "("))
            edits.append(_Edit(end_row, end_col, 0, ") / 100"))
    return _apply(source, edits) if edits else source


def _before_trailing_space(lines: list[str], row: int, col: int) -> tuple[int, int]:
    """The position right after the last code character before (``row``, ``col``): an argument's end, skipping
    back over spaces, line breaks, backslash continuations and comments."""
    while True:
        text = lines[row - 1][:col]
        code = _without_comment(text).rstrip(" \t\r\n\\")
        if code or row == 1:
            return row, len(code)
        row -= 1
        col = len(lines[row - 1])


def _without_comment(text: str) -> str:
    """``text`` (a line's start) without a trailing ``#`` comment; a ``#`` inside a string literal is not one."""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                return text[: tok.start[1]]
    except (tokenize.TokenError, SyntaxError):
        pass
    return text


# ---- the rows ---------------------------------------------------------------------------------------------------

# (table, column) holding a strategy's source as text
_TEXT_COLUMNS = (("strategies", "python_code"), ("strategy_versions", "python_code"))
# tables whose JSONB ``strategy_snapshot`` may hold the source under "source"
_SNAPSHOT_TABLES = ("batch_jobs", "backtest_results")


def _rewrite(change: Callable[[str], str]) -> None:
    bind = op.get_bind()
    for table, column in _TEXT_COLUMNS:
        rows = bind.execute(
            sa.text(f"SELECT id, {column} FROM {table} WHERE {column} LIKE '%percent%' OR {column} LIKE '%fraction%'")
        ).all()
        for row_id, source in rows:
            new = change(source)
            if new != source:
                bind.execute(sa.text(f"UPDATE {table} SET {column} = :source WHERE id = :id"),
                             {"source": new, "id": row_id})  # fmt: skip
    for table in _SNAPSHOT_TABLES:
        rows = bind.execute(
            sa.text(
                f"SELECT id, strategy_snapshot->>'source' FROM {table} "
                "WHERE jsonb_typeof(strategy_snapshot->'source') = 'string' "
                "AND (strategy_snapshot->>'source' LIKE '%percent%' OR strategy_snapshot->>'source' LIKE '%fraction%')"
            )
        ).all()
        for row_id, source in rows:
            new = change(source)
            if new != source:
                bind.execute(
                    sa.text(
                        f"UPDATE {table} SET strategy_snapshot = "
                        "jsonb_set(strategy_snapshot, '{source}', to_jsonb(CAST(:source AS text))) WHERE id = :id"
                    ),
                    {"source": new, "id": row_id},
                )


def upgrade() -> None:
    _rewrite(upgrade_sizes)


def downgrade() -> None:
    _rewrite(downgrade_sizes)
