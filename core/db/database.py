"""Open the database StratForge runs on: the shared server if configured, else the embedded one.

Embedded: start it, migrate it to head, stop it on close.
Shared (STRATFORGE_DATABASE_URL): connect and insist the schema is at this
build's head revision; upgrading a database other people use is the admin's
explicit act (``stratforge-db upgrade``), not a side effect of someone logging in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.config import Settings
from core.db import migrate
from core.db.embedded import EmbeddedPostgres
from core.db.engine import make_engine, make_session_factory, mask_url
from core.db.errors import DatabaseUnreachable, SchemaOutOfDate
from core.db.supervisor import DatabaseSupervisor
from core.db.trouble import connection_failure_reason

log = logging.getLogger(__name__)


@dataclass
class Database:
    """An open database: engine, sessions, and the embedded server when we own one."""

    mode: str  # "embedded" | "external"
    display_url: str
    engine: Engine
    session_factory: sessionmaker[Session]
    embedded: EmbeddedPostgres | None = None
    start_seconds: float = 0.0
    cold_start: bool = False
    supervisor: DatabaseSupervisor | None = field(default=None, repr=False)
    _closed: bool = field(default=False, repr=False)

    def supervise(self, **options: Any) -> DatabaseSupervisor:
        """Start watching this database (restart the embedded server if it dies, reconnect after an outage);
        ``close()`` stops the watch first. ``options``: DatabaseSupervisor's keyword arguments."""
        if self.supervisor is None:
            self.supervisor = DatabaseSupervisor(self, **options)
            self.supervisor.start()
        return self.supervisor

    def ping(self) -> bool:
        """True when ``SELECT 1`` succeeds; never raises (status bars call it on a timer)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.supervisor is not None:
            self.supervisor.stop()  # first: a server being stopped must not be restarted
        self.engine.dispose()
        if self.embedded is not None:
            self.embedded.stop()


def open_database(settings: Settings) -> Database:
    """Blocking: may start PostgreSQL and run migrations (seconds). Call it off the GUI thread."""
    if settings.database_url:
        return _open_external(settings.database_url)
    return _open_embedded(settings)


def _open_embedded(settings: Settings) -> Database:
    server = EmbeddedPostgres(settings.data_dir / "db")
    info = server.start()
    engine = make_engine(info.url)
    try:
        migrate.upgrade(engine)
    except BaseException:
        engine.dispose()
        server.stop()
        raise
    return Database(
        mode="embedded",
        display_url=f"embedded PostgreSQL in {server.pgdata}",
        engine=engine,
        session_factory=make_session_factory(engine),
        embedded=server,
        start_seconds=info.seconds,
        cold_start=info.initialized,
    )


def _open_external(url: str) -> Database:
    engine = make_engine(url)
    shown = mask_url(engine.url.render_as_string(hide_password=False))
    try:
        current = migrate.current_revision(engine)
    except OperationalError as exc:
        engine.dispose()
        reason = connection_failure_reason(exc.orig or exc)  # libpq's last words, not its whole dump
        raise DatabaseUnreachable(f"Cannot reach the database {shown}: {reason}.") from exc
    head = migrate.head_revision()
    if current != head:
        engine.dispose()
        found = current or "an empty schema"
        raise SchemaOutOfDate(
            f"The database {shown} is at {found}, but this StratForge needs schema revision {head}. "
            "Ask the club admin to run `stratforge-db upgrade` (or upgrade StratForge if the database is newer)."
        )
    return Database(mode="external", display_url=shown, engine=engine, session_factory=make_session_factory(engine))
