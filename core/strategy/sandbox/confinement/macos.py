"""macOS: the strategy process is started under ``sandbox-exec`` with a deny-by-default profile
(:func:`sandbox_profile`), because macOS has no call a running process can make to sandbox itself that is
public; :func:`confine_macos` in the child then checks the sandbox really holds.

NOT TESTED ON A MAC: StratForge's automated tests run on Linux. The profile follows Apple's Seatbelt
language as Chromium's and Bazel's profiles use it; its unit test only checks the text. ``sandbox-exec`` is
marked deprecated by Apple but ships with every macOS release to date. Treat this as a first version to be
tried on a Mac before relying on it.

The profile: no network, no process creation (only the initial exec of Python itself), no file writes,
reads only beneath the read roots and the system's libraries; signals to itself only. File metadata
(``stat``) is readable everywhere, because Python's import system and ``realpath`` walk parent folders.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
from collections.abc import Sequence

from core.strategy.sandbox.confinement.report import ConfinementError, ConfinementLevel, ConfinementReport
from core.strategy.sandbox.confinement.roots import checked_read_roots

SANDBOX_EXEC = "/usr/bin/sandbox-exec"
MECHANISM = "sandbox-exec profile (deny by default)"
# What the dynamic loader, the C library and time-zone lookups read on every macOS.
SYSTEM_READ_ROOTS = (
    "/usr/lib",
    "/usr/share/zoneinfo",
    "/System/Library",
    "/System/Volumes/Preboot/Cryptexes",
    "/Library/Apple/usr/lib",
    "/private/var/db/timezone",
    "/private/etc/localtime",
    "/dev/null",
    "/dev/urandom",
)


def _quoted(text: str) -> str:
    """A Seatbelt string literal; control characters are refused rather than escaped."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise ConfinementError(f"path {text!r} contains a control character")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sandbox_profile(read_roots: Sequence[str], executable: str) -> str:
    """The Seatbelt profile text for a strategy process running ``executable`` over ``read_roots``."""
    exe = os.path.realpath(executable)
    reads = " ".join(
        [f"(subpath {_quoted(root)})" for root in (*read_roots, *SYSTEM_READ_ROOTS)]
        + [f"(literal {_quoted(path)})" for path in (executable, exe)]
    )
    return "\n".join(
        (
            "(version 1)",
            "(deny default)",
            # the initial exec of Python (a framework build re-executes its app bundle beneath the prefix)
            f"(allow process-exec (literal {_quoted(executable)}) (literal {_quoted(exe)})"
            f" (subpath {_quoted(os.path.realpath(sys.base_prefix))}))",
            f"(allow file-read* {reads})",
            "(allow file-read-metadata)",
            # writing to the pipes it inherited; /dev/null for libraries that open it
            '(allow file-write-data (literal "/dev/null"))',
            "(allow sysctl-read)",
            "(allow signal (target self))",
            "(allow process-info* (target self))",
            # the C library's time-zone change notifications
            '(allow mach-lookup (global-name "com.apple.system.notification_center"))',
        )
    )


def child_command_prefix_macos(read_roots: Sequence[str]) -> list[str]:
    """``["sandbox-exec", "-p", profile]`` when sandbox-exec exists, else ``[]``."""
    if not os.path.exists(SANDBOX_EXEC):
        return []
    return [SANDBOX_EXEC, "-p", sandbox_profile(checked_read_roots(read_roots), sys.executable)]


def probe_macos() -> ConfinementReport:
    """FULL when sandbox-exec exists (the profile covers files, network, processes and signals)."""
    if shutil.which("sandbox-exec") or os.path.exists(SANDBOX_EXEC):
        return ConfinementReport(ConfinementLevel.FULL, (MECHANISM,), ())
    return ConfinementReport(
        ConfinementLevel.NONE, (), ("this Mac has no sandbox-exec: strategy code is not confined by the system",)
    )


def _is_sandboxed() -> bool:
    """``sandbox_check(getpid(), NULL, SANDBOX_FILTER_NONE)`` is 1 inside any sandbox."""
    libsystem = ctypes.CDLL("/usr/lib/libSystem.B.dylib")
    check = libsystem.sandbox_check
    check.restype = ctypes.c_int
    check.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    return int(check(os.getpid(), None, 0)) == 1


def confine_macos() -> ConfinementReport:
    """In the child: the sandbox was applied by the exec prefix; check it holds."""
    report = probe_macos()
    if report.level is not ConfinementLevel.NONE and not _is_sandboxed():
        raise ConfinementError(
            "sandbox-exec exists but this process is not sandboxed: start it through child_command_prefix()"
        )
    return report
