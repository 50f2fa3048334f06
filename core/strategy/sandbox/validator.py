"""Checking a strategy's source before it is saved: every problem, with its line, in the trader's words.

The check walks the syntax tree (never the text: a regular expression cannot tell a string from a
name) and applies :mod:`.rules`. It reports all problems at once so a trader (or an AI revising its
own code) can fix them in one pass. It is the first line of defence, not the last: the sandbox
process enforces the same rules at run time and adds limits no source check can.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from core.strategy.sandbox import rules

# The longest strategy accepted: parsing and compiling happen in the application's process.
MAX_SOURCE_CHARS = 500_000

# A double-underscore name inside text: ``"{0.__class__}".format(x)`` or a name built for a later lookup.
# (Applied to the contents of string constants only; the code itself is judged from its syntax tree.)
_DUNDER_IN_TEXT = re.compile(r"__[A-Za-z0-9_]+__")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a strategy: where (1-based line, 0-based column; line 0: the whole source) and why."""

    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line > 0 else self.message


@dataclass(frozen=True)
class ValidationReport:
    """The verdict on one source: ``ok`` when there are no problems; problems sorted by position."""

    ok: bool
    problems: tuple[Problem, ...] = ()

    def __str__(self) -> str:
        return "no problems" if self.ok else "\n".join(str(p) for p in self.problems)


def validate_source(source: str, *, filename: str = "<strategy>") -> ValidationReport:
    """Parse ``source`` and check it against the sandbox rules; never raises for bad input."""
    report, _ = check_source(source, filename=filename)
    return report


