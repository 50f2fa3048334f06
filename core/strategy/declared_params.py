"""The parameters a strategy class declares, read from its syntax tree.

The editor shows a form for a strategy's ``Param`` declarations, but the trader's code is untrusted and
only ever runs in the sandbox, so the application cannot import the class and read ``cls.params``.
This module reads ``name = Param(10, min=2, max=200, doc="...")`` class attributes without running
anything: literal arguments only (a number, text, True/False, a tuple or list of them). A declaration
whose arguments are computed (``Param(N * 2)``) is still listed, marked not editable with the reason,
so the form can say why instead of silently dropping it.

Inheritance follows ``Strategy.__init_subclass__``: a base's parameters come first, a redeclared name
keeps its place; bases defined in the same source are read the same way, and the API's own bases
(``SignalStrategy``'s ``size``) are taken from the trusted API module.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from core.strategy import api

# Param's positional order: Param(default, min, max, step, choices, doc).
_FIELDS = ("default", "min", "max", "step", "choices", "doc")
_VALUE_TYPES = (bool, int, float, str)


@dataclass(frozen=True)
class DeclaredParam:
    """One ``Param`` declaration. ``editable`` is False (with ``reason``) when an argument is not a
    literal or the default is not a bool, int, float or str; the other fields are then best effort."""

    name: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""
    line: int = 0  # 0: declared by the API, not in the source
    editable: bool = True
    reason: str = ""

    @property
    def kind(self) -> type | None:
        """The value type the form edits (the default's type), None when not editable."""
        return type(self.default) if self.editable else None

    def to_param(self) -> api.Param[Any]:
        """The equivalent API ``Param``, to check a value exactly as a run would (``Param.check``)."""
        if not self.editable:
            raise ValueError(f"parameter {self.name!r} is not editable: {self.reason}")
        return api.Param(self.default, self.min, self.max, self.step, self.choices, self.doc, self.name)


def declared_params(source: str, class_name: str) -> list[DeclaredParam]:
    """The parameters of top-level class ``class_name`` in ``source``, in the order a run sees them.

    A SyntaxError propagates (the caller shows it at its line); a class that is not in the source
    raises ValueError."""
    tree = ast.parse(source)
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    if class_name not in classes:
        raise ValueError(f"no class {class_name!r} in the source")
    return list(_collect(classes, class_name, frozenset()).values())


def _collect(classes: dict[str, ast.ClassDef], name: str, seen: frozenset[str]) -> dict[str, DeclaredParam]:
    node = classes[name]
    declared: dict[str, DeclaredParam] = {}
    for base in node.bases:
        base_name = base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else None
        if base_name in classes and base_name not in seen and base_name != name:
            declared.update(_collect(classes, base_name, seen | {name}))
        elif base_name in ("Strategy", "SignalStrategy"):
            declared.update({n: _from_api(p) for n, p in getattr(api, base_name).params.items()})
    for statement in node.body:
        target, value = _assignment(statement)
        if target is not None and isinstance(value, ast.Call) and _is_param_call(value):
            declared[target] = _read(target, value, statement.lineno)
    return declared


def _assignment(statement: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
        return statement.targets[0].id, statement.value
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and statement.value is not None:
        return statement.target.id, statement.value
    return None, None


def _is_param_call(call: ast.Call) -> bool:
    func = call.func
    return (isinstance(func, ast.Name) and func.id == "Param") or (
        isinstance(func, ast.Attribute) and func.attr == "Param"
    )


def _read(name: str, call: ast.Call, line: int) -> DeclaredParam:
    given: dict[str, ast.expr] = {}
    problems: list[str] = []
    if len(call.args) > len(_FIELDS) or any(isinstance(a, ast.Starred) for a in call.args):
        problems.append("its arguments cannot be read")
    given.update(zip(_FIELDS, call.args, strict=False))
    for keyword in call.keywords:
        if keyword.arg is None:
            problems.append("its arguments cannot be read (**)")
        elif keyword.arg not in _FIELDS:
            problems.append(f"unknown argument {keyword.arg!r}")
        else:
            given[keyword.arg] = keyword.value
    values: dict[str, Any] = {}
    for field_name, expr in given.items():
        try:
            values[field_name] = ast.literal_eval(expr)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            problems.append(f"its {field_name} is computed, not a literal value")
    problems.extend(_type_problems(values))
    choices = values.get("choices")
    return DeclaredParam(
        name=name,
        default=values.get("default"),
        min=_number(values.get("min")),
        max=_number(values.get("max")),
        step=_number(values.get("step")),
        choices=tuple(choices) if isinstance(choices, tuple | list) else None,
        doc=values["doc"] if isinstance(values.get("doc"), str) else "",
        line=line,
        editable=not problems,
        reason="; ".join(problems),
    )


def _type_problems(values: dict[str, Any]) -> list[str]:
    problems = []
    if "default" not in values:
        problems.append("it has no default value")
    elif not isinstance(values["default"], _VALUE_TYPES):
        problems.append(f"its default {values['default']!r} is not a number, text or true/false")
    for bound in ("min", "max", "step"):
        value = values.get(bound)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append(f"its {bound} {value!r} is not a number")
    choices = values.get("choices")
    if choices is not None and not isinstance(choices, tuple | list):
        problems.append("its choices are not a list of values")
    elif choices is not None and not all(isinstance(c, _VALUE_TYPES) for c in choices):
        problems.append("its choices are not all numbers, text or true/false")
    if "doc" in values and not isinstance(values["doc"], str):
        problems.append("its doc is not text")
    return problems


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _from_api(param: api.Param[Any]) -> DeclaredParam:
    return DeclaredParam(param.name, param.default, param.min, param.max, param.step, param.choices, param.doc)
