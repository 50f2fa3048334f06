"""Hardening the application process itself: :func:`harden_parent`.

The application holds the broker keys in its memory and environment. On Linux, any process of the same user
can read ``/proc/<app pid>/environ`` and ``/proc/<app pid>/mem`` or ptrace the app, unless the app is marked
non-dumpable: then those files belong to root and reading them, like ptrace, needs CAP_SYS_PTRACE. A process
running as root (or with CAP_SYS_PTRACE) still can; for strategy code the real guard is the Landlock rule in
the strategy process, which makes all of ``/proc`` unreadable whatever the user.

Side effects: no core dump of the app, and ``/proc/self`` files of the app itself stay readable to the app.
The flag is reset by execve, so it does not pass on to the processes the app starts.
"""

from __future__ import annotations

import sys

from core.strategy.sandbox.confinement.libc import PR_SET_DUMPABLE, prctl


def harden_parent() -> None:
    """Linux: ``prctl(PR_SET_DUMPABLE, 0)``; a no-op elsewhere. Call once, early in the application's start."""
    if sys.platform == "linux":
        prctl(PR_SET_DUMPABLE, 0)
