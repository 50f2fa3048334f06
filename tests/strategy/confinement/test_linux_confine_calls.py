"""confine_current_process's own contract on Linux: it reports what the probe promised, refuses a
multi-threaded process it could not confine whole, and fails loudly when called twice."""

from __future__ import annotations

import sys

import pytest

from tests.strategy.confinement._harness import read_roots
from tests.strategy.confinement._small import run_small

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux confinement (Landlock, seccomp)")


def test_the_child_gets_what_the_probe_promised() -> None:
    result = run_small(
        """
        import json
        from core.strategy.sandbox.confinement import confine_current_process, probe_confinement
        probe = probe_confinement()
        report = confine_current_process(json.loads(sys.argv[1]))
        print(json.dumps({"probe": probe.summary(), "report": report.summary(), "level": report.level.value}))
        """,
        __import__("json").dumps(read_roots()),
    )
    assert result["rc"] == 0, result
    assert result["report"] == result["probe"]
    assert "\n" not in result["report"]


def test_a_process_with_other_threads_is_refused_below_landlock_abi_8() -> None:
    result = run_small(
        """
        import json, threading, time
        from core.strategy.sandbox.confinement import ConfinementError, confine_current_process
        from core.strategy.sandbox.confinement.linux_landlock import landlock_abi
        threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
        try:
            confine_current_process([sys.prefix])
            outcome = "confined"
        except ConfinementError as exc:
            outcome = "refused: " + str(exc)
        print(json.dumps({"abi": landlock_abi(), "outcome": outcome}))
        """
    )
    assert result["rc"] == 0, result
    if result["abi"] >= 8:  # TSYNC: every thread is confined
        assert result["outcome"] == "confined"
    else:
        assert result["outcome"].startswith("refused: 2 threads are running"), result


def test_a_second_call_fails_loudly() -> None:
    result = run_small(
        """
        import json
        from core.strategy.sandbox.confinement import ConfinementError, confine_current_process
        confine_current_process([sys.prefix])
        try:
            confine_current_process([sys.prefix])
            outcome = "no error"
        except ConfinementError as exc:
            outcome = "ConfinementError: " + str(exc)
        print(json.dumps({"outcome": outcome}))
        """
    )
    assert result["rc"] == 0, result
    assert result["outcome"].startswith("ConfinementError"), result


def test_a_root_exposing_proc_is_refused_before_anything_is_applied() -> None:
    result = run_small(
        """
        import json
        from core.strategy.sandbox.confinement import ConfinementError, confine_current_process
        try:
            confine_current_process(["/"])
            outcome = "confined"
        except ConfinementError as exc:
            outcome = str(exc)
        # nothing was applied: /proc is still readable, a file can still be opened for writing
        with open("/proc/self/status") as status:
            seccomp = [line.split()[1] for line in status if line.startswith("Seccomp:")][0]
        print(json.dumps({"outcome": outcome, "seccomp": seccomp}))
        """
    )
    assert result["rc"] == 0, result
    assert result["outcome"] == "read root '/' would expose /proc, which confinement closes"
    assert result["seccomp"] == "0"
