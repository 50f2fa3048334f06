"""Whether a call changed any row: a digest of every table before and after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from core.db.base import Base
from core.db.database import Database


def database_state(db: Database) -> dict[str, str]:
    """A digest of every table's rows: two equal states hold the same rows, to the byte."""
    with db.engine.connect() as conn:
        return {
            table.name: conn.execute(
                text(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table.name} t")
            ).scalar_one()
            for table in Base.metadata.sorted_tables
        }


@contextmanager
def nothing_changes(db: Database) -> Iterator[None]:
    before = database_state(db)
    yield
    after = database_state(db)
    assert [name for name in before if before[name] != after[name]] == []
