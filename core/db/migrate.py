"""Run Alembic migrations from code (app start-up, tests, the ``stratforge-db`` CLI).

The schema is created and changed only through ``migrations/``; nothing calls
``metadata.create_all``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# Our revision ids are the file names' numbers (0012_club_roles_rls.py is revision "0012", down from "0011"), so the
# head is the highest-numbered file; tests/db/test_migrations_head.py holds Alembic to that.
_NUMBERED = re.compile(r"^(\d{4})_\w+\.py$")


def alembic_config(engine: Engine | None = None) -> Config:
    """A Config pointing at ``migrations/``; with an engine, env.py migrates through it."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"No migrations found in {MIGRATIONS_DIR}")
    return head


def numbered_head() -> str | None:
    """The head by our numbering: the highest ``NNNN_*.py`` in migrations/versions (a directory listing)."""
    numbers = [m.group(1) for f in (MIGRATIONS_DIR / "versions").iterdir() if (m := _NUMBERED.match(f.name))]
    return max(numbers, default=None)


def at_head(engine: Engine) -> bool:
    """Whether the database is at this build's head, asked without loading Alembic or a migration script."""
    head = numbered_head()
    if head is None:
        return False
    with engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None:
            return False
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return versions == [head]


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate to ``revision``. At head already (every start but the first after an update), Alembic is not even
    imported: loading it and the migration scripts cost about half a second of every start."""
    if revision == "head" and at_head(engine):
        return
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(engine), revision)
