"""Small child processes without numpy: the confinement package (loaded with stub parent packages, as in
:mod:`._harness`) and a script, with a timeout."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

from tests.strategy.confinement._harness import CHILD_ENV, REPO

BOOT = textwrap.dedent(
    f"""
    import sys, types
    for _name, _path in {
        [
            (n, str(REPO / p))
            for n, p in (
                ("core", "core"),
                ("core.strategy", "core/strategy"),
                ("core.strategy.sandbox", "core/strategy/sandbox"),
            )
        ]!r
    }:
        _module = types.ModuleType(_name)
        _module.__path__ = [_path]
        sys.modules[_name] = _module
    """
)


def run_small(script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 30) -> dict[str, Any]:
    """Run BOOT + ``script`` (which prints one JSON object last); return that object plus ``rc``/``stderr``."""
    done = subprocess.run(
        [sys.executable, "-I", "-c", BOOT + textwrap.dedent(script), *args],
        env={**CHILD_ENV, **(env or {})},
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        result = {"unparsed": done.stdout.decode(errors="replace")}
    result["rc"] = done.returncode
    result["stderr"] = done.stderr.decode(errors="replace")[-2000:]
    return result
