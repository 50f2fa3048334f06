"""Engine and session factory construction (psycopg 3 driver, pre-ping, bounded pools)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

CONNECT_TIMEOUT_S = 10


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


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    """An engine whose every connection attempt gives up after CONNECT_TIMEOUT_S seconds."""
    return create_engine(
        normalize_url(url),
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "stratforge"},
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: services return plain values after commit without lazy reloads.
    return sessionmaker(bind=engine, expire_on_commit=False)
