"""The ways a sandboxed strategy call can fail, each with a message a trader can act on.

All are :class:`core.strategy.api.StrategyError`, so callers that show strategy errors to the trader
catch one type. Run-time failures carry the strategy line they happened at (None when it cannot be
known, e.g. a process killed while inside a C call without a stack dump) and what the strategy printed.
"""

from __future__ import annotations

from core.strategy.api import StrategyError
from core.strategy.sandbox.validator import ValidationReport


class StrategyRejected(StrategyError):
    """The source broke the sandbox rules; it was not run. ``report`` lists every problem with its line."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(f"the strategy was rejected:\n{report}")


class StrategyRunError(StrategyError):
    """The strategy ran and failed. ``line`` is the strategy line (1-based) or None; ``trace`` the
    strategy's own frames, outermost first, as (line, function name); ``output`` what it printed."""

    def __init__(
        self, message: str, *, line: int | None = None, trace: tuple[tuple[int, str], ...] = (), output: str = ""
    ) -> None:
        super().__init__(message)
        self.line = line
        self.trace = trace
        self.output = output


class StrategyCrashed(StrategyRunError):
    """The strategy raised an exception (or its process died, or its result cannot be sent back)."""


class StrategyTimedOut(StrategyRunError):
    """The strategy used up its CPU time (``limit == "cpu"``) or its wall-clock time (``"wall"``)."""

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        line: int | None = None,
        trace: tuple[tuple[int, str], ...] = (),
        output: str = "",
    ) -> None:
        super().__init__(message, line=line, trace=trace, output=output)
        self.limit = limit


class StrategyOutOfMemory(StrategyRunError):
    """The strategy needed more memory than it was allowed."""


class StrategyCancelled(StrategyError):
    """The caller cancelled the run; the strategy's process was stopped. Not the strategy's fault."""


class SandboxError(StrategyError):
    """The sandbox itself failed (the child could not start or sent nonsense): not the strategy's fault."""
