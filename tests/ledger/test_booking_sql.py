"""The database side of booking: money rounding and the per-transaction durability setting."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import text

from core.db.engine import make_engine, make_session_factory
from core.db.raw import raw_connection
from core.domain.money import money
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from tests.pg import libpq_url

TIES = ["0.0000025", "0.0000035", "-0.0000025", "-0.0000035", "1.2345665", "1.2345675", "7.0000005", "0.00000049"]


@pytest.mark.parametrize("value", [*TIES, "123.456789", "2.5", "0", "-0.0000015", "99999.9999995"])
def test_sf_money_rounds_half_to_even_like_python(db, value):
    with db.engine.connect() as conn:
        got = conn.execute(text("SELECT sf_money(CAST(:v AS numeric))"), {"v": value}).scalar()
    assert got == money(Decimal(value))


def test_sf_money_is_inlined_and_keeps_null(db):
    """Not STRICT (revision 0006), so the planner inlines it into the caller's expression instead of planning
    a separate SQL function on every call, and NULL still gives NULL."""
    with db.engine.connect() as conn:
        plan = "\n".join(conn.execute(text("EXPLAIN VERBOSE SELECT sf_money(virtual_balance) FROM users")).scalars())
        assert "sf_money" not in plan and "round(" in plan
        assert conn.execute(text("SELECT sf_money(NULL)")).scalar() is None


def test_bookings_move_updated_at_themselves(db, broker, make_user):
    ledger = Ledger(db.session_factory, broker, LastPrices({"AAPL": Decimal("100")}))
    user = make_user("erin")
    placed = ledger.place_order(user, OrderTicket("AAPL", OrderSide.BUY, Decimal("1")))
    with db.engine.begin() as conn:
        before = conn.execute(text("SELECT now() - interval '1 hour'")).scalar()
        for table in ("users", "orders"):
            conn.execute(text(f"UPDATE {table} SET updated_at = :t"), {"t": before})
    broker.fill(placed.client_order_id, "1", "100")
    with db.engine.connect() as conn:
        stamps = [conn.execute(text(f"SELECT min(updated_at) FROM {t}")).scalar() for t in ("users", "orders")]
    assert all(stamp > before for stamp in stamps)


def test_an_async_booking_leaves_the_next_transaction_durable(db, broker, make_user):
    """Bookings commit with synchronous_commit off for their own transaction only; an order placement
    that reuses the pooled connection must still wait for its commit to reach disk."""
    engine = make_engine(db.engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0)
    try:
        ledger = Ledger(make_session_factory(engine), broker, LastPrices({"AAPL": Decimal("100")}))
        user = make_user("dora")
        placed = ledger.place_order(user, OrderTicket("AAPL", OrderSide.BUY, Decimal("1")))
        broker.fill(placed.client_order_id, "1", "100")  # booked through sf_apply_event on the one connection
        with raw_connection(engine) as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
            conn.rollback()
        assert ledger.portfolio(user).positions[0].qty == Decimal("1")
    finally:
        engine.dispose()


def test_the_booking_finds_its_order_by_index_even_when_first_planned_on_an_empty_table(db):
    """PL/pgSQL keeps a statement's plan for the session. The order lookup of revision 0006 (client id OR
    broker id, LIMIT 1) was planned as a sequential scan on a nearly empty orders table, and a new database's
    sessions then read every order on every booking. Each lookup is now a unique-index equality."""
    # A connection of its own: the settings and notice handler below must not stay on a pooled one.
    with psycopg.connect(libpq_url(db.engine.url.render_as_string(hide_password=False)), autocommit=True) as conn:
        try:
            conn.execute("LOAD 'auto_explain'")
        except psycopg.Error:
            pytest.skip("this PostgreSQL cannot load auto_explain")
        plans: list[str] = []
        conn.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
        for setting, value in (("log_min_duration", "0"), ("log_nested_statements", "on"), ("log_level", "notice")):
            conn.execute(f"SET auto_explain.{setting} = {value}")
        for n in range(8):  # past the five custom plans, into the cached generic one
            row = conn.execute(
                "SELECT outcome FROM sf_apply_event('fill', %s, %s, 'filled', 1, 1, 100, NULL, now(), 100, 1, 0,"
                " %s, now(), NULL)",
                (f"sf-none-{n}", f"b-none-{n}", f"x-{n}"),
            ).fetchone()  # fmt: skip
            assert row == ("unknown",)
    lookups = [p for p in plans if "FROM orders WHERE" in " ".join(p.split()) and "_order_id = p_" in p]
    assert len(lookups) >= 8
    assert not [p for p in lookups if "Seq Scan on orders" in p]
