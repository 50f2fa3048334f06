"""The placement's locking read against a real PostgreSQL: the day's realized P&L it gives the risk rules.

Since migration 0008 the figure is kept on the user's row by ``sf_apply_event`` instead of being summed over
the day's fills on every placement; these tests pin it to what the sum gave.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal as D

from core.db.raw import raw_connection
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.ledger.invariant import check_user
from core.ledger.placement import LOCK_ACCOUNT_SQL, AccountSnapshot, lock_account
from core.ledger.service import Ledger
from tests.ledger.manual_broker import T0, ManualBroker


def _snapshot(db, user: uuid.UUID, now: datetime) -> AccountSnapshot:
    with raw_connection(db.engine) as conn:
        snapshot = lock_account(conn, user, "AAPL", now)
        conn.rollback()
    assert snapshot is not None
    return snapshot


def _round_trip(ledger: Ledger, broker: ManualBroker, user: uuid.UUID, at: datetime, sell_price: str) -> None:
    """Buy 10 AAPL at 100, then sell 4 at ``sell_price`` with a $1 fee, both filled at ``at``."""
    entry = ledger.place_order(user, OrderTicket("AAPL", OrderSide.BUY, D(10)))
    broker.fill(entry.client_order_id, "10", "100", at=at)
    exit_ = ledger.place_order(user, OrderTicket("AAPL", OrderSide.SELL, D(4)))
    broker.fill(exit_.client_order_id, "4", sell_price, fee="1", at=at)


def test_the_days_realized_pnl_is_what_the_days_fills_made_net_of_fees(db, ledger, broker, make_user) -> None:
    ann, bob = make_user("ann", duplicate_window_seconds=0), make_user("bob", duplicate_window_seconds=0)
    _round_trip(ledger, broker, ann, T0, "95")  # 4 x (95 - 100) - 1
    _round_trip(ledger, broker, ann, T0 + timedelta(hours=1), "103")  # 4 x (103 - 100) - 1 (cost basis 100)
    _round_trip(ledger, broker, bob, T0, "110")
    assert _snapshot(db, ann, T0 + timedelta(hours=2)).realized_today == D(-21) + D(11)
    assert _snapshot(db, bob, T0 + timedelta(hours=2)).realized_today == D(39)
    with db.session_factory() as s:
        assert check_user(s, ann).holds and check_user(s, bob).holds


def test_a_new_utc_day_starts_at_zero_and_a_late_fill_of_the_day_before_is_not_counted(
    db, ledger, broker, make_user
) -> None:
    cat = make_user("cat", duplicate_window_seconds=0)
    next_day = T0 + timedelta(days=1)
    _round_trip(ledger, broker, cat, T0, "95")
    assert _snapshot(db, cat, next_day).realized_today == 0  # yesterday's loss is not today's
    _round_trip(ledger, broker, cat, next_day, "105")
    assert _snapshot(db, cat, next_day).realized_today == D(19)
    late = ledger.place_order(cat, OrderTicket("AAPL", OrderSide.SELL, D(2)))
    broker.fill(late.client_order_id, "2", "90", at=T0 + timedelta(hours=3))  # reported late, executed yesterday
    assert _snapshot(db, cat, next_day).realized_today == D(19)
    assert _snapshot(db, cat, next_day + timedelta(days=1)).realized_today == 0
    with db.session_factory() as s:
        report = check_user(s, cat)
    assert report.holds and report.day_pnl_gap == 0


def test_the_invariant_notices_a_days_figure_that_disagrees_with_the_fills(db, ledger, broker, make_user) -> None:
    dan = make_user("dan")
    _round_trip(ledger, broker, dan, T0, "95")
    with raw_connection(db.engine) as conn:
        conn.execute("UPDATE users SET realized_day_pnl = realized_day_pnl + 1 WHERE id = %s", (dan,))
        conn.commit()
    with db.session_factory() as s:
        assert check_user(s, dan).day_pnl_gap == D(1)


def test_the_locking_read_does_not_touch_the_fills(db, make_user) -> None:
    """O(1) in the day's fills: the read is planned without the fills table at all."""
    eve = make_user("eve")
    with raw_connection(db.engine) as conn:
        plan = conn.execute(
            "EXPLAIN (FORMAT JSON) " + LOCK_ACCOUNT_SQL,
            {"user_id": eve, "symbol": "AAPL", "now": T0, "default_window": 5, "today": T0.date()}
            | {"session_id": None, "signal_id": None, "strategy_id": None},
        ).fetchone()[0]
        conn.rollback()
    relations = {node.get("Relation Name") for node in _plan_nodes(plan[0]["Plan"])}
    assert "users" in relations and "fills" not in relations


def _plan_nodes(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)
