"""Migration 0005: pre-trade checks may exist before any fill (order id, nullable decision context)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from core.db import migrate
from core.db.engine import make_engine

USER = "INSERT INTO users (email, username, password_hash) VALUES ('a@example.com', 'a', 'x') RETURNING id"
ORDER = (
    "INSERT INTO orders (user_id, client_order_id, symbol, side, order_type, quantity) "
    "VALUES (:u, 'sf-1', 'AAPL', 'buy', 'market', 1) RETURNING id"
)
FILL = (
    "INSERT INTO fills (user_id, order_id, execution_id, symbol, side, quantity, price, executed_at) "
    "VALUES (:u, :o, 'x1', 'AAPL', 'buy', 1, 100, now()) RETURNING id"
)
CONTEXT = "INSERT INTO decision_contexts (user_id, fill_id, context_type) VALUES (:u, :f, 'entry') RETURNING id"


def check(conn, user_id, phase="pre_trade", order_id=None, context_id=None):
    conn.execute(
        text(
            "INSERT INTO campaign_checks (user_id, decision_context_id, order_id, check_type, severity, passed, "
            "check_phase) VALUES (:u, :c, :o, 'position_size', 'warn', false, :p)"
        ),
        {"u": user_id, "c": context_id, "o": order_id, "p": phase},
    )


@pytest.fixture
def engine(scratch_url):
    engine = make_engine(scratch_url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def columns(engine) -> dict[str, dict]:
    return {c["name"]: c for c in inspect(engine).get_columns("campaign_checks")}


def test_upgrade_allows_subjectless_pre_trade_checks_and_downgrade_drops_them(engine):
    migrate.upgrade(engine, "0004")
    assert columns(engine)["decision_context_id"]["nullable"] is False and "order_id" not in columns(engine)

    migrate.upgrade(engine, "0005")
    cols = columns(engine)
    assert cols["decision_context_id"]["nullable"] is True and cols["order_id"]["nullable"] is True
    (fk,) = [f for f in inspect(engine).get_foreign_keys("campaign_checks") if f["referred_table"] == "orders"]
    assert fk["options"].get("ondelete") == "SET NULL"

    with engine.begin() as conn:
        user_id = conn.execute(text(USER)).scalar()
        order_id = conn.execute(text(ORDER), {"u": user_id}).scalar()
        fill_id = conn.execute(text(FILL), {"u": user_id, "o": order_id}).scalar()
        context_id = conn.execute(text(CONTEXT), {"u": user_id, "f": fill_id}).scalar()
        check(conn, user_id)  # cancelled at the nudge: no order, no fill
        check(conn, user_id, order_id=order_id)  # placed, not filled yet
        check(conn, user_id, phase="post_trade", context_id=context_id)
    with pytest.raises(IntegrityError, match="ck_campaign_checks_subject"), engine.begin() as conn:
        check(conn, user_id, phase="post_trade")
    with pytest.raises(IntegrityError, match="ck_campaign_checks_subject"), engine.begin() as conn:
        check(conn, user_id, phase="at_exit", order_id=order_id)

    with engine.begin() as conn:  # an order without fills can go; its checks stay, without it
        other = conn.execute(text(ORDER.replace("sf-1", "sf-2")), {"u": user_id}).scalar()
        check(conn, user_id, order_id=other)
        conn.execute(text("DELETE FROM orders WHERE id = :o"), {"o": other})
        assert conn.execute(text("SELECT count(*) FROM campaign_checks WHERE order_id IS NULL")).scalar() == 3

    migrate.downgrade(engine, "0004")
    assert columns(engine)["decision_context_id"]["nullable"] is False and "order_id" not in columns(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT check_phase FROM campaign_checks")).scalars().all() == ["post_trade"]

    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_deleting_a_user_removes_their_checks_with_everything_else(engine):
    migrate.upgrade(engine)
    with engine.begin() as conn:
        user_id = conn.execute(text(USER)).scalar()
        order_id = conn.execute(text(ORDER), {"u": user_id}).scalar()
        check(conn, user_id, order_id=order_id)
        check(conn, user_id)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM users WHERE id = :u"), {"u": user_id})
        assert conn.execute(text("SELECT count(*) FROM campaign_checks")).scalar() == 0
