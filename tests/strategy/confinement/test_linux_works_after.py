"""A confined strategy process can still do its job: each check in :mod:`._works` succeeds, with the value
expected, in a worker confined like the attackers."""

from __future__ import annotations

import pytest

from tests.strategy.confinement._works import EXPECTED, WORKS
from tests.strategy.confinement.conftest import AttackRuns, skip_unless_full

pytestmark = pytest.mark.skipif(**skip_unless_full())


@pytest.mark.parametrize("name", [name for name, _, _ in WORKS])
def test_still_works_after_confinement(attack_runs: AttackRuns, name: str) -> None:
    run = attack_runs.confined["works"]
    confined = run.records.get("__confined__")
    assert confined is not None and confined["detail"] == "full", f"the worker was not confined:\n{run.describe()}"
    record = run.records.get(name)
    assert record is not None, f"the worker did not report {name}:\n{run.describe()}"
    assert record["outcome"] == "succeeded", f"{name} failed under confinement: {record}"
    assert record["detail"] == EXPECTED[name], f"{name} returned {record['detail']}, expected {EXPECTED[name]}"


def test_the_kept_pipe_carried_the_write(attack_runs: AttackRuns) -> None:
    assert attack_runs.pipe_output == b"written-after-confinement"
