"""``stratforge``: one command line that names everything it can do.

    stratforge [--data-dir PATH] [--database-url URL] [--debug]              the desktop app
    stratforge [--data-dir PATH] [--database-url URL] [--debug] COMMAND ...   a command (``COMMAND --help``)

Only a bare ``stratforge`` (global options and genuine Qt options such as ``-platform offscreen`` allowed) starts the
app. Anything else must be a command from :data:`COMMANDS`; an unknown word or option is refused with the valid
ones (exit 2) instead of starting a window the trader did not ask for, as it did when every unknown argument was
handed to Qt.

The global options given before a command reach it as the environment does (``STRATFORGE_DATA_DIR``,
``STRATFORGE_DATABASE_URL``), so every tool reads them the same way it reads a configured one; ``--debug`` is
handed on to :func:`core.cli.errors.run_command`, which prints a failing command's traceback.

This module imports no tool until one is chosen (``stratforge --help`` stays fast and Qt-free). The commands
implemented in the app (screenshots, the self-test) and the app itself are given to :func:`main` by app/entry.py,
since core may not import app.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from core.config import DATA_DIR_ENV, DATABASE_URL_ENV

PROG = "stratforge"
USAGE_ERROR = 2
SELF_TEST_FLAG = "--self-test"  # the packaging smoke test's spelling, kept beside `stratforge self-test`

Command = Callable[[list[str]], int]


@dataclass(frozen=True)
class Subcommand:
    """One line of ``stratforge --help``."""

    name: str
    summary: str


COMMANDS: tuple[Subcommand, ...] = (  # each summary fits one line of an 80-column terminal
    Subcommand("backtest", "run one backtest on stored bars, store its metrics"),
    Subcommand("batch", "run a strategy over lists of variables (resumable)"),
    Subcommand("probes", "run the probe catalog across symbols and days"),
    Subcommand("generate", "write, change or explain a strategy with Gemini"),
    Subcommand("market", "bars: import, export, fetch; regimes; retention"),
    Subcommand("admin", "members, sign-up requests, audit trail, reconcile"),
    Subcommand("db", "migrate a shared database; its roles and passwords"),
    Subcommand("club", "run the club's order router, headless"),
    Subcommand("brokerage", "link a brokerage through SnapTrade; sync its trades"),
    Subcommand("screenshots", "every panel with sample data to PNG files"),
    Subcommand("self-test", "start offscreen, sign up, show the window, exit"),
)
COMMAND_NAMES = tuple(c.name for c in COMMANDS)
APP_COMMANDS = ("screenshots", "self-test")  # implemented in app/: entry.py hands them in
# Started by the app itself, never by a person, so not in --help: a frozen build (no ``python -m``) runs the ICICI
# Breeze SDK's host process as ``<executable> icici-broker-host`` (core.adapters.icici.host_process).
INTERNAL_COMMANDS = ("icici-broker-host",)

GLOBAL_VALUE_OPTIONS = ("--data-dir", "--database-url")
GLOBAL_OPTIONS = (*GLOBAL_VALUE_OPTIONS, "--debug", "-h/--help")

# Qt's own command-line options (QGuiApplication, QApplication, the xcb platform), with how many values each takes.
# Only these reach Qt; anything else is our error, not a silent start of the app.
QT_OPTIONS: Mapping[str, int] = {
    "platform": 1, "platformpluginpath": 1, "platformtheme": 1, "plugin": 1, "qwindowgeometry": 1, "qwindowicon": 1,
    "qwindowtitle": 1, "session": 1, "style": 1, "stylesheet": 1, "display": 1, "geometry": 1, "name": 1,
    "title": 1, "visual": 1, "reverse": 0, "widgetcount": 0, "nograb": 0, "dograb": 0, "sync": 0,
    "qmljsdebugger": 0,
}  # fmt: skip

EXAMPLES = """\
examples:
  stratforge                                  start the desktop app
  stratforge --data-dir ~/sf-test             the app on another data folder
  stratforge market import bars.csv AAPL      store a file of bars
  stratforge backtest cross.py AAPL --start 2025-01-02 --end 2025-03-01
  stratforge admin users list --debug         an error shows its traceback

