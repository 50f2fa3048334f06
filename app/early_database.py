"""Start the embedded PostgreSQL while the app's own modules are still importing.

A start of the app spends most of its first second importing (Qt, pyqtgraph, pandas, SQLAlchemy and the app's
panels) and, on a solo machine, a few hundred milliseconds starting the data folder's PostgreSQL (seconds on a
new folder: initdb and the migrations). The two do not depend on each other, and starting the server is mostly
waiting on ``pg_ctl``, so it runs on a thread begun before the heavy imports; the session then takes the opened
database instead of opening it again. Only the embedded database is opened early: a shared one may need a
password dialog, and its URL may come from Settings, which the session reads itself.

Nothing here imports Qt, and nothing heavy runs on the caller's thread.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import DATABASE_URL_ENV, Settings

if TYPE_CHECKING:
    from core.db.database import Database

log = logging.getLogger(__name__)

_lock = threading.Lock()
_pending: _EarlyStart | None = None


class _EarlyStart:
    """One early open of the embedded database on its own thread: its settings, and the Database (or error)."""

    def __init__(self, settings: Settings, open_db: Callable[[Settings], Database] | None) -> None:
        self.settings = settings
        self.consumed = False  # the session took the Database: closing it is the session's job from then on
        self.result: Future[Database | None] = Future()
        self._open_db = open_db
        self._thread = threading.Thread(target=self._run, name="stratforge-early-database", daemon=False)
        self._thread.start()

    def _run(self) -> None:
        try:
            from core.accounts.secrets import SecretStore, SecretsUnavailable

            try:
                chosen = SecretStore().database_url()  # a shared database chosen in Settings: not ours to open
            except SecretsUnavailable:
                chosen = None
            if chosen:
                self.result.set_result(None)
                return
            if self._open_db is None:
                from core.db.database import open_database  # here, not on the caller's thread: SQLAlchemy

                self._open_db = open_database
            self.result.set_result(self._open_db(self.settings))
        except BaseException as exc:  # handed to whoever takes it: the session reports it as it always has
            self.result.set_exception(exc)


def begin(argv: Sequence[str], open_db: Callable[[Settings], Database] | None = None) -> None:
    """Begin opening the embedded database for the app started with ``argv``, unless it will use a shared one."""
    global _pending
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--database-url")
    try:
        args, _ = parser.parse_known_args(list(argv))
    except SystemExit:  # a malformed line: the app's own parser says what is wrong
        return
    if args.database_url or os.environ.get(DATABASE_URL_ENV):
        return
    settings = Settings.from_env(data_dir=args.data_dir, database_url=None)
    with _lock:
        if _pending is None:
            _pending = _EarlyStart(settings, open_db)


def take(settings: Settings) -> Callable[[Settings], Database] | None:
    """The opener for the session when the early start is for these settings (it waits for the server); else
    None, and the session opens its database itself."""
    with _lock:
        early = _pending
    if early is None:
        return None
    if settings.database_url is not None or early.settings.data_dir != settings.data_dir:
        discard()
        return None

    def opened(wanted: Settings) -> Database:
        with _lock:
            early.consumed = True
        database = early.result.result()
        if database is None or wanted.data_dir != early.settings.data_dir or wanted.database_url is not None:
            if database is not None:
                database.close()
            from core.db.database import open_database

            return open_database(wanted)
        return database

    return opened


def discard() -> None:
    """At the end of the app: an early database the session never took (it stopped before opening one) is closed,
    which stops the server; one it took, it has closed itself."""
    global _pending
    with _lock:
        early, _pending = _pending, None
        unclaimed = early is not None and not early.consumed
    if early is not None and unclaimed:
        _close_when_opened(early)


def _close_when_opened(early: _EarlyStart) -> None:
    try:
        database = early.result.result()
    except Exception:
        log.info("the early start of the embedded database failed; the session did not need it", exc_info=True)
        return
    if database is not None:
        database.close()
