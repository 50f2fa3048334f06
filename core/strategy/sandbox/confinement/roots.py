"""The folders a confined strategy process may read (its *read roots*), checked and normalised once for every
platform.

Why a check at all: a root such as ``/`` or ``/proc`` would hand back exactly what confinement closes (the
parent's ``/proc/<pid>/environ`` with its API keys, ``/proc/<pid>/mem``, raw devices). Refusing such a root
loudly is safer than confining uselessly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from core.strategy.sandbox.confinement.report import ConfinementError

# Kernel interfaces no strategy needs and that expose other processes, devices or the kernel itself.
FORBIDDEN_ROOTS = ("/proc", "/sys", "/dev")


def checked_read_roots(read_roots: Sequence[str]) -> tuple[str, ...]:
    """The existing roots, resolved through symbolic links, sorted and without duplicates.

    Roots that do not exist are skipped (an optional package's folder, a time-zone path of another
    distribution). Raises :class:`ConfinementError` for a relative root, or one that contains or lies inside
    ``/proc``, ``/sys`` or ``/dev``.
    """
    kept: set[str] = set()
    for root in read_roots:
        if not os.path.isabs(root):
            raise ConfinementError(f"read root {root!r} is not an absolute path")
        real = os.path.realpath(root)
        for forbidden in FORBIDDEN_ROOTS:
            if os.path.commonpath([real, forbidden]) in (real, forbidden):
                raise ConfinementError(f"read root {root!r} would expose {forbidden}, which confinement closes")
        if os.path.exists(real):
            kept.add(real)
    return tuple(sorted(kept))
