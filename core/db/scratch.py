"""Scratch databases on a PostgreSQL server: for benchmarks and the screenshot command.

Either on a server given by URL, or on an embedded PostgreSQL started in a temporary folder, so neither needs a
configured server. The drivers are imported where they are used: a benchmark that starts worker processes has
this module imported again in every worker, and those imports would count as start-up.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg


def _admin(admin_url: str) -> psycopg.Connection:
    import psycopg
    from sqlalchemy.engine import make_url

    plain = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(plain, autocommit=True, connect_timeout=10)


def scratch_url(admin_url: str) -> str:
    """A new empty database on the server of ``admin_url``; its URL."""
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"sf_bench_{uuid.uuid4().hex[:8]}"
    with _admin(admin_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    if name is None:
        raise ValueError(f"the URL {url!r} names no database")
    from core.db.club_roles import drop_club_roles

    with _admin(admin_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        drop_club_roles(conn, name)  # roles belong to the server: they outlive the database


@contextmanager
def admin_server(url: str | None, prefix: str) -> Iterator[str]:
    """The admin URL of ``url``'s server, or of an embedded PostgreSQL started in a temporary folder."""
    if url is not None:
        yield url
        return
    from core.db.embedded import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        server = EmbeddedPostgres(Path(tmp))
        server.start()
        try:
            assert server.admin_url is not None
            yield server.admin_url
        finally:
            server.stop()
