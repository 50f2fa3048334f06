"""The strategy sandbox: check traders' (or an AI's) strategy code before it is saved, and run it in a
separate, limited process so that a strategy that raises, loops forever or exhausts memory is stopped
with a message naming its line while the application keeps running.

Layers, outermost first (each assumes the one before it can be got round):

1. :func:`validate_source`: a syntax-tree check against allow-listed imports and denied names
   (:mod:`.rules`), reporting every problem with its line;
2. in the child process: restricted built-ins and an import function applying the same rules;
3. an audit hook refusing file access outside the Python installation, writes, sockets, processes,
   ctypes, unpickling and compiling text;
4. the process itself: a stripped environment, CPU, memory and file-size limits, a wall clock, and a
   parent that reads the reply with an allow-listing unpickler.

What it is not: an operating-system sandbox. Native code in the child (reached through a memory bug in
a library) could make system calls directly; only layer 4 would still hold. See ``runner.py``.
"""

from core.strategy.sandbox.errors import (
    SandboxError,
    StrategyCancelled,
    StrategyCrashed,
    StrategyOutOfMemory,
    StrategyRejected,
    StrategyRunError,
    StrategyTimedOut,
)
from core.strategy.sandbox.rules import ALLOWED_MODULES, FORBIDDEN_BUILTINS
from core.strategy.sandbox.runner import SandboxResult, run_sandboxed
from core.strategy.sandbox.validator import Problem, ValidationReport, validate_source

__all__ = [
    "ALLOWED_MODULES",
    "FORBIDDEN_BUILTINS",
    "Problem",
    "SandboxError",
    "SandboxResult",
    "StrategyCancelled",
    "StrategyCrashed",
    "StrategyOutOfMemory",
    "StrategyRejected",
    "StrategyRunError",
    "StrategyTimedOut",
    "ValidationReport",
    "run_sandboxed",
    "validate_source",
]
