"""The strategy sandbox: check traders' (or an AI's) strategy code before it is saved, and run it in confined
host processes, so that hostile code cannot reach files, the network, other processes or the application, and
a strategy that raises, loops forever or exhausts memory is stopped with a message naming its line while the
application keeps running.

Layers, outermost first (each assumes the one before it can be got round; tests switch the upper ones off):

1. :func:`validate_source`: a syntax-tree check against allow-listed imports and denied names (:mod:`.rules`),
   reporting every problem with its line;
2. in the host: restricted built-ins and an import function applying the same rules, and an audit hook
   refusing file access outside the Python installation, writes, sockets, processes and compiling text;
3. the boundary: the operating system's confinement of the host (:mod:`.confinement`: on Linux a system-call
   allow-list and Landlock; macOS's sandbox; a Windows job object), applied before any strategy code loads,
   plus memory, file and descriptor limits, per-call CPU and wall-clock limits, and a parent that believes
   nothing the host sends back (:mod:`.wire`: plain data, size-capped, no pickle).

Hosts (:class:`StrategyHost`) are kept warm: a paper session keeps one for its life; backtests and sweeps take
them from a pool (:mod:`.pool`). On Linux they are forked from a template that has imported numpy and pandas.
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
from core.strategy.sandbox.host import ALL_LAYERS, SandboxLayers, SandboxResult, StrategyHost
from core.strategy.sandbox.rules import ALLOWED_MODULES, FORBIDDEN_BUILTINS
from core.strategy.sandbox.runner import run_sandboxed
from core.strategy.sandbox.validator import Problem, ValidationReport, validate_source

__all__ = [
    "ALLOWED_MODULES",
    "ALL_LAYERS",
    "FORBIDDEN_BUILTINS",
    "Problem",
    "SandboxError",
    "SandboxLayers",
    "SandboxResult",
    "StrategyCancelled",
    "StrategyCrashed",
    "StrategyHost",
    "StrategyOutOfMemory",
    "StrategyRejected",
    "StrategyRunError",
    "StrategyTimedOut",
    "ValidationReport",
    "run_sandboxed",
    "validate_source",
]
