"""Closing the descriptors a strategy process inherited but does not need.

An open descriptor is a capability Landlock cannot take back: a file opened for writing before confinement
stays writable after it. So everything but stdin, stdout, stderr and the descriptors the caller names is
closed before the kernel rules are applied.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

_MAX_FD = 1 << 20  # fs.nr_open's default ceiling: no descriptor number can be higher


def _fd_ceiling() -> int:
    try:
        import resource  # POSIX only

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        limits = [lim for lim in (soft, hard) if lim != resource.RLIM_INFINITY]
        return min(max(limits, default=_MAX_FD), _MAX_FD)
    except (ImportError, OSError, ValueError):
        return _MAX_FD


def close_inherited_fds(keep_fds: Sequence[int]) -> None:
    """Close every descriptor except 0, 1, 2 and ``keep_fds`` (one ``close_range`` per gap on Linux)."""
    keep = sorted({0, 1, 2, *(fd for fd in keep_fds if fd >= 0)})
    ceiling = max(_fd_ceiling(), keep[-1] + 1)
    for low, high in zip(keep, [*keep[1:], ceiling], strict=True):
        if high > low + 1:
            os.closerange(low + 1, high)
