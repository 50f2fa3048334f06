"""The diff the editor shows before a modification replaces the trader's code."""

from __future__ import annotations

import difflib


def code_diff(old: str, new: str, *, old_label: str = "current", new_label: str = "proposed", context: int = 3) -> str:
    """A unified diff from ``old`` to ``new`` ("" when they are the same). Line endings are normalised first, so
    a file saved on Windows does not show every line as changed; a last line without a newline still diffs
    cleanly (difflib would otherwise glue the next header onto it)."""
    a = _lines(old)
    b = _lines(new)
    if a == b:
        return ""
    return "".join(difflib.unified_diff(a, b, fromfile=old_label, tofile=new_label, n=context))


def _lines(text: str) -> list[str]:
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    if normalised and not normalised.endswith("\n"):
        normalised += "\n"
    return normalised.splitlines(keepends=True)
