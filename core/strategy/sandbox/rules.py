"""What strategy code may import, name and reach: the allow- and deny-lists, and the checks on names.

One module for both sides of the process boundary: the validator applies these rules to the source's
syntax tree before a strategy is saved, and the sandbox child applies the same functions to every
``import`` the strategy makes at run time (the child loads this file by path, so it must stay
standard-library only and import nothing from the package).

Why lists and not cleverness: a strategy is small numeric code. It needs maths, numpy, pandas, a few
standard containers and the Strategy API. Everything else (files, network, processes, the
interpreter's internals) is either not importable or sits behind a name listed here. The lists are
defence in depth; the process the code runs in (limits, audit hook, restricted built-ins) is the
boundary that holds when a new trick gets past them.
"""

from __future__ import annotations

# Modules a strategy may import, and their submodules (unless a part of the dotted name is denied below).
ALLOWED_MODULES: tuple[str, ...] = (
    "math",
    "numpy",
    "pandas",
    "statistics",
    "dataclasses",
    "typing",
    "collections",
    "itertools",
    "functools",
    "datetime",
    "decimal",
    "stratforge.strategy",
    "core.strategy.api",
    "core.strategy.indicators",
)

# Built-ins removed from the strategy's namespace (and reported by the validator when used unbound).
FORBIDDEN_BUILTINS: dict[str, str] = {
    "open": "strategies may not read or write files",
    "exec": "strategies may not run code from text",
    "eval": "strategies may not run code from text",
    "compile": "strategies may not run code from text",
    "__import__": "use an import statement",
    "globals": "it reaches names dynamically, which would get round these checks",
    "locals": "it reaches names dynamically, which would get round these checks",
    "vars": "it reaches attributes dynamically, which would get round these checks",
    "getattr": "it reaches attributes by name, which would get round these checks; write obj.name",
    "setattr": "it sets attributes by name, which would get round these checks; write obj.name = value",
    "delattr": "it deletes attributes by name, which would get round these checks",
    "input": "strategies run without a console",
    "breakpoint": "strategies run without a debugger",
    "help": "strategies run without a console",
    "exit": "a strategy returns instead of exiting",
    "quit": "a strategy returns instead of exiting",
    "memoryview": "strategies do not need raw memory access",
    "copyright": "strategies run without a console",
    "credits": "strategies run without a console",
    "license": "it reads files",
}

# Double-underscore names a strategy may use: ``super().__init__(...)`` and dataclasses' hook.
ALLOWED_DUNDER_ACCESS: frozenset[str] = frozenset({"__init__", "__post_init__"})

# Double-underscore methods a strategy may define: the ones small value classes need. Not allowed:
# pickling hooks (``__reduce__``, ``__getstate__``: results cross to the application), attribute hooks
# (``__getattr__``), class-creation hooks (``__init_subclass__``), and numpy's buffer protocols
# (``__array_interface__`` can point numpy at any memory address).
DEFINABLE_DUNDERS: frozenset[str] = ALLOWED_DUNDER_ACCESS | frozenset(
    {
        "__repr__",
        "__str__",
        "__eq__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__hash__",
        "__len__",
        "__bool__",
        "__iter__",
        "__next__",
        "__contains__",
        "__getitem__",
    }
)

# Names that may carry ``_private`` attributes: a strategy's own object. Library objects' private
# attributes (``np._core``, ``df._mgr``) are unsupported internals and lead to implementation modules.
SELF_NAMES: frozenset[str] = frozenset({"self", "cls"})

_FILES = "it reads or writes files"
_CODE = "it runs code from text or reaches attributes by name"
_SYSTEM = "it reaches the operating system, processes or the network"
_INTERNAL = "it reaches library internals"
_FRAMES = "it reaches the interpreter's stack frames"

