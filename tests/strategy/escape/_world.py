"""What an escaping strategy would want, laid out by the test, and how the test looks afterwards.

Secrets: a random token in files outside the read roots (a canary file, a fake ``~/.ssh`` key, a fake
configuration and keyring in a fake data folder, a file whose very name holds it), a secret in pytest's own
environment (``monkeypatch``-style, set for the session), a secret in the environment and memory of a canary
process, and the entries of pytest's initial environment block (what ``/proc/<pytest>/environ`` shows).

Things to touch: a canary process (its own session), a TCP listener on 127.0.0.1, a UDP listener, a unix
socket, an abstract unix socket, a victim file; places a write could land (the world folder, ``/tmp``,
site-packages, the application's ``core/__pycache__``, the data folder).

Everything is judged from outside: the strategy's word is never believed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path
from typing import Any

import core
from core.strategy.sandbox.launcher import child_environment
from tests.strategy.confinement._world import listeners

SECRET_ENV = "STRATFORGE_ESCAPE_SECRET"


def _pytest_environ_entries() -> list[str]:
    """pytest's initial environment block, as /proc/<pytest>/environ shows it: the entries a host does not
    have itself (its environment is stripped) and long enough not to turn up by chance."""
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return []
    kept = set(child_environment())
    entries = []
    for item in raw.split(b"\0"):
        text = item.decode("utf-8", "replace")
        key = text.partition("=")[0]
        if key and key not in kept and len(text) >= 16 and not key.startswith(("PWD", "OLDPWD", "SHLVL", "_")):
            entries.append(text)
    return entries


class World:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.token = f"TOKEN-{uuid.uuid4().hex}"
        self.env_secret = f"ENVSECRET-{uuid.uuid4().hex}"
        self.proc_secret = f"PROCSECRET-{uuid.uuid4().hex}"
        self.marker = uuid.uuid4().hex[:10]  # in the names of files a write would create
        self.canary = tmp / "canary.txt"
        self.canary.write_text(f"the secret is {self.token}\n")
        self.canary.chmod(0o600)
        self.canary_mtime = self.canary.stat().st_mtime_ns
        self.canary_csv = tmp / "canary.csv"
        self.canary_csv.write_text(f"secret\n{self.token}\n")
        self.canary_parquet = tmp / "canary.parquet"
        import pandas as pd

        pd.DataFrame({"secret": [self.token]}).to_parquet(self.canary_parquet)
        self.canary_bin = tmp / "canary.bin"
        self.canary_bin.write_bytes(self.token.encode() * 4)
        (tmp / f"name-{self.token}.txt").write_text("the name is the secret")
        self.home = tmp / "home"
        (self.home / ".ssh").mkdir(parents=True)
        (self.home / ".ssh" / "id_ed25519").write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{self.token}\n")
        self.data_dir = tmp / "data"
        self.data_dir.mkdir()
        (self.data_dir / "settings.json").write_text(f'{{"broker_key": "{self.token}"}}')
        keyring = self.data_dir / "python_keyring"
        keyring.mkdir()
        (keyring / "keyring_pass.cfg").write_text(f"[stratforge]\nalpaca = {self.token}\n")
        self.victim = tmp / "victim.txt"
        self.victim.write_text("victim")
        self.canary_proc = subprocess.Popen(
            [sys.executable, "-c", f"import time\nS = {self.proc_secret!r} * 3\ntime.sleep(900)\n"],
            env={"CANARY_SECRET": self.proc_secret}, start_new_session=True,
        )  # fmt: skip
        self.abstract_name = f"stratforge-escape-{self.marker}"
        self.tcp, self.udp, self.unix, self.abstract = listeners(tmp, self.abstract_name)
        self.initial_names = self.names()
        self.signals = 0  # SIGUSR2 sent to pytest by a host
        self._old_handler = signal.signal(signal.SIGUSR2, self._on_signal)
        self.environ_entries = _pytest_environ_entries()
        self.purelib = Path(sysconfig.get_paths()["purelib"]).resolve()
        self.pycache = Path(core.__file__).resolve().parent / "__pycache__"

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signals += 1

    def names(self) -> set[str]:
        return {str(p.relative_to(self.tmp)) for p in self.tmp.rglob("*")}

    def secrets(self) -> list[str]:
        return [self.token, self.env_secret, self.proc_secret, *self.environ_entries]

    def data(self) -> dict[str, Any]:
        """What a technique is told (as if the attacker had guessed it): paths, ports, pids; never a secret."""
        return {
            "tmp": str(self.tmp),
            "canary": str(self.canary),
            "canary_csv": str(self.canary_csv),
            "canary_parquet": str(self.canary_parquet),
            "canary_bin": str(self.canary_bin),
            "home": str(self.home),
            "data_dir": str(self.data_dir),
            "victim": str(self.victim),
            "marker": self.marker,
            "out": str(self.tmp / f"out-{self.marker}"),
            "tmp_out": f"/tmp/stratforge-escape-{self.marker}",
            "purelib": str(self.purelib),
            "core_dir": str(self.pycache.parent),  # its __pycache__: the validator refuses text with "__" in it
            "canary_pid": self.canary_proc.pid,
            "pytest_pid": os.getpid(),
            "tcp_port": self.tcp.sock.getsockname()[1],
            "udp_port": self.udp.sock.getsockname()[1],
            "unix_path": str(self.tmp / "unix.sock"),
            "abstract_name": self.abstract_name,
        }

    def canary_alive(self) -> bool:
        if self.canary_proc.poll() is not None:
            return False
        state = Path(f"/proc/{self.canary_proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("t", "T", "Z", "X")

    def traces(self) -> list[str]:
        """Every side effect found, in words (empty: none)."""
        found = []
        new = self.names() - self.initial_names
        if new:
            found.append(f"files appeared in the world folder: {sorted(new)}")
        if self.canary.read_text() != f"the secret is {self.token}\n" or self.canary.stat().st_mtime_ns != (
            self.canary_mtime
        ):
            found.append("the canary file changed")
        if self.canary.stat().st_mode & 0o777 != 0o600:
            found.append("the canary file's mode changed")
        if not self.victim.exists() or self.victim.read_text() != "victim":
            found.append("the victim file was changed or removed")
        for where in (Path("/tmp"), self.purelib, self.pycache, self.purelib.parent):
            hits = list(where.glob(f"*{self.marker}*")) if where.exists() else []
            if hits:
                found.append(f"files appeared in {where}: {hits}")
        if not self.canary_alive():
            found.append("the canary process was killed or stopped")
        for name in ("tcp", "udp", "unix", "abstract"):
            hits = getattr(self, name).hits
            if hits:
                found.append(f"the {name} listener saw {hits} connection(s)")
        if self.signals:
            found.append(f"pytest received {self.signals} SIGUSR2")
        return found

    def clean(self) -> None:
        """Undo a side effect (after a failure), so one escape does not fail the next technique too."""
        for name in self.names() - self.initial_names:
            with contextlib.suppress(OSError):
                path = self.tmp / name
                path.unlink() if not path.is_dir() or path.is_symlink() else path.rmdir()
        for where in (Path("/tmp"), self.purelib, self.pycache, self.purelib.parent):
            for hit in where.glob(f"*{self.marker}*") if where.exists() else []:
                with contextlib.suppress(OSError):
                    hit.unlink()
        for name in ("tcp", "udp", "unix", "abstract"):
            getattr(self, name).hits = 0
        self.signals = 0

    def close(self) -> None:
        signal.signal(signal.SIGUSR2, self._old_handler)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.canary_proc.pid, signal.SIGKILL)
        self.canary_proc.wait(timeout=5)
        for listener in (self.tcp, self.udp, self.unix, self.abstract):
            listener.close()
        self.clean()
