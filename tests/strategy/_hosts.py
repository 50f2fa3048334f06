"""Finding strategy host processes from outside, through /proc (Linux): the template, the hosts it forked, fresh
``_host.py`` hosts, and anything a host might have left behind (a process in its session)."""

from __future__ import annotations

import os
from pathlib import Path

from core.strategy.sandbox.host import PRELOAD, TRUSTED_DRIVERS
from core.strategy.sandbox.launcher import TemplateLauncher, default_launcher


def stat_of(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, session id, state) of ``pid``, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[3]), fields[0]


def cmdline_of(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def runs_file(pid: int, name: bytes) -> bool:
    """Whether one of ``pid``'s arguments is a file called ``name`` (not merely contains it: pytest's own command
    line may name ``tests/strategy/test_host.py``)."""
    return any(os.path.basename(arg) == name for arg in cmdline_of(pid).split(b"\0"))


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def template_pid() -> int | None:
    """The warm template's pid (the default launcher's), if it is running."""
    launcher = default_launcher(PRELOAD, tuple(sorted(TRUSTED_DRIVERS)), [])
    if not isinstance(launcher, TemplateLauncher):
        return None
    proc = launcher._proc  # the test looks at the template process from outside
    return proc.pid if proc is not None and proc.poll() is None else None


def host_pids() -> list[int]:
    """Every live or unreaped host: children of the template, and fresh ``_host.py`` processes."""
    template = template_pid()
    found = []
    for pid in all_pids():
        stat = stat_of(pid)
        if stat is None:
            continue
        if (template is not None and stat[0] == template) or runs_file(pid, b"_host.py"):
            found.append(pid)
    return found


def in_session(sid: int) -> list[int]:
    """Processes whose session id is ``sid`` (a host is its own session leader: anything it started is here)."""
    return [pid for pid in all_pids() if (stat := stat_of(pid)) is not None and stat[1] == sid]


def orphans(before: set[int]) -> list[int]:
    """New processes adopted by init (or a subreaper) that run our code: a host's grandchild that got away."""
    found = []
    for pid in set(all_pids()) - before:
        stat = stat_of(pid)
        ours = runs_file(pid, b"_template.py") or runs_file(pid, b"_host.py")
        if stat is not None and stat[0] in (0, 1) and ours:
            found.append(pid)
    return found


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