`stratforge COMMAND --help` describes a command, with examples.
market, admin, db and club are also installed as stratforge-market,
stratforge-admin, stratforge-db and stratforge-club; self-test runs as
--self-test too. Global options before a command apply to it as
STRATFORGE_DATA_DIR and STRATFORGE_DATABASE_URL do. Qt's own options
(-platform offscreen, -style fusion, ...) are passed to the app.
"""


class UsageError(Exception):
    """The command line names no command, option or Qt option we know; the text says what is valid."""


@dataclass
class Invocation:
    """What the command line asks for: a command and its own arguments, or (``command`` None) the app."""

    command: str | None
    args: list[str] = field(default_factory=list)
    data_dir: str | None = None
    database_url: str | None = None
    debug: bool = False
    help: bool = False


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: it parses nothing (:func:`parse_invocation` does), it writes the help and the errors."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="StratForge paper-trading workstation: the desktop app and its commands.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-dir", metavar="PATH", help="folder for the embedded database and local files")
    parser.add_argument(
        "--database-url", metavar="URL", help=f"PostgreSQL URL of a shared database (default: ${DATABASE_URL_ENV})"
    )
    parser.add_argument("--debug", action="store_true",
                        help="commands: print the traceback of an error; the app: report GUI-thread stalls over "
                             "100 ms")  # fmt: skip
    sub = parser.add_subparsers(
        title="commands",
        description="(none)              start the desktop app",
        metavar="COMMAND",
        dest="command",
    )
    for command in COMMANDS:
        sub.add_parser(command.name, help=command.summary, add_help=False)
    return parser


def parse_invocation(argv: Sequence[str]) -> Invocation:
    """Split the command line into the global options and a command with its arguments; :class:`UsageError` for
    a word that is neither."""
    args = list(argv)
    found = Invocation(command=None)
    qt_seen: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if arg in ("-h", "--help"):
            found.help = True
        elif arg == "--debug":
            found.debug = True
        elif name in GLOBAL_VALUE_OPTIONS:
            if not eq:
                if i + 1 >= len(args):
                    raise UsageError(f"{name} needs a value")
                i += 1
                value = args[i]
            if name == "--data-dir":
                found.data_dir = value
            else:
                found.database_url = value
        elif arg == SELF_TEST_FLAG:
            return _command(found, "self-test", args[i + 1 :], qt_seen)
        elif arg == "--":
            break  # what follows is Qt's
        elif arg.startswith("-") and len(arg) > 1:
            taken = qt_option_values(arg)
            if taken is None:
                hint = _did_you_mean(arg, (*GLOBAL_VALUE_OPTIONS, "--debug"))
                options = ", ".join(GLOBAL_OPTIONS)
                raise UsageError(f"unknown option {arg!r}{hint}; the options are {options}, the commands {_names()}")
            qt_seen.append(arg)
            i += taken
        else:
            if arg not in COMMAND_NAMES and arg not in INTERNAL_COMMANDS:
                raise UsageError(f"unknown command {arg!r}{_did_you_mean(arg, COMMAND_NAMES)}; "
                                 f"the commands are {_names()}")  # fmt: skip
            return _command(found, arg, args[i + 1 :], qt_seen)
        i += 1
    return found


def qt_option_values(arg: str) -> int | None:
    """How many following words Qt's option ``arg`` takes (``-style fusion``: 1, ``-style=fusion``: 0), or None
    when ``arg`` is not an option Qt knows. Qt accepts one or two dashes; macOS adds ``-psn_...`` to apps it
    launches."""
    if arg.startswith("-psn_"):
        return 0
    name, eq, _ = arg.lstrip("-").partition("=")
    if arg.startswith("---") or name not in QT_OPTIONS:
        return None
    return 0 if eq else QT_OPTIONS[name]


def qt_arguments(unknown: Sequence[str]) -> list[str]:
    """``unknown`` (what our parser left) if it is all Qt's; :class:`UsageError` otherwise. Everything after
    ``--`` is Qt's."""
    words = list(unknown)
    i = 0
    while i < len(words):
        if words[i] == "--":
            return words[:i] + words[i + 1 :]
        taken = qt_option_values(words[i])
        if taken is None:
            kind = "option" if words[i].startswith("-") else "command"
            raise UsageError(f"unknown {kind} {words[i]!r}; the commands are {_names()} (stratforge --help)")
        i += 1 + taken
    return words


def main(
    argv: Sequence[str] | None = None,
    *,
    run_app: Command,
    app_commands: Mapping[str, Command] | None = None,
) -> int:
    """Run the command the line names, or the app (``run_app`` gets the whole line). ``app_commands`` are the
    commands implemented in app/ (screenshots, self-test), each given its own arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        found = parse_invocation(args)
    except UsageError as exc:
        build_parser().error(str(exc))  # usage + the message, exit 2
    if found.help and found.command is None:
        build_parser().print_help()
        return 0
    from core.strategy.sandbox.confinement import harden_parent  # after parsing: `--help` needs none of it (0.4 s)

    harden_parent()  # before any command or the app runs: no same-user process may read this one's memory
    if found.command is None:
        return run_app(args)
    if found.data_dir is not None:  # the tools read these as they read a configured folder or database
        os.environ[DATA_DIR_ENV] = found.data_dir
    if found.database_url is not None:
        os.environ[DATABASE_URL_ENV] = found.database_url
    own = (["--debug"] if found.debug else []) + found.args
    return _dispatch(found.command, own, app_commands or {})


def _dispatch(name: str, args: list[str], app_commands: Mapping[str, Command]) -> int:
    """Import the chosen tool only now: each pulls in its own part of core (pandas, SQLAlchemy, alpaca-py)."""
    if name in ("backtest", "batch", "probes"):
        from core.cli import backtest

        return backtest.main([name, *args])
    if name == "generate":
        from core.cli import generate

        return generate.main(args)
    if name == "market":
        from core.cli import market

        return market.main(args, prog=f"{PROG} market")
    if name == "admin":
        from core.cli import admin

        return admin.main(args, prog=f"{PROG} admin")
    if name == "db":
        from core.cli import db

        return db.main(args, prog=f"{PROG} db")
    if name == "club":
        from core.cli import club

        return club.main(args, prog=f"{PROG} club")
    if name == "brokerage":
        from core.cli import brokerage

        return brokerage.main(args)
    if name == "icici-broker-host":
        from core.adapters.icici import host

        return host.main()
    from core.cli.errors import run_command

    command = app_commands.get(name)
    if command is None:  # a caller that runs without the app (a test, a server build)
        print(f"{PROG} {name}: not available here (it needs the desktop app's packages)", file=sys.stderr)
        return USAGE_ERROR
    return run_command(command, args, f"{PROG} {name}")


def _command(found: Invocation, name: str, rest: list[str], qt_seen: list[str]) -> Invocation:
    if qt_seen:
        raise UsageError(f"{qt_seen[0]} is one of Qt's options: it applies to the app, not to {name!r}")
    found.command, found.args = name, (["--help"] if found.help else []) + rest  # `stratforge --help market`
    return found


def _names() -> str:
    return ", ".join(COMMAND_NAMES)


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
