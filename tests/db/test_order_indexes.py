"""The orders indexes made partial by migration 0009 still answer the lookups that need them.

The foreign keys' ON DELETE lookups run as generic plans with a parameter (``WHERE session_id = $1``); a
partial index ``WHERE session_id IS NOT NULL`` serves them only if PostgreSQL proves the predicate from the
parameterised equality. These tests ask the planner itself, with sequential scans priced out so that an
empty table does not hide the choice.
"""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text

from tests.db import factories as f


def generic_plan_indexes(conn, query: str, *params: object) -> set[str]:
    """The indexes of the generic plan of ``query`` (a prepared statement with $1.. parameters)."""
    conn.execute(text("SET LOCAL enable_seqscan = off"))
    conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    conn.execute(text(f"PREPARE probe AS {query}"))
    try:
        args = ", ".join(f"'{p}'" for p in params)
        (plan,) = conn.execute(text(f"EXPLAIN (FORMAT JSON) EXECUTE probe({args})")).one()
    finally:
        conn.execute(text("DEALLOCATE probe"))
    found: set[str] = set()

    def walk(node: dict) -> None:
        if "Index Name" in node:
            found.add(node["Index Name"])
        for child in node.get("Plans", ()):
            walk(child)

    walk((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"])
    return found


@pytest.mark.parametrize("column", ["session_id", "signal_id", "parent_order_id"])
def test_a_parameterised_lookup_by_a_sparse_foreign_key_uses_its_partial_index(db, column):
    with db.engine.begin() as conn:
        used = generic_plan_indexes(conn, f"SELECT 1 FROM orders WHERE {column} = $1::uuid", uuid.uuid4())
    assert f"ix_orders_{column}" in used


def test_deleting_a_session_still_detaches_its_orders(db):
    with db.session_factory() as s:
        user = f.user(s)
        session = f.trading_session(s, user, f.strategy(s, user))
        order = f.order(s, user, session_id=session.id)
        s.commit()
        s.delete(session)
        s.commit()
        s.refresh(order)
        assert order.session_id is None


def test_recent_submitted_orders_are_read_from_the_submitted_at_index(db):
    with db.engine.begin() as conn:
        used = generic_plan_indexes(
            conn, "SELECT id FROM orders WHERE submitted_at IS NOT NULL ORDER BY submitted_at DESC LIMIT $1::int", 50
        )
    assert "ix_orders_submitted_at" in used


def test_no_orders_index_is_keyed_on_status_or_symbol_alone(db):
    """The two indexes 0009 dropped had no reader; a user's open orders come from the partial open index."""
    with db.engine.begin() as conn:
        names = set(conn.scalars(text("SELECT indexname FROM pg_indexes WHERE tablename = 'orders'")))
        used = generic_plan_indexes(
            conn,
            "SELECT count(*) FROM orders WHERE user_id = $1::uuid AND status IN "
            "('pending', 'submitted', 'accepted', 'partially_filled', 'pending_cancel')",
            uuid.uuid4(),
        )
    assert {"ix_orders_user_id_status", "ix_orders_symbol"}.isdisjoint(names)
    assert used == {"ix_orders_open"}
