"""`stratforge` console script and `python -m app`.

Deliberately written so that any Python 3 can import it and run the version check: PySide6 6.12 on
Python 3.11 aborts the process after a few thousand repaints (PYSIDE-3474, see QT_NOTES.md), so on
an older Python we refuse with one clear line instead of crashing later. Nothing of ours or of Qt is
imported before the check, and this file avoids newer syntax (no __future__ annotations, f-strings,
or unquoted modern annotations) so that even Python 3.6 gets as far as the message.
"""

import sys

MIN_PYTHON = (3, 12)


def python_too_old_message(version_info: "tuple[int, ...] | None" = None) -> "str | None":
    """The refusal line for `version_info` (default: this interpreter), or None when it is new enough."""
    info = sys.version_info if version_info is None else version_info
    if tuple(info[:2]) >= MIN_PYTHON:
        return None
    found = ".".join(str(part) for part in info[:3])
    wanted = ".".join(str(part) for part in MIN_PYTHON)
    return (
        "StratForge needs Python "
        + wanted
        + " or newer (found "
        + found
        + "): "
        + ("PySide6 6.12 crashes on older Pythons.")
    )


def main(argv: "list[str] | None" = None) -> int:
    """Run StratForge; returns the exit code (2: Python too old or a wrong command line, 1: failed, 0: done).

    core/cli/main.py reads the command line: a command runs without Qt; only a bare ``stratforge`` (global and Qt
    options allowed) reaches :func:`_run_app`, the one path that imports PySide6.
    """
    message = python_too_old_message()
    if message is not None:
        sys.stderr.write(message + "\n")
        return 2
    from core.cli.main import main as cli_main  # no Qt: `stratforge --help` and every command stay light

    args = sys.argv[1:] if argv is None else list(argv)
    return cli_main(args, run_app=_run_app, app_commands={"screenshots": _screenshots, "self-test": _self_test})


def _run_app(args: "list[str]") -> int:
    from app import early_database

    early_database.begin(args)  # the embedded PostgreSQL starts while the modules below import
    try:
        from app.application import run  # only now: it imports PySide6
        from app.crash_handler import run_guarded

        return run_guarded(run, args)
    finally:
        early_database.discard()


def _screenshots(args: "list[str]") -> int:
    """Every panel to PNG files, offscreen (no display needed)."""
    from app.screenshots import main as screenshots

    return screenshots(args)


def _self_test(args: "list[str]") -> int:
    """The packaging smoke: embedded db, sign-up, window, clean exit (offscreen)."""
    from app.self_test import main as self_test

    return self_test(args)


if __name__ == "__main__":
    sys.exit(main())