# Attribute names a strategy may not use on any object (numpy, pandas and standard-library escape
# hatches). Matched by name only: the validator cannot know an object's type, so a strategy's own
# method called ``save`` is refused too; the message says why. Names traders plausibly use for their
# own things (``signal``, ``types`` as in ``pd.api.types``) are left out when the run-time layers
# already cover what they could reach (the CPU hard limit cannot be ignored; building functions or
# code objects is refused by name and by the audit hook).
DENIED_ATTRIBUTES: dict[str, str] = {
    # numpy / pandas file input and output
    **dict.fromkeys(
        (
            "load",
            "loads",
            "save",
            "savez",
            "savez_compressed",
            "savetxt",
            "loadtxt",
            "genfromtxt",
            "fromfile",
            "tofile",
            "fromregex",
            "memmap",
            "open_memmap",
            "DataSource",
            "dump",
            "dumps",
            "to_csv",
            "to_pickle",
            "to_excel",
            "to_parquet",
            "to_feather",
            "to_hdf",
            "to_sql",
            "to_json",
            "to_html",
            "to_latex",
            "to_markdown",
            "to_stata",
            "to_clipboard",
            "to_xml",
            "to_orc",
            "to_gbq",
            "to_iceberg",
            "ExcelWriter",
            "ExcelFile",
            "HDFStore",
            "codecs",
            "mmap",
            "pathlib",
            "Path",
            "tempfile",
            "glob",
            "zipfile",
            "tarfile",
            "pickle",
            "pickle_compat",
            "marshal",
            "shutil",
        ),
        _FILES,
    ),
    # evaluating text, attribute access by name, building code or functions
    **dict.fromkeys(
        (
            "eval",
            "query",
            "exec",
            "compile",
            "get_type_hints",
            "ForwardRef",
            "singledispatch",
            "singledispatchmethod",
            "attrgetter",
            "methodcaller",
            "operator",
            "update_wrapper",
            "wraps",
            "make_dataclass",
            "FunctionType",
            "LambdaType",
            "CodeType",
            "ModuleType",
            "MethodType",
            "inspect",
            "builtins",
            "importlib",
            "import_module",
            "copyreg",
            "weakref",
            "gc",
        ),
        _CODE,
    ),
    # operating system, processes, network, native code
    **dict.fromkeys(
        (
            "os",
            "sys",
            "subprocess",
            "system",
            "popen",
            "socket",
            "threading",
            "multiprocessing",
            "resource",
            "platform",
            "sysconfig",
            "ctypes",
            "ctypeslib",
            "f2py",
            "urllib",
            "http",
            "webbrowser",
            "asyncio",
            "io",
            "show_config",
            "show_runtime",
            "show_versions",
        ),
        _SYSTEM,
    ),
    # library namespaces that lead to all of the above (pd.core.common.builtins, np.ma.core.inspect, ...)
    **dict.fromkeys(
        ("core", "lib", "compat", "util", "testing", "test", "plotting", "plot", "style", "internals", "interchange"),
        _INTERNAL,
    ),
    # stack frames, generators and tracebacks reach the code that called the strategy
    **dict.fromkeys(
        (
            "f_back",
            "f_globals",
            "f_locals",
            "f_builtins",
            "f_code",
            "f_trace",
            "gi_frame",
            "gi_code",
            "gi_yieldfrom",
            "cr_frame",
            "cr_code",
            "cr_await",
            "ag_frame",
            "ag_code",
            "ag_await",
            "tb_frame",
            "tb_next",
            "co_code",
        ),
        _FRAMES,
    ),
}

# Prefixes of denied attribute names: pandas' readers (read_csv, read_html fetches URLs, read_pickle runs code).
DENIED_ATTRIBUTE_PREFIXES: dict[str, str] = {"read_": _FILES}


def is_dunder(name: str) -> bool:
    """``__x__``: Python's special names, the usual way out of a name-based sandbox."""
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def name_reason(name: str) -> str | None:
    """Why a strategy may not use ``name`` as an attribute or imported name, or None if it may."""
    if is_dunder(name):
        return None if name in ALLOWED_DUNDER_ACCESS else "double-underscore names reach Python's internals"
    if name in DENIED_ATTRIBUTES:
        return DENIED_ATTRIBUTES[name]
    for prefix, reason in DENIED_ATTRIBUTE_PREFIXES.items():
        if name.startswith(prefix):
            return reason
    return None


def attribute_problem(name: str) -> str | None:
    """Why ``obj.<name>`` is not allowed in a strategy, or None (private names are judged by the caller)."""
    reason = name_reason(name)
    return None if reason is None else f"'.{name}' is not allowed in strategies ({reason})"


def _allowed_base(module: str) -> str | None:
    """The allow-listed module that ``module`` is or lies inside (the longest match)."""
    best = None
    for allowed in ALLOWED_MODULES:
        if (module == allowed or module.startswith(allowed + ".")) and (best is None or len(allowed) > len(best)):
            best = allowed
    return best


def module_problem(module: str, *, binds_top: bool) -> str | None:
    """Why importing ``module`` is not allowed, or None.

    ``binds_top`` is true for ``import a.b`` without ``as``, which binds the top package ``a``: that
    package must itself be allowed, or ``import core.strategy.api`` would hand the strategy all of
    ``core`` (the broker and the database among it)."""
    base = _allowed_base(module)
    if base is None:
        return f"import of '{module}' is not allowed (allowed: {', '.join(ALLOWED_MODULES)})"
    for part in module[len(base) :].split(".")[1:]:
        if part.startswith("_"):
            return f"import of '{module}' is not allowed ('{part}' is internal to the library)"
        reason = name_reason(part)
        if reason is not None:
            return f"import of '{module}' is not allowed ({reason})"
    top = module.split(".")[0]
    if binds_top and top not in ALLOWED_MODULES:
        last = module.rsplit(".", 1)[-1]
        return (
            f"'import {module}' would give the strategy all of '{top}'; "
            f"write 'from {module} import ...' or 'import {module} as {last}'"
        )
    return None


def imported_name_problem(module: str, name: str) -> str | None:
    """Why ``from <module> import <name>`` is not allowed (the module itself already passed), or None."""
    if name == "*":
        return f"'from {module} import *' is not allowed; import the names the strategy uses"
    if name.startswith("_") and not is_dunder(name):
        return f"'{name}' is internal to '{module}' and may not be imported"
    reason = name_reason(name)
    return None if reason is None else f"importing '{name}' from '{module}' is not allowed ({reason})"
