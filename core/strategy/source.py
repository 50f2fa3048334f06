"""Facts about strategy source read from its syntax tree, without running it (it may not be trusted)."""

from __future__ import annotations

import ast

STRATEGY_BASES = frozenset({"Strategy", "SignalStrategy"})


def strategy_classes(source: str) -> list[str]:
    """Top-level classes that derive directly from ``Strategy`` or ``SignalStrategy``, in source order.

    A SyntaxError propagates: the caller shows it at its line."""
    tree = ast.parse(source)
    found = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names = {
                b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "" for b in node.bases
            }
            if names & STRATEGY_BASES:
                found.append(node.name)
    return found


def pick_strategy_class(source: str, wanted: str | None = None) -> str:
    """The class a run should use: ``wanted`` if given (it must exist), else the only strategy class."""
    classes = strategy_classes(source)
    if wanted is not None:
        if wanted not in classes:
            raise ValueError(f"no strategy class {wanted!r} in the source (found: {', '.join(classes) or 'none'})")
        return wanted
    if len(classes) != 1:
        listing = ", ".join(classes) or "none"
        raise ValueError(f"the source defines {len(classes)} strategy classes ({listing}); name one with --class")
    return classes[0]
