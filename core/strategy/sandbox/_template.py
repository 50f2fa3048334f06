"""The host template (Linux): a process that has imported everything a strategy host needs, and forks hosts.

A fresh interpreter that imports numpy, pandas, pyarrow and the engine takes about half a second and some
60 MB of its own memory; a fork of a process that already holds them takes a few milliseconds and shares
those pages copy-on-write, so each extra host costs only what it writes. No strategy code ever runs here:
the template receives three pipe ends over its control socket (SCM_RIGHTS), forks, and the child becomes
a host (``_host.serve``) that confines itself before it reads the strategy.

Started by ``launcher.TemplateLauncher`` as ``python -I -B <this file>`` with the control socket's descriptor
number as its argument and a stripped environment. The first message says where the application's code is and what
to import; each later message (any bytes, with three descriptors) asks for one host, and is answered with
the host's pid and a pidfd (so the application can signal exactly that process, never a recycled pid).
Children are reaped automatically (SIGCHLD ignored). When the application goes away the socket reads
end-of-file and the template leaves; hosts leave when their own request pipe closes.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import socket
import struct
import sys

_REPLY = struct.Struct("<q")


def _prepare(control: socket.socket) -> None:
    message, _, _, _ = socket.recv_fds(control, 1 << 20, 0)
    setup = pickle.loads(message)
    sys.path[:] = setup["sys_path"]
    for module in setup["preload"]:
        importlib.import_module(module)
    for spec in setup["drivers"]:
        module = importlib.import_module(spec.partition(":")[0])
        warm = getattr(module, "before_limits", None)
        if callable(warm):
            warm()
    control.sendall(b"R")


def _fork_host(control: socket.socket, fds: list[int]) -> None:
    pid = os.fork()
    if pid == 0:
        try:
            control.close()
            os.setsid()  # its own process group: the application can kill it and anything it left behind
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            host = importlib.import_module("core.strategy.sandbox._host")
            host.main()
        finally:
            os._exit(70)
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    try:
        socket.send_fds(control, [_REPLY.pack(pid)], [pidfd])
    finally:
        os.close(pidfd)


def main() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # hosts are reaped by the kernel; the application holds pidfds
    control = socket.socket(fileno=int(sys.argv[1]))
    _prepare(control)
    while True:
        message, fds, _, _ = socket.recv_fds(control, 64, 3)
        if not message:
            return
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            control.sendall(_REPLY.pack(-1))
            continue
        _fork_host(control, fds)


if __name__ == "__main__":
    main()
