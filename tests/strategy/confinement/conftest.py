"""One batch of confined processes for the whole folder, run before the first test looks at a result.

Two templates run at once: one forks a confined worker per category of techniques (each technique the
kernel answers by killing the process gets a worker of its own) plus the worker of the checks that must keep
working; the other forks unconfined control workers over a separate world.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.strategy.confinement._harness import Source, WorkerRun, finish_template, read_roots, start_template
from tests.strategy.confinement._techniques import TECHNIQUES, Technique
from tests.strategy.confinement._works import WORKS
from tests.strategy.confinement._world import World


def skip_unless_full() -> dict[str, object]:
    """skipif arguments: the attack tests need every mechanism; on a platform or kernel lacking one they
    are skipped, naming what is missing (on the development machine and CI nothing is)."""
    if sys.platform != "linux":
        return {"condition": True, "reason": "the attack tests exercise Linux confinement"}
    from core.strategy.sandbox.confinement import ConfinementLevel, probe_confinement

    report = probe_confinement()
    return {"condition": report.level is not ConfinementLevel.FULL, "reason": "; ".join(report.missing)}


@dataclass
class AttackRuns:
    confined_world: World
    control_world: World
    confined: dict[str, WorkerRun]  # by category; "works" holds the checks that must succeed
    control: dict[str, WorkerRun]
    pipe_output: bytes  # what the "works" worker wrote to the pipe it kept


def _groups(world: World, techniques: Sequence[Technique]) -> dict[str, list[Source]]:
    groups: dict[str, list[Source]] = defaultdict(list)
    for technique in techniques:
        if technique.canary:
            world.canary_process(technique.name)
        groups[technique.category].append((technique.name, technique.body, technique.after))
    return groups


@pytest.fixture(scope="session")
def attack_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackRuns]:
    roots = read_roots()
    root_dir = str(Path(sysconfig.get_paths()["purelib"]).resolve())
    confined_world = World(tmp_path_factory.mktemp("confined"), root_dir, roots)
    control_world = World(tmp_path_factory.mktemp("control"), root_dir, roots)
    pipe_read, pipe_write = os.pipe()
    try:
        confined_groups = _groups(confined_world, TECHNIQUES)
        confined_groups["works"] = list(WORKS)
        confined_env = confined_world.data() | {"pipe_fd": pipe_write, "unkept_fd": confined_world.inherited_fd}
        confined = start_template(
            confined_groups,
            confined_env,
            confine=True,
            secret=confined_world.secret,
            pass_fds=[confined_world.inherited_fd, pipe_write],
            keep_fds={"works": [pipe_write]},
        )
        os.close(pipe_write)
        control = start_template(
            _groups(control_world, [t for t in TECHNIQUES if t.control]),
            control_world.data(),
            confine=False,
            secret=control_world.secret,
            pass_fds=[control_world.inherited_fd],
        )
        confined_runs, control_runs = finish_template(confined), finish_template(control)
        with os.fdopen(pipe_read, "rb") as reader:
            pipe_output = reader.read()
        yield AttackRuns(confined_world, control_world, confined_runs, control_runs, pipe_output)
    finally:
        confined_world.close()
        control_world.close()
