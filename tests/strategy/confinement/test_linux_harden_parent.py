"""harden_parent: after it, a process of the same user without CAP_SYS_PTRACE can no longer read the
application's /proc/<pid>/environ (where the broker keys live) or open its memory.

This machine runs the tests as root. Root keeps CAP_SYS_PTRACE and can still read a non-dumpable process's
files, so here the application and the reader both drop every capability first (they stay uid 0): two
ordinary processes of one user. (A capability-less reader cannot read a process holding capabilities it
lacks, hardened or not, so the application drops them too.) The last test states the root case as it is;
for strategy code the guard is Landlock, which closes /proc in the strategy process whatever its user
(see test_linux_attacks: read_parent_environ).
"""

from __future__ import annotations

import sys

import pytest

from tests.strategy.confinement._small import run_small

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_DUMPABLE is Linux's")

SECRET = "SECRET-harden-parent-4c1f0"

# The application: optionally hardened, then starts a reader of its own /proc files and reports what it got.
APP = """
import ctypes, json, subprocess
from core.strategy.sandbox.confinement import harden_parent
if sys.argv[2] == "drop":
    header, data = (ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)()
    assert ctypes.CDLL(None, use_errno=True).capset(header, data) == 0
if sys.argv[1] == "harden":
    harden_parent()
reader = subprocess.run([sys.executable, "-I", "-c", sys.argv[3], str(os.getpid()), sys.argv[2]],
                        capture_output=True, timeout=20, env={})
print(reader.stdout.decode().strip().splitlines()[-1])
"""

# A same-user process: drops all capabilities (capset to zero) if asked, then tries the app's files.
READER = """
import ctypes, json, os, sys
pid, drop = sys.argv[1], sys.argv[2] == "drop"
if drop:
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: nothing (two 32-bit words each)
    assert ctypes.CDLL(None, use_errno=True).capset(header, data) == 0, ctypes.get_errno()
result = {"uid": os.getuid()}
for name, mode in (("environ", "rb"), ("mem", "rb")):
    try:
        with open(f"/proc/{pid}/{name}", mode) as f:
            result[name] = "read: " + (f.read(100000).decode(errors="replace") if name == "environ" else "opened")
    except OSError as exc:
        result[name] = f"refused: {exc.strerror}"
print(json.dumps(result))
"""


def _app(harden: bool, drop_caps: bool) -> dict[str, str]:
    return run_small(
        "import os\n" + APP,
        "harden" if harden else "plain",
        "drop" if drop_caps else "keep",
        READER,
        env={"STRATFORGE_TEST_SECRET": SECRET},
    )


def test_without_hardening_a_same_user_process_reads_the_apps_secrets() -> None:
    result = _app(harden=False, drop_caps=True)
    assert result["rc"] == 0, result
    assert SECRET in result["environ"], "control: an unhardened app's environment is readable by its user"


def test_after_harden_parent_a_same_user_process_cannot_read_them() -> None:
    result = _app(harden=True, drop_caps=True)
    assert result["rc"] == 0, result
    assert result["environ"] == "refused: Permission denied", result
    assert result["mem"] == "refused: Permission denied", result


def test_root_with_cap_sys_ptrace_still_can() -> None:
    """What is true for root: PR_SET_DUMPABLE does not stop CAP_SYS_PTRACE."""
    result = _app(harden=True, drop_caps=False)
    assert result["rc"] == 0, result
    if result["uid"] == 0:
        assert SECRET in result["environ"]
    else:
        assert result["environ"] == "refused: Permission denied"
