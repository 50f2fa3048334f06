"""Start-up asks "is the schema at head?" without Alembic: by our numbering, which must agree with Alembic's."""

from __future__ import annotations

from sqlalchemy import text

from core.db import migrate
from core.db.engine import make_engine


def test_the_numbered_head_is_alembics_head() -> None:
    assert migrate.numbered_head() == migrate.head_revision()


def test_at_head_only_when_the_database_is(scratch_url: str) -> None:
    engine = make_engine(scratch_url, pool_size=1, max_overflow=0)
    try:
        assert migrate.at_head(engine) is False  # no alembic_version table yet
        migrate.upgrade(engine)
        assert migrate.at_head(engine) is True
        assert migrate.current_revision(engine) == migrate.head_revision()
        previous = f"{int(migrate.head_revision()) - 1:04d}"
        migrate.downgrade(engine, previous)
        assert migrate.at_head(engine) is False
        migrate.upgrade(engine)  # behind: the fast check must not skip the real upgrade
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_a_foreign_version_row_is_not_head(scratch_url: str) -> None:
    engine = make_engine(scratch_url, pool_size=1, max_overflow=0)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        assert migrate.at_head(engine) is False
    finally:
        engine.dispose()
