"""Attacks at the operating-system level against a confined strategy process, with every Python layer
absent: each technique must be refused by the kernel (or the process killed), and leave no trace: no file
created or changed, no canary process signalled, no connection reaching a listener, no secret read.

Each technique also runs unconfined (where that is safe) and must succeed there: the attack is real, and
only the confinement stops it.
"""

from __future__ import annotations

import pytest

from tests.strategy.confinement._harness import SIGSYS
from tests.strategy.confinement._techniques import BY_NAME, TECHNIQUES
from tests.strategy.confinement.conftest import AttackRuns, skip_unless_full

pytestmark = pytest.mark.skipif(**skip_unless_full())


@pytest.mark.parametrize("name", [t.name for t in TECHNIQUES])
def test_attack_is_refused_and_leaves_no_trace(attack_runs: AttackRuns, name: str) -> None:
    technique = BY_NAME[name]
    run = attack_runs.confined[technique.category]
    confined = run.records.get("__confined__")
    assert confined is not None and confined["detail"] == "full", f"the child was not confined:\n{run.describe()}"
    record: dict[str, object] = {}
    if technique.kills:
        assert name in run.attempted, f"the child never reached {name}:\n{run.describe()}"
        assert run.rc == -SIGSYS, f"{name} should kill the process with SIGSYS:\n{run.describe()}"
        assert name not in run.records, f"{name} returned instead of being killed: {run.records.get(name)}"
    else:
        found = run.records.get(name)
        assert found is not None, f"the child did not report {name}:\n{run.describe()}"
        record = found
        assert record["outcome"] == "blocked", f"{name} was not refused: {record}"
        assert record["errno"] in technique.errnos, f"{name} refused with an unexpected errno: {record}"
    if technique.check is not None:
        trace = technique.check(attack_runs.confined_world, record)
        assert trace is None, f"{name} left a trace: {trace}"


@pytest.mark.parametrize("name", [t.name for t in TECHNIQUES if t.control])
def test_attack_works_when_not_confined(attack_runs: AttackRuns, name: str) -> None:
    """The same code, unconfined, does what it tries to do (so the refusal above is the confinement's)."""
    technique = BY_NAME[name]
    run = attack_runs.control[technique.category]
    record = run.records.get(name)
    assert record is not None, f"the control child did not report {name}:\n{run.describe()}"
    assert record["outcome"] == "succeeded", f"{name} failed even unconfined: {record}"
    if technique.check is not None:
        assert technique.check(attack_runs.control_world, record) is not None, f"{name} left no trace unconfined"
