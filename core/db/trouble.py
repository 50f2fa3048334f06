"""One trader-readable line for any error a view or a command might show.

Driver errors (``psycopg``'s and SQLAlchemy's) carry socket paths, SQL and server internals: useful in the
log, useless and alarming in a status bar. Our own errors (``LedgerError``, ``DatabaseError``, ...) already
say what happened and what to do, so their text is shown as it is. Everything else gets its type name and
first line, so a view never shows a multi-line dump. Callers log the full exception themselves.
"""

from __future__ import annotations

import psycopg
from sqlalchemy import exc as sa_exc

CONNECTION_LOST = "The database connection was lost; StratForge is reconnecting. Try again in a moment."
DATABASE_FAILED = "The database refused the request (the details are in the log)."
MAX_LINE = 300


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` (or what it wraps) means the server could not be reached or the connection broke."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    for err in _chain(exc):
        if isinstance(err, (psycopg.OperationalError, psycopg.InterfaceError)):
            return True
        if isinstance(err, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError)):
            return True
    return False


def trader_message(exc: BaseException) -> str:
    """The one line to show for ``exc``: never a traceback, a socket path or SQL.

    Our own errors are shown in their own words even when raised from a driver error (the ledger turns a
    PL/pgSQL refusal into a LedgerError with the rule's message), unless the connection broke or their text
    carries a driver's dump (an error built with ``f"...: {exc}"`` around a psycopg error)."""
    if is_connection_error(exc):
        return CONNECTION_LOST
    text = _first_line(str(exc))
    if looks_like_a_driver_error(str(exc)):
        return DATABASE_FAILED
    if _is_ours(exc) and text:
        return text
    if any(isinstance(err, (psycopg.Error, sa_exc.SQLAlchemyError)) for err in _chain(exc)):
        return DATABASE_FAILED
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# What only a driver's own text contains: a socket path, libpq's wording, SQLAlchemy's SQL echo and link.
_DRIVER_MARKERS = (
    ".s.PGSQL.",
    "connection to server",
    "Is the server running",
    "server closed the connection",
    "connection is bad",
    "psycopg",
    "sqlalchemy",
    "[SQL:",
    "Background on this error",
)


def connection_failure_reason(exc: BaseException) -> str:
    """Why a connection attempt failed, in libpq's last words ("Connection refused", "timeout expired",
    "password authentication failed for user \"alice\""), without the socket or host preamble."""
    line = _first_line(str(exc))
    reason = line.rsplit("failed: ", 1)[-1].strip() if "failed: " in line else line
    if not reason or looks_like_a_driver_error(reason):
        return "the server did not answer"
    return reason


def looks_like_a_driver_error(text: str) -> bool:
    """True when ``text`` carries a database driver's raw message (never shown to a trader)."""
    lowered = text.lower()
    return any(marker.lower() in lowered for marker in _DRIVER_MARKERS)


def _is_ours(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(("core.", "app."))


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the errors it was raised from or during (``raise ... from None`` ends it), without looping."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen) and len(seen) < 16:
        seen.append(current)
        if current.__cause__ is not None:
            current = current.__cause__
        elif current.__suppress_context__:
            break
        else:
            current = current.__context__
    return seen


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"
