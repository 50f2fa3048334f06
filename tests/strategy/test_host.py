"""A strategy host's life (core.strategy.sandbox.host.StrategyHost): warm across calls, usable after a strategy
exception, ended by an overrun or a bad reply, noticed dead when killed from outside, and gone when the
application closes its request pipe."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator

import pytest

from core.strategy.sandbox import (
    SandboxError,
    SandboxLayers,
    StrategyCrashed,
    StrategyHost,
    StrategyOutOfMemory,
    StrategyTimedOut,
)
from core.strategy.sandbox.host import PRELOAD, TRUSTED_DRIVERS
from core.strategy.sandbox.launcher import TemplateLauncher
from tests.strategy import _hosts

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="watches host processes through Linux's /proc"),
    pytest.mark.timeout(60),
]
OS_ONLY = SandboxLayers(validator=False, python_guards=False)  # the strategy may use os (confinement still holds)

# The reply pipe's number is not announced to the strategy: an attacker tries the likely ones.
FORGE = """
import json, os, struct


def to_reply_fd(data):
    for fd in range(3, 11):
        try:
            os.write(fd, data)
        except OSError:
            pass
"""

COUNTER = """
calls = []


def run(fail=False):
    calls.append(1)
    if fail:
        raise ValueError("asked to fail")
    return len(calls)
"""


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        stat = _hosts.stat_of(pid)
        if stat is None or stat[2] in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def host() -> Iterator[StrategyHost]:
    made = StrategyHost(COUNTER, "run")
    yield made
    made.close()


def test_a_host_stays_warm_and_keeps_module_state_unless_fresh(host: StrategyHost) -> None:
    pid = host.pid
    assert host.call(None).value == 1
    assert host.call(None).value == 2  # the module's list kept its first entry
    assert host.pid == pid and host.alive
    assert host.call(None, fresh=True).value == 1  # the source executed again: a new list
    assert host.pid == pid


def test_a_strategy_exception_leaves_the_host_usable(host: StrategyHost) -> None:
    with pytest.raises(StrategyCrashed, match="ValueError: asked to fail") as caught:
        host.call(None, (True,))
    assert caught.value.line == 8
    assert host.alive
    assert host.call(None).value == 2  # same process, same module state


@pytest.mark.parametrize(
    ("source", "budget", "error"),
    [
        ("def run():\n    while True:\n        pass\n", (1, 20), StrategyTimedOut),
        ("def run():\n    while True:\n        pass\n", (30, 1.5), StrategyTimedOut),
        (
            "def run():\n    hoard = []\n    while True:\n        hoard += [bytearray(10**6)]\n",
            (5, 15),
            StrategyOutOfMemory,
        ),
    ],
    ids=["cpu", "wall", "memory"],
)
def test_an_overrun_ends_the_host(source: str, budget: tuple[float, float], error: type[Exception]) -> None:
    with StrategyHost(source, "run", memory_mb=256) as host:
        pid = host.pid
        with pytest.raises(error):
            host.call(None, cpu_seconds=budget[0], wall_seconds=budget[1])
        assert not host.alive
        assert _gone(pid), "the host outlived its overrun"
        with pytest.raises(SandboxError, match="has stopped"):
            host.call(None)


def test_a_forged_reply_is_a_crash_naming_the_problem_and_closes_the_host() -> None:
    source = FORGE + "\ndef run():\n    to_reply_fd(b'SFWF' + (1 << 62).to_bytes(8, 'little'))\n    return 1\n"
    with StrategyHost(source, "run", layers=OS_ONLY) as host:
        pid = host.pid
        with pytest.raises(StrategyCrashed, match=r"reply the application refuses .*declares .* bytes"):
            host.call(None)
        assert not host.alive
        assert _gone(pid)
        with pytest.raises(SandboxError):
            host.call(None)


def test_a_second_host_starts_from_the_warm_template() -> None:
    launcher = TemplateLauncher([p or os.getcwd() for p in sys.path], list(PRELOAD), sorted(TRUSTED_DRIVERS))
    try:
        first = StrategyHost(COUNTER, "run", launcher=launcher)  # starts the template: imports numpy, pandas, ...
        second = StrategyHost(COUNTER, "run", launcher=launcher)  # a fork of it
        print(f"host start: first {first.start_seconds * 1000:.0f} ms, second {second.start_seconds * 1000:.0f} ms")
        assert first.call(None).value == second.call(None).value == 1
        assert first.pid != second.pid
        first.close()
        second.close()
    finally:
        launcher.close()


def test_hosts_that_die_leave_no_descriptor_open_in_the_application() -> None:
    StrategyHost("def g():\n    return 1\n", "g").close()  # the template is up before counting
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        dying = StrategyHost("import os\n\ndef run():\n    os._exit(3)\n", "run", layers=OS_ONLY)
        with pytest.raises(StrategyCrashed, match="stopped unexpectedly"):
            dying.call(None)
        assert not dying.alive
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_host_killed_from_outside_is_noticed_at_the_next_call(host: StrategyHost) -> None:
    assert host.call(None).value == 1
    os.kill(host.pid, signal.SIGKILL)
    assert _gone(host.pid)
    started = time.monotonic()
    with pytest.raises(StrategyCrashed, match="stopped unexpectedly"):
        host.call(None, cpu_seconds=30, wall_seconds=60)
    assert time.monotonic() - started < 10  # noticed from the pipes, not after the 60 s wall budget
    assert not host.alive


def test_closing_the_request_pipe_makes_the_host_leave(host: StrategyHost) -> None:
    assert host.call(None).value == 1
    pid = host.pid
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, host._proc.request_fd)  # closes our end of the pipe; the number stays ours for close()
    finally:
        os.close(devnull)
    assert _gone(pid), "the host kept running after its request pipe closed"


def test_a_host_that_forges_its_reply_cannot_keep_computing_unbudgeted() -> None:
    source = FORGE + (
        "\ndef run():\n"
        "    import faulthandler, signal\n"
        "    signal.setitimer(signal.ITIMER_PROF, 0)  # the host's own CPU timer and wall watchdog, off\n"
        "    signal.signal(signal.SIGPROF, signal.SIG_IGN)\n"
        "    faulthandler.cancel_dump_traceback_later()\n"
        "    signal.setitimer(signal.ITIMER_REAL, 0)\n"
        "    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "    doc = json.dumps({'kind': 'ok', 'value': 'forged', 'output': '', 'cpu_seconds': 0.0}).encode()\n"
        "    body = struct.pack('<4sHHII', b'SFW1', 1, 0, len(doc), 0) + doc\n"
        "    to_reply_fd(b'SFWF' + struct.pack('<Q', len(body)) + body)\n"
        "    while True:\n"
        "        pass\n"
    )
    with StrategyHost(source, "run", layers=OS_ONLY) as host:
        host.call(None, cpu_seconds=1, wall_seconds=5)  # returns the forged value
        pid = host.pid
        before = _cpu_of(pid)
        time.sleep(2.5)  # longer than the call's CPU budget plus the parent's grace (its wall budget is 5 s)
        used = _cpu_of(pid) - before
        assert _gone(pid, within=0.1) or used < 0.5, f"the host computed {used:.1f} s after its 'reply'"
        with pytest.raises(SandboxError, match="kept computing after it had answered"):
            host.call(None, cpu_seconds=1, wall_seconds=5)


def _cpu_of(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
