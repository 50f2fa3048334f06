"""Confinement reports for tests, and a stand-in for this computer's probe.

The real probe answers for the machine the tests run on (often PARTIAL in a container), so every test that
generates strategies says which level it means: ``tests/ai`` and the AI tab's tests default to FULL (the smoke
test runs at once, as before) and the confirmation tests ask for PARTIAL or NONE.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import core.ai.generator
import core.ai.vetting
from core.strategy.sandbox.confinement import ConfinementLevel, ConfinementReport

NO_LANDLOCK = "the kernel has no Landlock: file reads are not confined"
NO_SECCOMP = "no seccomp filter: the network is not closed"


def report(level: ConfinementLevel) -> ConfinementReport:
    """A report at ``level``: FULL lacks nothing, PARTIAL lacks Landlock, NONE lacks Landlock and seccomp."""
    missing = {
        ConfinementLevel.FULL: (),
        ConfinementLevel.PARTIAL: (NO_LANDLOCK,),
        ConfinementLevel.NONE: (NO_LANDLOCK, NO_SECCOMP),
    }[level]
    mechanisms = {
        ConfinementLevel.FULL: ("rlimits", "landlock", "seccomp"),
        ConfinementLevel.PARTIAL: ("rlimits", "seccomp"),
        ConfinementLevel.NONE: (),
    }[level]
    return ConfinementReport(level=level, mechanisms=mechanisms, missing=missing)


def confine(monkeypatch: pytest.MonkeyPatch, level: ConfinementLevel) -> ConfinementReport:
    """Make the generators' default probe answer ``level`` (for generators built without ``confinement=``)."""
    made = report(level)
    monkeypatch.setattr(core.ai.generator, "probe_confinement", lambda: made)
    return made


def record_smoke_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The code of every smoke backtest started from now on, on whatever thread (the real one still runs)."""
    started: list[str] = []
    real: Callable[..., Any] = core.ai.vetting.smoke_test

    def recording(code: str, *args: Any, **kwargs: Any) -> Any:
        started.append(code)
        return real(code, *args, **kwargs)

    monkeypatch.setattr(core.ai.vetting, "smoke_test", recording)
    return started
