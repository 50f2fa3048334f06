"""Getting a new strategy host process: forked from a warm template (Linux) or started fresh (elsewhere).

Both hand back a :class:`HostProcess`: the application's ends of the host's three pipes and a way to kill it.
The host confines itself before it reads the strategy (``_host.py``); the launcher only decides how the process
comes to exist, and gives it nothing but its pipes: no environment worth reading (the template and fresh hosts
get a stripped one), no other descriptor, its own process group.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from core.strategy.sandbox.errors import SandboxError

_HERE = Path(__file__).resolve().parent
_HOST = _HERE / "_host.py"
_TEMPLATE = _HERE / "_template.py"
_REPLY = struct.Struct("<q")
_TEMPLATE_START_S = 60.0  # importing numpy, pandas, pyarrow and the engine: about 1 s here, far more on a cold disk
# Variables the host keeps from the parent's environment; everything else (API keys, tokens) stays behind.
_KEPT_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT", "TMPDIR", "TEMP", "TMP")
CHILD_ENV = {
    # One thread per library: CPU time counts every thread, and thread stacks count against RLIMIT_AS.
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",  # glibc reserves 64 MB of address space per arena
    "ARROW_DEFAULT_MEMORY_POOL": "system",  # jemalloc/mimalloc reserve large address ranges up front
    # pyarrow's jemalloc starts a background thread at import; Landlock confines only the thread that asks
    "JE_ARROW_MALLOC_CONF": "background_thread:false",
}


def child_environment() -> dict[str, str]:
    return {k: os.environ[k] for k in _KEPT_ENV if k in os.environ} | CHILD_ENV


@dataclass
class HostProcess:
    """The application's side of one host: where requests go, replies and printed text come from."""

    pid: int
    request_fd: int
    reply_fd: int
    stderr_fd: int
    _kill: object  # a callable that kills the host (and its process group) and never raises

    def kill(self) -> None:
        self._kill()  # type: ignore[operator]

    def close_fds(self) -> None:
        for fd in (self.request_fd, self.reply_fd, self.stderr_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


class Launcher(Protocol):
    def launch(self) -> HostProcess: ...


class FreshLauncher:
    """A new interpreter per host: every platform, and the fallback when the template cannot start."""

    def __init__(self, command_prefix: list[str] | None = None) -> None:
        self.prefix = list(command_prefix or [])

    def launch(self) -> HostProcess:
        posix = os.name == "posix"
        try:
            proc = subprocess.Popen(
                [*self.prefix, sys.executable, "-I", "-B", str(_HOST)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=child_environment(), close_fds=True, start_new_session=posix,
            )  # fmt: skip
        except OSError as exc:
            raise SandboxError(f"the strategy's process could not start: {exc}") from exc
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        fds = [os.dup(f.fileno()) for f in (proc.stdin, proc.stdout, proc.stderr)]
        for f in (proc.stdin, proc.stdout, proc.stderr):
            f.close()

        def kill() -> None:
            with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
                if posix:
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)

        return HostProcess(proc.pid, fds[0], fds[1], fds[2], kill)


class TemplateLauncher:
    """Hosts forked from one warm template process (Linux): a few milliseconds and a few MB each.

    Thread-safe (one request to the template at a time). A template that died is started again on the next
    launch; if it cannot start, the error says why and :func:`default_launcher` falls back to fresh hosts."""

    def __init__(self, sys_path: list[str], preload: list[str], drivers: list[str]) -> None:
        self._setup = {"sys_path": sys_path, "preload": preload, "drivers": drivers}
        self._lock = threading.Lock()
        self._control: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def launch(self) -> HostProcess:
        with self._lock:
            for attempt in (1, 2):
                control = self._ensure_template()
                ours = [os.pipe(), os.pipe(), os.pipe()]  # request, reply, stderr
                theirs = [ours[0][0], ours[1][1], ours[2][1]]
                try:
                    socket.send_fds(control, [b"H"], theirs)
                    message, fds, _, _ = socket.recv_fds(control, _REPLY.size, 1)
                except OSError:
                    message, fds = b"", []
                finally:
                    for fd in theirs:
                        os.close(fd)
                if len(message) == _REPLY.size and len(fds) == 1 and _REPLY.unpack(message)[0] > 0:
                    return _forked_host(_REPLY.unpack(message)[0], fds[0], ours[0][1], ours[1][0], ours[2][0])
                for fd in (*fds, ours[0][1], ours[1][0], ours[2][0]):
                    os.close(fd)
                self._stop_template()
                if attempt == 2:
                    raise SandboxError("the strategy host template stopped answering")
        raise AssertionError("unreachable")

    def _ensure_template(self) -> socket.socket:
        if self._control is not None and self._proc is not None and self._proc.poll() is None:
            return self._control
        self._stop_template()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-B", str(_TEMPLATE), str(theirs.fileno())], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_environment(), close_fds=True,
                start_new_session=True, pass_fds=(theirs.fileno(),),
            )  # fmt: skip
        except OSError as exc:
            mine.close()
            raise SandboxError(f"the strategy host template could not start: {exc}") from exc
        finally:
            theirs.close()
        mine.settimeout(_TEMPLATE_START_S)
        try:
            mine.sendall(pickle.dumps(self._setup, protocol=pickle.HIGHEST_PROTOCOL))
            ready = mine.recv(1)
        except OSError:
            ready = b""
        if ready != b"R":
            mine.close()
            _kill_group(proc)
            raise SandboxError("the strategy host template could not import what strategies need")
        mine.settimeout(30.0)
        self._control, self._proc = mine, proc
        return mine

    def _stop_template(self) -> None:
        if self._control is not None:
            self._control.close()
        if self._proc is not None:
            _kill_group(self._proc)
        self._control, self._proc = None, None

    def close(self) -> None:
        with self._lock:
            self._stop_template()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=5)


def _forked_host(pid: int, pidfd: int, request_fd: int, reply_fd: int, stderr_fd: int) -> HostProcess:
    """A host the template forked: killed through its pidfd (never a recycled pid), with its process group."""
    closed = threading.Event()

    def kill() -> None:
        if closed.is_set():
            return
        closed.set()
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)  # anything it left in its group (it can start nothing once confined)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not _exited(pidfd):
            time.sleep(0.005)
        with contextlib.suppress(OSError):
            os.close(pidfd)

    return HostProcess(pid, request_fd, reply_fd, stderr_fd, kill)


def _exited(pidfd: int) -> bool:
    import select

    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


@functools.cache
def _template_launcher(
    sys_path: tuple[str, ...], preload: tuple[str, ...], drivers: tuple[str, ...]
) -> TemplateLauncher:
    return TemplateLauncher(list(sys_path), list(preload), list(drivers))


def default_launcher(preload: tuple[str, ...], drivers: tuple[str, ...], command_prefix: list[str]) -> Launcher:
    """The template where the platform can fork safely (Linux), a fresh interpreter elsewhere."""
    if sys.platform.startswith("linux") and hasattr(os, "pidfd_open") and not command_prefix:
        sys_path = tuple(p or os.getcwd() for p in sys.path)
        return _template_launcher(sys_path, preload, drivers)
    return FreshLauncher(command_prefix)
