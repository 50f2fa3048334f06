"""Engine and session factory construction (psycopg 3 driver, idle-connection ping, bounded pools)."""

from __future__ import annotations

import time

import psycopg
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

CONNECT_TIMEOUT_S = 10
# A connection that sat in the pool longer than this is pinged before use (a laptop that slept, a server
# that restarted). A busy pool skips the ping: the ledger checks connections out for every order and fill.
PING_IDLE_AFTER_S = 5.0


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver whatever scheme the user wrote (``postgres://``, ``postgresql://``)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"StratForge needs a PostgreSQL database URL, got {parsed.get_backend_name()!r}")
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def mask_url(url: str) -> str:
    """The URL with its password hidden, safe for status bars and logs."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(
    url: str, *, pool_size: int = 5, max_overflow: int = 10, ping_idle_after_s: float = PING_IDLE_AFTER_S
) -> Engine:
    """An engine whose every connection attempt gives up after CONNECT_TIMEOUT_S seconds."""
    engine = create_engine(
        normalize_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "stratforge"},
    )
    _ping_idle_connections(engine, ping_idle_after_s)
    return engine


def _ping_idle_connections(engine: Engine, after_s: float) -> None:
    """Like ``pool_pre_ping``, but only for connections idle longer than ``after_s``: a dead one is
    replaced by a fresh connection before the caller sees it."""

    @event.listens_for(engine, "checkin")
    def _mark_idle(dbapi_connection: object, record: object) -> None:
        record.info["idle_since"] = time.monotonic()  # type: ignore[attr-defined]

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: psycopg.Connection, record: object, proxy: object) -> None:
        since = record.info.get("idle_since")  # type: ignore[attr-defined]
        if since is None or time.monotonic() - since < after_s:
            return
        try:
            was_autocommit = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            dbapi_connection.execute("SELECT 1")
            dbapi_connection.autocommit = was_autocommit
        except psycopg.Error as exc:
            raise DisconnectionError(f"pooled connection is dead: {exc}") from exc


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: services return plain values after commit without lazy reloads.
    return sessionmaker(bind=engine, expire_on_commit=False)
