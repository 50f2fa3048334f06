"""Rewrite a strategy's source between the Strategy API's two meanings of ``percent=``.

Until migration 0013 ``percent=`` was a fraction (``percent=1.0`` was all of the cash); now ``fraction=`` is, and
``percent=`` is a real percent (``percent=10`` is 10%). A stored strategy keeps its meaning when its sizes are
renamed: ``upgrade_sizes`` turns ``percent=`` into ``fraction=`` inside calls to ``.buy(``, ``.sell(`` and
``.order_target(`` and nowhere else. ``downgrade_sizes`` goes back: ``fraction=X`` becomes ``percent=X``, and a
``percent=X`` written for the new meaning becomes ``percent=(X) / 100``, so either direction keeps what every
order asks for.

Exact, by tokens (the ``tokenize`` module), never by text patterns: a ``"percent="`` in a string or a comment, the
``percent=`` of another function (``ta.rsi(percent=...)``), a call nested inside a sizing call's argument
(``self.buy(fraction=f(percent=2))`` leaves ``f``'s keyword alone) and arguments across lines are told apart as the
parser tells them. Only the keyword's own characters change (plus the parentheses a downgrade adds); every other
character of the file stays as it was. Source that does not tokenize is returned unchanged: it would not run under
either meaning, and the trader fixes it in the editor.
"""

from __future__ import annotations

import io
import tokenize
from dataclasses import dataclass, field

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