def check_source(source: str, *, filename: str = "<strategy>") -> tuple[ValidationReport, ast.Module | None]:
    """:func:`validate_source` plus the syntax tree (None when the source does not parse), for callers
    that need to look further (which names the strategy defines, which modules it imports)."""
    if not isinstance(source, str):
        return _report([Problem(0, 0, "the strategy must be text")]), None
    if len(source) > MAX_SOURCE_CHARS:
        return _report([Problem(0, 0, f"the strategy is longer than {MAX_SOURCE_CHARS:,} characters")]), None
    try:
        tree = ast.parse(source, filename=filename)
        # Some errors (``return`` outside a function, ``break`` outside a loop) only show when compiling.
        compile(tree, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = exc.lineno or 0
        return _report([Problem(line, max((exc.offset or 1) - 1, 0), f"syntax error: {exc.msg}")]), None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return _report([Problem(0, 0, f"the strategy cannot be read as Python ({exc})")]), None
    return _report(_Checker(tree).problems), tree


def _report(problems: list[Problem]) -> ValidationReport:
    unique = sorted(set(problems), key=lambda p: (p.line, p.col, p.message))
    return ValidationReport(ok=not unique, problems=tuple(unique))


def top_level_names(tree: ast.Module) -> set[str]:
    """Names a module binds at its top level (functions, classes, assignments, imports)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def imported_modules(tree: ast.Module) -> list[str]:
    """The allow-listed modules a source imports, in order (the sandbox loads them before the clock starts)."""
    found: dict[str, None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(dict.fromkeys(a.name for a in node.names))
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found[node.module] = None
    return [m for m in found if rules.module_problem(m, binds_top=False) is None]


class _Checker:
    """One walk over the tree; ``problems`` collects everything found."""

    def __init__(self, tree: ast.Module) -> None:
        self.problems: list[Problem] = []
        self.docstrings = _docstring_ids(tree)
        self.bound = _bound_names(tree)
        for node in ast.walk(tree):
            self.visit(node)

    def add(self, node: ast.AST, message: str) -> None:
        self.problems.append(Problem(getattr(node, "lineno", 0), getattr(node, "col_offset", 0), message))

    def dunder(self, node: ast.AST, name: str | None, what: str) -> None:
        if name and rules.is_dunder(name) and name not in rules.ALLOWED_DUNDER_ACCESS:
            self.add(node, f"{what} '{name}' is not allowed (double-underscore names reach Python's internals)")

    def visit(self, node: ast.AST) -> None:
        match node:
            case ast.Import(names=names):
                for alias in names:
                    problem = rules.module_problem(alias.name, binds_top=alias.asname is None)
                    if problem:
                        self.add(node, problem)
                    self.dunder(node, alias.asname, "the name")
            case ast.ImportFrom(module=module, names=names, level=level):
                if level:
                    self.add(node, "relative imports are not allowed in strategies")
                    return
                problem = rules.module_problem(module or "", binds_top=False)
                if problem:
                    self.add(node, problem)
                    return
                for alias in names:
                    problem = rules.imported_name_problem(module or "", alias.name)
                    if problem:
                        self.add(node, problem)
                    self.dunder(node, alias.asname, "the name")
            case ast.Attribute(value=value, attr=attr):
                problem = rules.attribute_problem(attr)
                if problem:
                    self.add(node, problem)
                elif attr.startswith("_") and not rules.is_dunder(attr) and not _is_self(value):
                    self.add(node, f"'.{attr}' is internal to its object; only self's own _names may be used")
            case ast.Name(id=name):
                if name in rules.FORBIDDEN_BUILTINS and name not in self.bound and not rules.is_dunder(name):
                    self.add(node, f"'{name}' is not available in strategies ({rules.FORBIDDEN_BUILTINS[name]})")
                self.dunder(node, name, "the name")
            case ast.FunctionDef(name=name):
                if rules.is_dunder(name) and name not in rules.DEFINABLE_DUNDERS:
                    allowed = ", ".join(sorted(rules.DEFINABLE_DUNDERS))
                    self.add(node, f"defining '{name}' is not allowed (strategies may define: {allowed})")
            case ast.AsyncFunctionDef() | ast.Await() | ast.AsyncFor() | ast.AsyncWith():
                self.add(node, "async code is not supported in strategies")
            case ast.ClassDef(name=name):
                self.dunder(node, name, "the class name")
            case ast.arg(arg=name):
                self.dunder(node, name, "the parameter")
            case ast.keyword(arg=name):
                self.dunder(node, name, "the keyword")
            case ast.ExceptHandler(name=name) | ast.MatchAs(name=name) | ast.MatchStar(name=name):
                self.dunder(node, name, "the name")
            case ast.MatchMapping(rest=rest):
                self.dunder(node, rest, "the name")
            case ast.MatchClass(kwd_attrs=attrs):
                for attr in attrs:
                    problem = rules.attribute_problem(attr)
                    if problem:
                        self.add(node, problem)
            case ast.Global(names=names) | ast.Nonlocal(names=names):
                for name in names:
                    self.dunder(node, name, "the name")
            case ast.TypeVar(name=name) | ast.ParamSpec(name=name) | ast.TypeVarTuple(name=name):
                self.dunder(node, name, "the type parameter")
            case ast.Call(func=ast.Name(id="type"), args=args) if len(args) > 1:
                self.add(node, "type() with three arguments builds classes dynamically; write a class statement")
            case ast.Constant(value=str() | bytes() as value) if id(node) not in self.docstrings:
                text = value.decode("latin-1") if isinstance(value, bytes) else value
                for found in _DUNDER_IN_TEXT.findall(text):
                    if found not in rules.ALLOWED_DUNDER_ACCESS:
                        self.add(node, f"text containing '{found}' is not allowed (it can name Python's internals)")
                        break


def _is_self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id in rules.SELF_NAMES


def _docstring_ids(tree: ast.Module) -> set[int]:
    """The string constants that are docstrings: text that is never looked up, so never suspicious."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            value = first.value if isinstance(first, ast.Expr) else None
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.add(id(value))
    return found


def _bound_names(tree: ast.Module) -> set[str]:
    """Every name the source binds anywhere. A forbidden built-in's name that the strategy binds itself
    (``open = data.open``) is the strategy's own variable: the real built-in is absent at run time."""
    names: set[str] = set()
    for node in ast.walk(tree):
        match node:
            case ast.Name(id=name, ctx=ast.Store() | ast.Del()):
                names.add(name)
            case ast.arg(arg=name) | ast.FunctionDef(name=name) | ast.ClassDef(name=name):
                names.add(name)
            case ast.alias(name=name, asname=asname):
                names.add((asname or name).split(".")[0])
            case ast.ExceptHandler(name=str() as name) | ast.MatchAs(name=str() as name):
                names.add(name)
            case ast.MatchStar(name=str() as name) | ast.MatchMapping(rest=str() as name):
                names.add(name)
    return names
