"""Linux confinement: what this machine offers (:func:`probe_linux`) and applying it to the strategy process
(:func:`confine_linux`), in the order that matters:

1. inherited descriptors closed, no core dumps (a killed process leaves no memory image on disk);
2. ``prctl(PR_SET_NO_NEW_PRIVS, 1)``: nothing executed later can gain privileges (and it lets an
   unprivileged process install the rules below);
3. Landlock (:mod:`.linux_landlock`): files, TCP ports, signals, abstract unix sockets;
4. seccomp (:mod:`.linux_seccomp`): the system-call allow-list, last, because building the Landlock
   ruleset needs calls the filter then forbids.

What the caller must do before: read anything it needs from ``/proc/self`` (memory in use, limits as files),
set resource limits (``setrlimit`` is denied afterwards; reading limits stays possible), and keep the
process single-threaded (see :func:`.linux_landlock.apply_landlock`).
"""

from __future__ import annotations

import functools
import os
import resource
from collections.abc import Sequence

from core.strategy.sandbox.confinement.descriptors import close_inherited_fds
from core.strategy.sandbox.confinement.libc import PR_SET_NO_NEW_PRIVS, prctl
from core.strategy.sandbox.confinement.linux_landlock import (
    apply_landlock,
    landlock_abi,
    landlock_description,
    landlock_gaps,
)
from core.strategy.sandbox.confinement.linux_seccomp import apply_seccomp, seccomp_available
from core.strategy.sandbox.confinement.report import ConfinementError, ConfinementLevel, ConfinementReport
from core.strategy.sandbox.confinement.roots import checked_read_roots

NO_NEW_PRIVS = "no_new_privs"
SECCOMP = "seccomp allow-list"
DESCRIPTORS = "inherited descriptors closed"
NO_LANDLOCK = "the kernel has no Landlock: file reads are not confined"
NO_SECCOMP = (
    "the kernel has no seccomp filter: system calls are not limited (processes, signals, sockets, kernel calls)"
)


def report_for(abi: int, seccomp: bool) -> ConfinementReport:
    """The report for a kernel with this Landlock ABI (0: none) and seccomp (or not). Pure, for tests."""
    mechanisms = [DESCRIPTORS, NO_NEW_PRIVS]
    missing: list[str] = []
    if abi >= 1:
        mechanisms.append(landlock_description(abi))
        missing += landlock_gaps(abi)
    else:
        missing.append(NO_LANDLOCK)
    if seccomp:
        mechanisms.append(SECCOMP)
    else:
        missing.append(NO_SECCOMP)
    if abi >= 1 and seccomp:
        level = ConfinementLevel.FULL
    elif abi >= 1 or seccomp:
        level = ConfinementLevel.PARTIAL
    else:
        level = ConfinementLevel.NONE
    return ConfinementReport(level, tuple(mechanisms), tuple(missing))


@functools.cache
def probe_linux() -> ConfinementReport:
    """Ask the kernel, without changing this process: the Landlock ABI version query and seccomp's
    GET_ACTION_AVAIL operation have no effect."""
    return report_for(landlock_abi(), seccomp_available())


def confine_linux(read_roots: Sequence[str], keep_fds: Sequence[int]) -> ConfinementReport:
    """Apply everything :func:`probe_linux` found, irreversibly; raise :class:`ConfinementError` if any part
    fails (the process must then exit without running strategy code)."""
    report = probe_linux()
    roots = checked_read_roots(read_roots)
    abi = landlock_abi()
    try:
        close_inherited_fds(keep_fds)
        # CPython reports setrlimit's EPERM as ValueError (as when a filter from an earlier call denies it)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        prctl(PR_SET_NO_NEW_PRIVS, 1)
    except (OSError, ValueError) as exc:
        raise ConfinementError(f"the process could not be prepared for confinement: {exc}") from exc
    if abi >= 1:
        try:
            apply_landlock(roots, abi)
        except OSError as exc:
            raise ConfinementError(f"Landlock could not be applied: {exc}") from exc
    if SECCOMP in report.mechanisms:
        try:
            apply_seccomp(os.getpid())
        except (OSError, ValueError) as exc:
            raise ConfinementError(f"the seccomp filter could not be loaded: {exc}") from exc
    return report
