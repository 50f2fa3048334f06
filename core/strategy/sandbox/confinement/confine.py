"""The platform-independent entry points: :func:`probe_confinement`, :func:`confine_current_process` and
:func:`child_command_prefix`, each handing over to the module of the running platform.

Platform modules are imported inside the functions: ``linux`` needs :mod:`resource` (absent on Windows),
``windows`` Windows' DLLs, and none of them should cost anything where it does not apply.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence

from core.strategy.sandbox.confinement.report import ConfinementLevel, ConfinementReport

_UNSUPPORTED = ConfinementReport(
    ConfinementLevel.NONE, (), (f"no system confinement is known for {sys.platform}: strategy code is not confined",)
)


@functools.cache
def probe_confinement() -> ConfinementReport:
    """What a strategy process WOULD get on this machine. Parent side, cheap, cached; changes nothing here
    (it only asks the kernel which Landlock version and seccomp actions it knows)."""
    if sys.platform == "linux":
        from core.strategy.sandbox.confinement.linux import probe_linux

        return probe_linux()
    if sys.platform == "darwin":
        from core.strategy.sandbox.confinement.macos import probe_macos

        return probe_macos()
    if sys.platform == "win32":
        from core.strategy.sandbox.confinement.windows import probe_windows

        return probe_windows()
    return _UNSUPPORTED


def confine_current_process(read_roots: Sequence[str], *, keep_fds: Sequence[int] = ()) -> ConfinementReport:
    """Confine this (strategy) process for good, before any strategy code is loaded. Call it once.

    ``read_roots``: folders (or files) it may still read: the Python installation, the allowed packages,
    the time-zone database. Roots that do not exist are skipped; one exposing /proc, /sys or /dev is refused.
    ``keep_fds``: descriptors to keep besides 0, 1 and 2 (POSIX: all others are closed).

    Linux: read whatever you need from ``/proc/self`` and set resource limits BEFORE calling: afterwards
    /proc is unreadable and setrlimit is denied. The process must be single-threaded unless Landlock's ABI
    is 8 or more. After it returns, the process can compute, import more from ``read_roots``, read time-zone
    data, start threads, use its open pipes, allocate memory, read clocks and random bytes, and signal itself;
    nothing else.

    Raises :class:`~.report.ConfinementError` if a mechanism :func:`probe_confinement` reports fails to apply.
    """
    if sys.platform == "linux":
        from core.strategy.sandbox.confinement.linux import confine_linux

        return confine_linux(read_roots, keep_fds)
    if sys.platform == "darwin":
        from core.strategy.sandbox.confinement.descriptors import close_inherited_fds
        from core.strategy.sandbox.confinement.macos import confine_macos

        close_inherited_fds(keep_fds)
        return confine_macos()
    if sys.platform == "win32":
        from core.strategy.sandbox.confinement.windows import apply_job_object

        return apply_job_object()
    return _UNSUPPORTED


def child_command_prefix(read_roots: Sequence[str]) -> list[str]:
    """What to put before ``[python, ...]`` when starting a strategy process: macOS's
    ``["/usr/bin/sandbox-exec", "-p", profile]``; ``[]`` elsewhere (Linux and Windows confine from inside)."""
    if sys.platform == "darwin":
        from core.strategy.sandbox.confinement.macos import child_command_prefix_macos

        return child_command_prefix_macos(read_roots)
    return []
