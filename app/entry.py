"""`stratforge` console script and `python -m app`.

Deliberately written so that any Python 3 can import it and run the version check: PySide6 6.12 on
Python 3.11 aborts the process after a few thousand repaints (PYSIDE-3474, see QT_NOTES.md), so on
an older Python we refuse with one clear line instead of crashing later. Nothing of ours or of Qt is
imported before the check, and this file avoids newer syntax (no __future__ annotations, f-strings,
or unquoted modern annotations) so that even Python 3.6 gets as far as the message.
"""

import sys

MIN_PYTHON = (3, 12)
HEADLESS_COMMANDS = ("backtest", "batch", "probes")  # `stratforge backtest ...`: the command line, no window


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
    """Run StratForge; returns the exit code (2: Python too old, 1: could not start, 0: normal exit)."""
    message = python_too_old_message()
    if message is not None:
        sys.stderr.write(message + "\n")
        return 2
    from core.strategy.sandbox.confinement import harden_parent

    harden_parent()  # no same-user process may read this one's memory or /proc files (keys, the database URL)
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] == "--self-test":  # packaging smoke: embedded db, sign-up, window, clean exit (offscreen)
        from app.self_test import main as self_test

        return self_test(args[1:])
    if args and args[0] == "screenshots":  # every panel to PNG files, offscreen (no display needed)
        from app.screenshots import main as screenshots

        return screenshots(args[1:])
    if args and args[0] == "generate":  # AI strategy generation (Gemini) on the command line; no Qt
        from core.cli.generate import main as generate

        return generate(args[1:])
    if args and args[0] in HEADLESS_COMMANDS:
        from core.cli.backtest import main as headless  # no Qt: these run on servers and in scripts

        return headless(args)
    from app.application import run  # only now: it imports PySide6
    from app.crash_handler import run_guarded

    return run_guarded(run, argv)


if __name__ == "__main__":
    sys.exit(main())
