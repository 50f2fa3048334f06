"""Alembic environment: migrate through the app's engine, or a URL from -x url= / the environment."""

from __future__ import annotations

import logging.config
import os

from alembic import context
from sqlalchemy import text

import core.db.models  # noqa: F401 - registers every table on Base.metadata
from core.db.base import Base
from core.db.engine import make_engine

# Two clients upgrading one shared database at the same moment must not interleave.
MIGRATION_LOCK_KEY = 0x5F_0001

config = context.config
if config.config_file_name is not None and config.attributes.get("engine") is None:
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _engine():
    engine = config.attributes.get("engine")
    if engine is not None:
        return engine, False
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("STRATFORGE_DATABASE_URL")
    if not url:
        raise SystemExit("Set STRATFORGE_DATABASE_URL or pass `-x url=postgresql://...` to alembic.")
    return make_engine(url, pool_size=1, max_overflow=0), True


def run_migrations_online() -> None:
    engine, owned = _engine()
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
            with context.begin_transaction():
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                context.run_migrations()
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run against a database.")
run_migrations_online()
