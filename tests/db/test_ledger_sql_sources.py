"""The ledger's SQL functions have one readable source each, ``core/ledger/sql/<function>.sql``, and every
migration installs a frozen copy of its own, ``migrations/versions/sql/<revision>_<function>.sql``.

Texts are compared as PostgreSQL keeps them: a file is installed in a scratch schema, inside a transaction that
is rolled back, and its ``pg_get_functiondef`` is set beside the database's. What PostgreSQL keeps (arguments,
volatility, STRICT, the body to the byte) must agree; what it drops (comments and spacing around the body)
may differ.
"""

from __future__ import annotations

import builtins
import io
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

import core.ledger
from core.db import migrate
from core.db.engine import make_engine

CANONICAL_DIR = Path(core.ledger.__file__).with_name("sql")
FROZEN_DIR = migrate.MIGRATIONS_DIR / "versions" / "sql"
LEDGER_FUNCTIONS = sorted(path.stem for path in CANONICAL_DIR.glob("*.sql"))

# Revision 0001's generic trigger functions (updated_at for every table, immutable fills): the schema's guards
# against any writer, installed once and never revised, so they stay in that migration.
SCHEMA_FUNCTIONS = {"stratforge_set_updated_at", "stratforge_fills_immutable"}
# Migrations 0012 and 0015: row-level security, the club admin's functions and the audit trail's guard (their
# grants are checked in tests/security/test_catalog.py).
ACCESS_FUNCTIONS = {
    "sf_uid", "sf_request_signup", "sf_admin_grant_login", "sf_admin_set_active", "sf_admin_set_role",
    "sf_admin_reset_balance", "sf_admin_purge_audit", "sf_withdraw_order_request", "stratforge_order_request_notify",
    "stratforge_audit_append_only",
    # migration 0015: a club join request carrying a sign-in identity, and the trigger linking it on approval
    "sf_request_identity_signup", "stratforge_link_approved_identity",
}  # fmt: skip

SCRATCH_SCHEMA = "sf_source_check"


def revisions_base_to_head() -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return [s.revision for s in reversed(list(script.walk_revisions()))]


def frozen_copies(function: str) -> dict[str, Path]:
    """{revision: frozen file} of the revisions that install ``function``."""
    copies = {}
    for path in FROZEN_DIR.glob("*.sql"):
        revision, _, name = path.stem.partition("_")
        if name == function:
            copies[revision] = path
    return copies


def installed_in(conn, schema: str) -> dict[str, str]:
    rows = conn.execute(
        text(
            "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " LEFT JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'"
            " WHERE n.nspname = :schema AND d.objid IS NULL"  # not an extension's
        ),
        {"schema": schema},
    ).all()
    names = [name for name, _ in rows]
    assert len(names) == len(set(names)), f"overloaded functions in {schema}: {sorted(names)}"
    return dict(rows)


def database_and_file(engine: Engine, function: str, source: Path) -> tuple[str | None, str]:
    """The database's definition of ``function`` (None if it has none) and what ``source`` defines, both as
    PostgreSQL prints them."""
    with engine.connect() as conn, conn.begin() as transaction:
        installed = installed_in(conn, "public").get(function)
        conn.execute(text(f"CREATE SCHEMA {SCRATCH_SCHEMA}"))
        conn.execute(text("SELECT set_config('search_path', :path, true)"), {"path": f"{SCRATCH_SCHEMA}, public"})
        conn.execute(text(source.read_text(encoding="utf-8")))  # as op.execute runs it
        defined = installed_in(conn, SCRATCH_SCHEMA)
        transaction.rollback()
    assert set(defined) == {function}, f"{source.name} must define {function} and nothing else: {sorted(defined)}"
    in_scratch = f"FUNCTION {SCRATCH_SCHEMA}.{function}("
    return installed, defined[function].replace(in_scratch, f"FUNCTION public.{function}(", 1)


