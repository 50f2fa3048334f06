"""Landlock (Linux 5.13+): the kernel limits what the strategy process may open, to which TCP ports it may
connect, and whom it may signal. Through ``landlockpy``.

The ruleset *handles* every right the running kernel knows (so anything not granted is denied) and grants
back only reading, listing and executing beneath the read roots. Nothing is writable anywhere; ``/proc`` is
not readable, which closes ``/proc/<parent>/environ`` and ``/proc/<pid>/mem``. From ABI 4 TCP bind and
connect are handled with no rule (no TCP at all), from ABI 10 UDP too; from ABI 6 the process is scoped:
no signal to, and no abstract unix socket of, any process outside its own Landlock domain.

Landlock applies to the calling thread and the threads it starts later. Other threads already running are
only covered from ABI 8 (TSYNC); below that, :func:`apply_landlock` refuses a process that has more than one
thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import landlockpy
from landlockpy import AccessFS, AccessNet, RestrictFlag, Ruleset, Scope

from core.strategy.sandbox.confinement.report import ConfinementError

READ_RIGHTS = AccessFS.READ_FILE | AccessFS.READ_DIR | AccessFS.EXECUTE
# What Landlock lets a rule on a single file (not a directory) grant.
_FILE_RIGHTS = AccessFS.READ_FILE | AccessFS.EXECUTE
_TSYNC_ABI = 8


def landlock_abi() -> int:
    """The running kernel's Landlock ABI version; 0 when it has none (or Landlock is disabled at boot)."""
    try:
        return landlockpy.abi_version()
    except OSError:
        return 0


def landlock_description(abi: int) -> str:
    """What Landlock covers at this ABI, e.g. ``landlock abi 7 (files, tcp, signals, abstract sockets)``."""
    covers = ["files"]
    if abi >= 4:
        covers.append("tcp")
    if abi >= 10:
        covers.append("udp")
    if abi >= 6:
        covers += ["signals", "abstract sockets"]
    return f"landlock abi {abi} ({', '.join(covers)})"


def landlock_gaps(abi: int) -> tuple[str, ...]:
    """What this ABI cannot do that a newer one could, in a trader's words (the seccomp filter covers both)."""
    gaps: list[str] = []
    if abi < 4:
        gaps.append("the kernel's Landlock cannot limit network ports (the system-call filter still refuses sockets)")
    if abi < 6:
        gaps.append(
            "the kernel's Landlock cannot scope signals (the system-call filter still limits them to the strategy)"
        )
    return tuple(gaps)


def thread_count() -> int:
    """Threads of this process as the kernel sees them (native ones included); Python's count if /proc is
    not mounted. Read before confinement: afterwards /proc is closed."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _thread_names() -> str:
    names: list[str] = []
    try:
        for tid in sorted(os.listdir("/proc/self/task")):
            with open(f"/proc/self/task/{tid}/comm", encoding="utf-8", errors="replace") as comm:
                names.append(comm.read().strip())
    except OSError:
        pass
    return ", ".join(names)


def apply_landlock(read_roots: Sequence[str], abi: int) -> None:
    """Restrict this process for good. ``read_roots`` must be checked (existing, absolute, resolved).

    Raises :class:`ConfinementError` when other threads run and the ABI cannot synchronise them.
    """
    threads = thread_count()
    if threads > 1 and abi < _TSYNC_ABI:
        raise ConfinementError(
            f"{threads} threads are running ({_thread_names()}) and Landlock ABI {abi} confines only the calling "
            "thread: start the strategy process single-threaded (OPENBLAS_NUM_THREADS=1, "
            "JE_ARROW_MALLOC_CONF=background_thread:false, no thread started before confinement)"
        )
    scoped = Scope.ABSTRACT_UNIX_SOCKET | Scope.SIGNAL
    # best_effort masks each request with what the running ABI supports: every right it knows is handled.
    with Ruleset(
        handled_net=AccessNet.BIND_TCP | AccessNet.CONNECT_TCP | AccessNet.BIND_UDP | AccessNet.CONNECT_SEND_UDP,
        scoped=scoped,
    ) as ruleset:
        if ruleset.abi_version != abi:
            raise ConfinementError(f"Landlock ABI changed from {abi} to {ruleset.abi_version}")
        for root in read_roots:
            rights = READ_RIGHTS if os.path.isdir(root) else _FILE_RIGHTS
            ruleset.allow_path(root, rights)
        ruleset.restrict(RestrictFlag.TSYNC if threads > 1 else RestrictFlag.NONE, no_new_privs=True)
