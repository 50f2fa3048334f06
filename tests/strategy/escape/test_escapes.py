"""Escape attempts against a strategy host, judged from outside.

Every technique runs twice: with every layer on, and with the Python layers switched off (no validator, no
restricted built-ins, no import rules, no audit hook) so that the operating system's confinement stands alone.
Either the call raises a ``StrategyError`` or it returns a value; in both cases no secret may appear in what
came back (value, printed output, error text) and the world must show no trace: no file created or changed,
the canary process alive, no listener reached, no signal received, no process left behind by the host, and
the application's memory not swollen by a flood.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from core.strategy.api import BarData, StrategyError
from core.strategy.sandbox import SandboxLayers, StrategyHost, StrategyRejected
from core.strategy.sandbox.launcher import FreshLauncher
from tests.strategy import _hosts
from tests.strategy.escape._techniques import TECHNIQUES, Technique
from tests.strategy.escape._world import World

ALL_ON = SandboxLayers()
OS_ONLY = SandboxLayers(validator=False, python_guards=False)
MODES = {"all_layers": ALL_ON, "os_only": OS_ONLY}
RSS_SLACK = 100 * 1024 * 1024


def _os_mode_possible() -> str | None:
    """Why the OS-only mode cannot run here (None: it can)."""
    if sys.platform != "linux":
        return "the OS-only mode exercises Linux confinement (Landlock and seccomp); this is " + sys.platform
    from core.strategy.sandbox.confinement import ConfinementLevel, probe_confinement

    report = probe_confinement()
    if report.level is not ConfinementLevel.FULL:
        return "this kernel's confinement is not full: " + "; ".join(report.missing)
    return None


def _bars() -> BarData:
    n = 60
    close = 100 + np.cumsum(np.random.default_rng(1).normal(0, 1, n))
    return BarData.from_arrays("ESC", np.arange(n) * 60.0, close, close + 1, close - 1, close, np.full(n, 1e4))


def _texts(outcome: object) -> str:
    if isinstance(outcome, StrategyError):
        return f"{outcome!s} {outcome!r} {getattr(outcome, 'output', '')} {getattr(outcome, 'trace', '')}"
    value = getattr(outcome, "value", None)
    return f"{value!r} {getattr(outcome, 'output', '')}"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("technique", TECHNIQUES, ids=[t.name for t in TECHNIQUES])
def test_escape_is_stopped(world: World, technique: Technique, mode: str) -> None:
    layers = MODES[mode]
    if mode == "os_only" and (why := _os_mode_possible()):
        pytest.skip(why)
    before = set(_hosts.all_pids())
    template = _hosts.template_pid()
    rss = _hosts.rss_bytes()
    source = technique.source(world.data())
    args: tuple[object, ...] = (_bars(), {}, None) if technique.full else ()
    launcher = FreshLauncher() if technique.fresh else None
    host_pid: int | None = None
    outcome: object
    started = time.monotonic()
    try:
        host = StrategyHost(source, technique.entry, memory_mb=technique.memory_mb,
                            drivers=(technique.driver,) if technique.driver else (), layers=layers,
                            launcher=launcher)  # fmt: skip
    except StrategyError as exc:
        outcome = exc
    else:
        host_pid = host.pid
        try:
            outcome = host.call(technique.driver, args, cpu_seconds=technique.cpu, wall_seconds=technique.wall)
        except StrategyError as exc:
            outcome = exc
        finally:
            host.close()
    took = time.monotonic() - started
    grown = _hosts.rss_bytes() - rss
    print(f"{technique.name} [{mode}]: {type(outcome).__name__} in {took:.2f} s: {_texts(outcome)[:300]!r}")

    try:
        if mode == "os_only":
            assert not isinstance(outcome, StrategyRejected), "the validator is off: nothing may be rejected"
        if technique.stopped:
            allowed = (*technique.stopped, StrategyRejected) if mode == "all_layers" else technique.stopped
            assert isinstance(outcome, allowed), f"{technique.name} was not stopped as it must be: {outcome!r}"
        text = _texts(outcome)
        leaked = [s[:40] for s in world.secrets() if s in text]
        assert not leaked, f"{technique.name} got secrets out: {leaked}"
        assert world.traces() == []
        if host_pid is not None:
            assert _hosts.in_session(host_pid) == [], "the host left processes in its session"
        assert _hosts.orphans(before) == [], "a host's descendant outlived it"
        if template is not None:
            assert _hosts.template_pid() == template, "the template process was killed"
        assert grown < RSS_SLACK, f"the application's memory grew by {grown / 2**20:.0f} MB"
    finally:
        world.clean()
