"""The audit trail is append-only for every role, the database's owner included; only the admin's retention
function deletes, and only rows older than an hour. (Each group role's grants are tested in tests/security.)"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from core.adapters.alpaca.rate_budget import RateBudget
from core.db.database import Database
from tests.pg import libpq_url


def _owner(db: Database) -> psycopg.Connection:
    return psycopg.connect(libpq_url(db.engine.url.render_as_string(hide_password=False)), autocommit=True)


@pytest.mark.parametrize(
    ("table", "insert"),
    [
        ("system_logs", "INSERT INTO system_logs (component, log_level, message) VALUES ('t', 'INFO', 'kept')"),
        ("api_usage_logs", "INSERT INTO api_usage_logs (endpoint, method, status_code) VALUES ('/v2/x', 'GET', 200)"),
    ],
)
def test_no_role_rewrites_or_deletes_the_history(db: Database, table: str, insert: str) -> None:
    with _owner(db) as conn:
        conn.execute(insert)
        for change in (f"UPDATE {table} SET created_at = created_at - interval '1 day'", f"DELETE FROM {table}"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(change)
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,)


def test_a_calls_outcome_is_filled_in_once(db: Database) -> None:
    budget = RateBudget(db.session_factory, limit=10, window_s=60.0)
    slot = budget.acquire("/v2/orders", "POST")
    budget.record(slot, 200, 35)
    with db.session_factory() as s:
        row = s.execute(text("SELECT status_code, duration_ms FROM api_usage_logs WHERE id = :id"), {"id": slot.id})
        assert row.one() == (200, 35)
    with _owner(db) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        conn.execute("UPDATE api_usage_logs SET status_code = 500 WHERE id = %s", (slot.id,))


def test_an_update_that_fills_the_outcome_cannot_also_move_the_row(db: Database) -> None:
    with _owner(db) as conn:
        (row_id,) = conn.execute(
            "INSERT INTO api_usage_logs (endpoint, method) VALUES ('/v2/x', 'GET') RETURNING id"
        ).fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(
                "UPDATE api_usage_logs SET status_code = 200, created_at = created_at - interval '2 days' "
                "WHERE id = %s",
                (row_id,),
            )


def test_retention_deletes_only_old_rows_and_records_itself(db: Database) -> None:
    with _owner(db) as conn:
        conn.execute("ALTER TABLE system_logs DISABLE TRIGGER trg_system_logs_append_only")  # age two rows
        conn.execute(
            "INSERT INTO system_logs (component, log_level, message, created_at) VALUES "
            "('t', 'INFO', 'old', now() - interval '40 days'), ('t', 'INFO', 'old', now() - interval '31 days'), "
            "('t', 'INFO', 'recent', now() - interval '2 days')"
        )
        conn.execute("ALTER TABLE system_logs ENABLE TRIGGER trg_system_logs_append_only")
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="younger than an hour"):
            conn.execute("SELECT sf_admin_purge_audit(now() - interval '5 minutes')")
        assert conn.execute("SELECT sf_admin_purge_audit(now() - interval '30 days')").fetchone() == (2,)
        left = conn.execute("SELECT message FROM system_logs ORDER BY created_at").fetchall()
        assert left == [("recent",), ("audit trail purged",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("DELETE FROM system_logs")  # the purge's permission ended with its own transaction
