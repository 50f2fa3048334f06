"""The world an attacker child is let loose in, and what the test looks at afterwards: canary files
outside the read roots, victim files, canary processes, TCP/UDP/unix listeners, an inherited writable
descriptor, and paths inside a read root that must never appear.

One world per run (the confined children share one, the unconfined control children another), so a control
that succeeds cannot mask a confined attempt.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

CANARY_TEXT = "CANARY-file-content-never-to-be-read"


class Listener:
    """A socket accepting connections (or datagrams) in a thread and counting them."""

    def __init__(self, sock: socket.socket, datagram: bool = False) -> None:
        self.sock = sock
        self.hits = 0
        self._datagram = datagram
        self._stop = threading.Event()
        sock.settimeout(0.2)
        if not datagram:
            sock.listen(8)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                if self._datagram:
                    self.sock.recvfrom(64)
                else:
                    conn, _ = self.sock.accept()
                    conn.close()
            except (TimeoutError, OSError):
                continue
            self.hits += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


def listeners(folder: Path, abstract_name: str) -> tuple[Listener, Listener, Listener, Listener]:
    """Listeners an escape would reach: TCP and UDP on 127.0.0.1, a unix socket in ``folder``, an abstract one."""
    tcp = Listener(socket.create_server(("127.0.0.1", 0)))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(folder / "unix.sock"))
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0" + abstract_name)
    return tcp, Listener(udp, datagram=True), Listener(unix), Listener(abstract)


class World:
    """Files, processes and listeners for one run; :meth:`data` is what the child is told."""

    def __init__(self, tmp: Path, root_dir: str, read_roots: list[str]) -> None:
        self.tmp = tmp
        self.token = uuid.uuid4().hex[:12]
        self.secret = f"SECRET-{uuid.uuid4().hex}"
        self.root_dir = root_dir  # a read root: writes there must fail too
        self.read_roots = read_roots
        self.canary = tmp / "canary.txt"
        self.canary.write_text(CANARY_TEXT)
        self.canary.chmod(0o600)
        self.canary_mtime = self.canary.stat().st_mtime
        self.canary_csv = tmp / "canary.csv"
        self.canary_csv.write_text(f"secret\n{CANARY_TEXT}\n")
        self.canary_bin = tmp / "canary.bin"
        self.canary_bin.write_bytes(CANARY_TEXT.encode())
        self.victims = {}
        for name in ("truncate", "unlink", "rename", "pa_delete"):
            path = tmp / f"victim_{name}.txt"
            path.write_text("victim")
            self.victims[name] = path
        (tmp / "mnt").mkdir()
        self.inherited = tmp / "inherited.txt"
        self.inherited.write_text("")
        self.inherited_fd = os.open(self.inherited, os.O_WRONLY | os.O_APPEND)
        self.canaries: dict[str, subprocess.Popen[bytes]] = {}
        self.abstract_name = f"stratforge-confinement-{self.token}"
        self.tcp, self.udp, self.unix, self.abstract = listeners(tmp, self.abstract_name)

    def canary_process(self, name: str) -> int:
        """A process of the same user for technique ``name`` to attack (its own session and group)."""
        proc = subprocess.Popen(["sleep", "120"], start_new_session=True)
        self.canaries[name] = proc
        return proc.pid

    def canary_alive(self, name: str) -> bool:
        """Alive and not stopped by a tracer."""
        proc = self.canaries[name]
        if proc.poll() is not None:
            return False
        state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("t", "T", "Z", "X")

    def in_root(self, name: str) -> Path:
        return Path(self.root_dir) / f"_confinement_probe_{self.token}_{name}"

    def out(self, name: str) -> Path:
        return self.tmp / f"out_{name}"

    def tmp_marker(self, name: str) -> Path:
        return Path("/tmp") / f"stratforge-confinement-{self.token}-{name}"

    def data(self) -> dict[str, Any]:
        """The workers' view (JSON): everything but the secret."""
        return {
            "read_roots": self.read_roots,
            "tmp": str(self.tmp),
            "token": self.token,
            "root_dir": self.root_dir,
            "canary": str(self.canary),
            "canary_csv": str(self.canary_csv),
            "canary_bin": str(self.canary_bin),
            "victims": {k: str(v) for k, v in self.victims.items()},
            "inherited_fd": self.inherited_fd,
            "pids": {name: proc.pid for name, proc in self.canaries.items()},
            "tcp_port": self.tcp.sock.getsockname()[1],
            "udp_port": self.udp.sock.getsockname()[1],
            "unix_path": str(self.tmp / "unix.sock"),
            "abstract_name": self.abstract_name,
        }

    def close(self) -> None:
        for proc in self.canaries.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        for listener in (self.tcp, self.udp, self.unix, self.abstract):
            listener.close()
        with contextlib.suppress(OSError):
            os.close(self.inherited_fd)
        for leftover in Path(self.root_dir).glob(f"_confinement_probe_{self.token}_*"):
            leftover.unlink()
        for leftover in Path("/tmp").glob(f"stratforge-confinement-{self.token}-*"):
            leftover.unlink()
