"""One error line per failed command, never a traceback (unless ``--debug`` asks for it).

Every StratForge command line (``stratforge <command>`` and the old ``stratforge-market``, ``stratforge-admin``,
``stratforge-db``, ``stratforge-club`` names) runs its body through :func:`run_command`. The tools still handle
the errors they expect themselves, with their documented exit codes and messages; this wrapper is the net below
them: anything that escapes becomes ``<prog>: error: <one line>`` (exit 1), and Ctrl-C one line (exit 130). A
trader who wants the details adds ``--debug`` anywhere on the line, before or after the command: the wrapper
takes it out of the arguments (no tool has to declare it) and prints the traceback above the line.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TextIO

from sqlalchemy import exc as sa_exc

from core.config import DATABASE_URL_ENV
from core.db.trouble import DATABASE_FAILED, is_connection_error, trader_message

DEBUG_FLAG = "--debug"
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130  # the shell's convention for "ended by SIGINT" (128 + 2)
DEBUG_HINT = "run with --debug for the details"
CANNOT_REACH = f"cannot reach the database: check the URL given (or ${DATABASE_URL_ENV}) and that the server is running"
NOT_A_URL = "not a database URL: it should look like postgresql://USER:PASSWORD@HOST:PORT/DATABASE"

Command = Callable[[list[str]], int]


def take_debug(argv: Sequence[str]) -> tuple[bool, list[str]]:
    """Whether ``--debug`` was given, and the arguments without it. Words after ``--`` are left alone: they
    belong to the command (a prompt, a file name), not to us."""
    args = list(argv)
    cut = args.index("--") if "--" in args else len(args)
    head = [a for a in args[:cut] if a != DEBUG_FLAG]
    return len(head) != cut, head + args[cut:]


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s text (a driver's message says what the server refused: "password authentication
    failed for user ..."), or its type's name when it has none. For the admin's tools, whose reader runs the
    server; a trader's command shows :func:`command_error`."""
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


def one_line(exc: BaseException) -> str:
    """All of ``exc``'s text on one line: our errors sometimes add the driver's hint on a second line ("Is the server
    running on that host ...?"), which is worth keeping, but a command's error is one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def command_error(exc: BaseException) -> str:
    """The one line for an error a command did not expect. A connection failure on the command line is a wrong URL
    or a stopped server far more often than a dropped connection, so it names the option to check rather than
    the app's "reconnecting" text; a command has no log to point to; everything else is :func:`trader_message`'s
    line."""
    if isinstance(exc, sa_exc.ArgumentError) and "URL" in str(exc):
        return NOT_A_URL
    if is_connection_error(exc):
        return CANNOT_REACH
    message = trader_message(exc)
    return "the database refused the request" if message == DATABASE_FAILED else message


def run_command(
    fn: Command,
    argv: Sequence[str] | None,
    prog: str,
    *,
    debug: bool = False,
    failed: int = EXIT_FAILED,
    stderr: TextIO | None = None,
) -> int:
    """Run ``fn(argv)`` (``argv`` without the program name; default: ``sys.argv[1:]``) and turn whatever escapes it
    into one line on stderr and the exit status ``failed`` (a tool whose documented "could not run" status is not
    1 passes its own). ``debug`` (or ``--debug`` in ``argv``) prints the traceback first."""
    err = stderr or sys.stderr
    flagged, args = take_debug(sys.argv[1:] if argv is None else argv)
    debug = debug or flagged
    try:
        return fn(args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=err)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the net: every unexpected error is one line, the traceback only on request
        if debug:
            traceback.print_exception(exc, file=err)
            print(f"{prog}: error: {command_error(exc)}", file=err)
        else:
            print(f"{prog}: error: {command_error(exc)} ({DEBUG_HINT})", file=err)
        return failed
