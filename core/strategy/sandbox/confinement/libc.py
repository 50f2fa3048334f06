"""``prctl(2)`` through ctypes, for the two process attributes Python has no function for.

Only Linux has prctl; callers check the platform first. Loaded lazily so that importing the package costs
nothing on other systems.
"""

from __future__ import annotations

import ctypes
import functools
import os

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3
PR_GET_SECCOMP = 21
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39


@functools.cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.restype = ctypes.c_int
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return libc


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """Call prctl; raise :class:`OSError` with the kernel's errno when it fails."""
    result = int(_libc().prctl(option, arg2, arg3, arg4, arg5))
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")
    return result