def test_every_function_of_the_schema_at_head_is_the_ledgers_or_a_known_schema_guard(database):
    """A new ledger function gets its canonical file (and so the checks below) with its migration."""
    with database.engine.connect() as conn:
        functions = set(installed_in(conn, "public"))
    assert functions == set(LEDGER_FUNCTIONS) | SCHEMA_FUNCTIONS | ACCESS_FUNCTIONS


@pytest.mark.parametrize("function", LEDGER_FUNCTIONS)
def test_the_database_at_head_has_each_ledger_function_exactly_as_its_canonical_file(database, function):
    installed, canonical = database_and_file(database.engine, function, CANONICAL_DIR / f"{function}.sql")
    assert installed is not None, f"the migrations at head do not install {function}"
    assert installed == canonical, (
        f"core/ledger/sql/{function}.sql and the database at head differ: a change to the file needs a new "
        f"migration that installs a frozen copy of it (migrations/versions/sql/<revision>_{function}.sql)"
    )


@pytest.mark.parametrize("function", LEDGER_FUNCTIONS)
def test_the_newest_frozen_copy_of_each_ledger_function_is_its_canonical_file(function):
    copies = frozen_copies(function)
    newest = copies[max(copies, key=revisions_base_to_head().index)]
    assert newest.read_bytes() == (CANONICAL_DIR / f"{function}.sql").read_bytes(), newest.name


def test_every_frozen_copy_belongs_to_a_revision_and_a_ledger_function():
    revisions = set(revisions_base_to_head())
    for path in FROZEN_DIR.glob("*.sql"):
        revision, _, function = path.stem.partition("_")
        assert revision in revisions and function in LEDGER_FUNCTIONS, path.name


def test_no_migration_takes_its_sql_from_another_migration_or_from_the_ledger_package():
    for path in sorted((migrate.MIGRATIONS_DIR / "versions").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        for borrowing in ("import_module", "from migrations", "import migrations", "core.ledger"):
            assert borrowing not in source, f"{path.name}: {borrowing}"


def test_each_revision_up_and_down_installs_the_frozen_copy_of_the_newest_revision_at_or_below_it(
    scratch_url, monkeypatch
):
    """Revision by revision, upgrading from base to head and downgrading back: each ledger function is the
    frozen copy of the newest revision that installs one (absent before the first), and no migration opens
    a canonical file."""
    opened: list[Path] = []
    real_open = io.open

    def recording_open(file, *args, **kwargs):
        if isinstance(file, str | Path):
            opened.append(Path(file).resolve())
        return real_open(file, *args, **kwargs)

    revisions = revisions_base_to_head()

    def check(at: str | None) -> None:
        below = set(revisions[: revisions.index(at) + 1]) if at else set()
        for function in LEDGER_FUNCTIONS:
            copies = {r: path for r, path in frozen_copies(function).items() if r in below}
            if not copies:
                with engine.connect() as conn:
                    assert function not in installed_in(conn, "public"), (at, function)
                continue
            source = copies[max(copies, key=revisions.index)]
            installed, expected = database_and_file(engine, function, source)
            assert installed == expected, f"at revision {at}, {function} is not {source.name}"

    engine = make_engine(scratch_url, pool_size=1, max_overflow=0)
    try:
        for revision in revisions:
            with monkeypatch.context() as patch:
                patch.setattr(io, "open", recording_open)
                patch.setattr(builtins, "open", recording_open)
                migrate.upgrade(engine, revision)
            check(revision)
        for previous in reversed([None, *revisions[:-1]]):
            with monkeypatch.context() as patch:
                patch.setattr(io, "open", recording_open)
                patch.setattr(builtins, "open", recording_open)
                migrate.downgrade(engine, previous or "base")
            check(previous)
    finally:
        engine.dispose()
    canonical_read = [path.name for path in opened if path.is_relative_to(CANONICAL_DIR.resolve())]
    assert canonical_read == [], "a migration read a canonical file instead of its own frozen copy"
    frozen_read = {path.name for path in opened if path.parent == FROZEN_DIR.resolve()}
    assert frozen_read == {path.name for path in FROZEN_DIR.glob("*.sql")}  # the recorder saw the migrations read
