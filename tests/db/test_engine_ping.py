"""Pooled connections that died while idle are replaced before anyone uses them."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from core.db.engine import make_engine
from tests.pg import libpq_url


def _kill_backends(admin_url: str, url: str) -> int:
    """Terminate every server process of ``url``'s database (a server restart, as the pool sees it)."""
    with psycopg.connect(libpq_url(admin_url), autocommit=True, connect_timeout=10) as conn:
        return len(
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (url.rsplit("/", 1)[-1].split("?")[0],),
            ).fetchall()
        )


def test_an_idle_dead_connection_is_replaced_on_checkout(pg_admin_url: str, scratch_url: str) -> None:
    engine = make_engine(scratch_url, pool_size=1, max_overflow=0, ping_idle_after_s=0)
    try:
        with engine.connect() as conn:
            first_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        assert _kill_backends(pg_admin_url, scratch_url) == 1
        with engine.connect() as conn:  # the ping finds the dead connection; the pool opens a new one
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != first_pid
    finally:
        engine.dispose()


def test_a_busy_pool_skips_the_ping(pg_admin_url: str, scratch_url: str) -> None:
    """Within the idle window no ping is sent: a connection killed meanwhile surfaces as an error once,
    and the pool then replaces it (the ledger's hot path relies on this trade-off)."""
    engine = make_engine(scratch_url, pool_size=1, max_overflow=0, ping_idle_after_s=3600)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        _kill_backends(pg_admin_url, scratch_url)
        with pytest.raises(Exception, match=r"terminat|closed|connection"), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
