"""Plain psycopg connections borrowed from an engine's pool, for the ledger's hot path.

The ORM costs about a millisecond of Python per statement; placing an order and
booking a fill run on every trade and hold a user's row lock, so they speak
SQL directly. The connection comes from (and goes back to) the same pool the
ORM uses, with the same idle-connection ping, timeouts and limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker


def engine_of(sessions: sessionmaker[Session]) -> Engine:
    """The engine a session factory is bound to (services are built from the factory alone)."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine):
        raise TypeError("the session factory must be bound to an Engine")
    return bind


@contextmanager
def raw_connection(engine: Engine, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """A pooled psycopg connection. Without autocommit the caller commits; anything left open is rolled
    back when the connection returns to the pool. With autocommit each statement is its own transaction
    (one round trip for a single function call instead of three)."""
    pooled = engine.raw_connection()
    conn: psycopg.Connection = pooled.driver_connection  # type: ignore[assignment]
    try:
        if autocommit:
            conn.autocommit = True
        yield conn
    finally:
        try:
            if not conn.closed:
                status = conn.info.transaction_status
                if status in (psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR):
                    conn.rollback()  # an exception (a risk rejection included) left the transaction open
                if autocommit:
                    conn.autocommit = False
        finally:
            pooled.close()
