"""What the app says about the database it is connected to (Help > About, ``stratforge --self-test``).

Asking the server is a round trip, so it runs on a worker thread; the About dialog takes the answer (or a
callable that produces it) and never imports the database driver itself.
"""

from __future__ import annotations

from sqlalchemy import Engine, text


def server_version(engine: Engine) -> str:
    """Blocking: the connected server's ``server_version`` (e.g. ``18.1``): the embedded PostgreSQL's, or the
    shared database's."""
    with engine.connect() as conn:
        return str(conn.execute(text("SHOW server_version")).scalar_one())
