"""The placement's locking read against a real PostgreSQL: how it reaches the rows it reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

from core.broker.types import OrderSide
from core.db.raw import raw_connection
from core.ledger.placement import LOCK_ACCOUNT_SQL, OrderRecord, record_order
from core.risk import OrderTicket


def test_the_day_pnl_read_looks_at_the_users_own_fills_only(db, make_user) -> None:
    """With other users' fills in the table, the locking read reaches this user's fills of the day through
    their own index (migration 0007), not by filtering every ledger fill (what the planner did before)."""
    ann, bob = make_user("ann"), make_user("bob")
    now = datetime.now(UTC)
    order_id = uuid.uuid4()
    ticket = OrderTicket("AAPL", OrderSide.BUY, Decimal(1))
    order = OrderRecord(order_id, bob, f"sf-{order_id.hex}", "test", ticket, Decimal(0), now)
    with raw_connection(db.engine) as conn:
        record_order(conn, order)
        conn.execute(
            "INSERT INTO fills (user_id, order_id, execution_id, symbol, side, quantity, price, executed_at, source)"
            " SELECT %s, %s, 'bob-' || n, 'AAPL', 'buy', 1, 100, now() - n * interval '1 minute', 'ledger'"
            "   FROM generate_series(1, 500) AS n",
            (bob, order.id),
        )
        conn.commit()
        plan = conn.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + LOCK_ACCOUNT_SQL,
            {
                "user_id": ann, "symbol": "AAPL", "now": now, "default_window": 5,
                "day_start": now.replace(hour=0, minute=0, second=0, microsecond=0),
            },
        ).fetchone()[0]  # fmt: skip
        conn.rollback()
    scans = [node for node in _plan_nodes(plan[0]["Plan"]) if node.get("Relation Name") == "fills"]
    assert [node.get("Index Name") for node in scans] == ["ix_fills_ledger_user_id_executed_at"]
    assert all(node.get("Rows Removed by Filter", 0) == 0 for node in scans)


def _plan_nodes(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)
