"""Every constraint the seeds name, checked by PostgreSQL itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.db import models as m
from tests.db import factories as f


@pytest.fixture
def session(db):
    with db.session_factory() as s:
        yield s
        s.rollback()


def assert_rejected(session, constraint: str, action) -> None:
    """``action`` must fail on the named constraint; the session is usable afterwards."""
    with pytest.raises(IntegrityError) as excinfo, session.begin_nested():
        action()
        session.flush()
    assert constraint in str(excinfo.value.orig), str(excinfo.value.orig)


def test_a_valid_bar_is_stored(session):
    tick = f.ticker(session)
    f.bar(session, tick)
    assert session.scalar(select(func.count()).select_from(m.OhlcvBar)) == 1


@pytest.mark.parametrize(
    ("prices", "constraint"),
    [
        ({"high": 8.0, "low": 9.0, "open": 8.5, "close": 8.5}, "high_gte_low"),
        ({"open": 11.5}, "high_gte_open_close"),
        ({"close": 11.5}, "high_gte_open_close"),
        ({"open": 8.5}, "low_lte_open_close"),
        ({"close": 8.5}, "low_lte_open_close"),
        ({"open": 0.0, "low": 0.0}, "prices_positive"),
        ({"open": -1.0, "low": -2.0, "close": -1.0, "high": -0.5}, "prices_positive"),
        ({"volume": -1}, "volume_non_negative"),
        ({"trade_count": -3}, "trade_count_non_negative"),
    ],
)
def test_ohlc_checks_reject_bad_bars(session, prices, constraint):
    tick = f.ticker(session)
    assert_rejected(session, constraint, lambda: f.bar(session, tick, **prices))
    assert session.scalar(select(func.count()).select_from(m.OhlcvBar)) == 0


def test_bar_natural_key_is_unique(session):
    tick = f.ticker(session)
    f.bar(session, tick)
    assert_rejected(session, "pk_ohlcv_bars", lambda: f.bar(session, tick))
    f.bar(session, tick, ts=f.T0 + timedelta(minutes=1))  # the next minute is fine


def test_unique_keys(session):
    alice, bob = f.user(session, "alice"), f.user(session, "bob")
    assert_rejected(
        session, "uq_users_email", lambda: f.add(session, m.User(email=alice.email, username="x1x", password_hash="x"))
    )
    assert_rejected(
        session,
        "uq_users_username_lower",
        lambda: f.add(session, m.User(email="z@example.com", username=alice.username.upper(), password_hash="x")),
    )
    f.strategy(session, alice, "Breakout")
    f.strategy(session, bob, "Breakout")  # names are unique per owner only
    assert_rejected(session, "uq_strategies_user_id_name", lambda: f.strategy(session, alice, "Breakout"))
    f.add(session, m.Position(user_id=alice.id, symbol="AAPL"))
    f.add(session, m.Position(user_id=bob.id, symbol="AAPL"))
    assert_rejected(
        session, "uq_positions_user_id_symbol", lambda: f.add(session, m.Position(user_id=alice.id, symbol="AAPL"))
    )
    first = f.order(session, alice)
    assert_rejected(
        session, "uq_orders_client_order_id", lambda: f.order(session, bob, client_order_id=first.client_order_id)
    )
    f.add(session, m.VariableList(user_id=alice.id, name="rsi_periods", type="number", values=[10, 14]))
    assert_rejected(
        session,
        "uq_variable_lists_user_id_name",
        lambda: f.add(session, m.VariableList(user_id=alice.id, name="rsi_periods", type="number")),
    )


def test_an_execution_of_the_shared_account_is_attributed_to_one_user_only(session):
    alice, bob = f.user(session, "alice"), f.user(session, "bob")
    order_a, order_b = f.order(session, alice), f.order(session, bob)
    fill = f.fill(session, alice, order_a)
    assert_rejected(
        session, "uq_fills_ledger_execution_id", lambda: f.fill(session, bob, order_b, execution_id=fill.execution_id)
    )
    assert_rejected(
        session,
        "uq_fills_user_id_execution_id",
        lambda: f.fill(session, alice, order_a, execution_id=fill.execution_id),
    )


def test_fills_are_immutable(session):
    owner = f.user(session)
    fill = f.fill(session, owner, f.order(session, owner))
    session.commit()
    with pytest.raises(DBAPIError, match="fills are immutable"), session.begin_nested():
        session.execute(update(m.Fill).where(m.Fill.id == fill.id).values(price=Decimal("1")))


@pytest.mark.parametrize(
    ("model", "values", "constraint"),
    [
        (m.Order, {"status": "done"}, "ck_orders_status"),
        (m.Order, {"order_type": "trailing"}, "ck_orders_order_type"),
        (m.Order, {"order_type": "limit"}, "ck_orders_limit_price_required"),
        (m.Order, {"order_type": "stop"}, "ck_orders_stop_price_required"),
        (m.Order, {"quantity": Decimal("0")}, "ck_orders_quantity_positive"),
        (m.Order, {"filled_quantity": Decimal("11")}, "ck_orders_filled_quantity_range"),
        (m.Order, {"side": "hold"}, "ck_orders_side"),
    ],
)
def test_order_checks(session, model, values, constraint):
    owner = f.user(session)
    assert_rejected(session, constraint, lambda: f.order(session, owner, **values))


@pytest.mark.parametrize(
    ("make", "constraint"),
    [
        (
            lambda s, u: f.add(s, m.User(email="r@example.com", username="rrr", password_hash="x", role="root")),
            "ck_users_role",
        ),
        (
            lambda s, u: f.add(s, m.User(email="Caps@Example.com", username="caps", password_hash="x")),
            "ck_users_email_lowercase",
        ),
        (
            lambda s, u: f.add(s, m.TradingSession(user_id=u.id, mode="DREAM", status="STOPPED")),
            "ck_trading_sessions_mode",
        ),
        (
            lambda s, u: f.add(s, m.TradingSession(user_id=u.id, mode="MANUAL", status="GONE")),
            "ck_trading_sessions_status",
        ),
        (lambda s, u: f.add(s, m.WaitlistEntry(name="n", email="w@example.com", status="maybe")), "ck_waitlist_status"),
        (
            lambda s, u: f.add(
                s,
                m.Position(user_id=u.id, symbol="AAPL", quantity=Decimal("-1"), cost_basis=Decimal("5"), status="OPEN"),
            ),
            "ck_positions_cost_basis_sign",  # a short (negative quantity) has a negative cost basis
        ),
        (
            lambda s, u: f.add(s, m.Position(user_id=u.id, symbol="AAPL", quantity=Decimal("5"), status="CLOSED")),
            "ck_positions_status_matches_quantity",
        ),
        (
            lambda s, u: f.add(s, m.Strategy(user_id=u.id, name="no code", kind="code")),
            "ck_strategies_code_strategy_has_code",
        ),
        (
            lambda s, u: f.add(
                s, m.Strategy(user_id=u.id, name="f", python_code="x", implied_strategy_family="astrology")
            ),
            "ck_strategies_implied_strategy_family",
        ),
        (
            lambda s, u: f.add(s, m.BatchJob(user_id=u.id, name="b", strategy_snapshot={}, total=2, completed=3)),
            "ck_batch_jobs_progress_range",
        ),
    ],
)
def test_enumerations_and_ranges_are_checked(session, make, constraint):
    owner = f.user(session)
    assert_rejected(session, constraint, lambda: make(session, owner))


def test_journal_checks(session):
    owner = f.user(session)
    fill = f.fill(session, owner, f.order(session, owner))
    assert_rejected(
        session,
        "ck_decision_contexts_context_type",
        lambda: f.add(session, m.DecisionContext(user_id=owner.id, fill_id=fill.id, context_type="whim")),
    )
    ctx = f.add(session, m.DecisionContext(user_id=owner.id, fill_id=fill.id, context_type="entry"))
    check = {"decision_context_id": ctx.id, "user_id": owner.id, "check_type": "size", "passed": False}
    assert_rejected(
        session,
        "ck_campaign_checks_severity",
        lambda: f.add(session, m.CampaignCheck(**check, severity="block", check_phase="pre_trade")),
    )
    assert_rejected(
        session,
        "ck_campaign_checks_check_phase",
        lambda: f.add(session, m.CampaignCheck(**check, severity="warn", check_phase="someday")),
    )
    f.add(session, m.CampaignFill(user_id=owner.id, group_id=fill.id, fill_id=fill.id))
    assert_rejected(
        session,
        "uq_campaign_fills_group_id_fill_id",
        lambda: f.add(session, m.CampaignFill(user_id=owner.id, group_id=fill.id, fill_id=fill.id)),
    )


def test_updated_at_moves_on_update(db):
    with db.session_factory() as s:
        owner = f.user(s)
        s.commit()
        created = owner.updated_at
    with db.engine.begin() as conn:
        conn.execute(text("SELECT pg_sleep(0.01)"))
        conn.execute(text("UPDATE users SET display_name = 'Al' WHERE id = :id"), {"id": owner.id})
        updated = conn.execute(text("SELECT updated_at FROM users WHERE id = :id"), {"id": owner.id}).scalar()
    assert updated > created


@pytest.mark.parametrize("table", ["users", "orders", "positions"])
def test_updated_at_is_set_by_the_trigger_unless_the_statement_sets_it(db, table):
    """On the tables the ledger updates on every trade, its own statements set updated_at themselves (revision
    0006 skips the trigger call for them); every other writer still gets now() from the trigger."""
    with db.session_factory() as s:
        owner = f.user(s)
        s.commit()
    with db.engine.begin() as conn:
        row_id = _row_with_updated_at(conn, table, owner.id)
        conn.execute(text(f"UPDATE {table} SET updated_at = '2001-02-03T04:05:06Z' WHERE id = :id"), {"id": row_id})
    with db.engine.begin() as conn:
        kept = conn.execute(text(f"SELECT updated_at FROM {table} WHERE id = :id"), {"id": row_id}).scalar()
        conn.execute(text(f"UPDATE {table} SET created_at = created_at WHERE id = :id"), {"id": row_id})
        moved = conn.execute(text(f"SELECT updated_at FROM {table} WHERE id = :id"), {"id": row_id}).scalar()
        now = conn.execute(text("SELECT now()")).scalar()
    assert kept == datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert moved == now


def _row_with_updated_at(conn, table: str, user_id) -> object:
    if table == "users":
        return user_id
    if table == "orders":
        values = "(gen_random_uuid(), :u, 'sf-t', 'sim', 'AAPL', 'buy', 'market', 'day', 1, 'accepted')"
        sql = f"INSERT INTO orders (id, user_id, client_order_id, broker, symbol, side, order_type, time_in_force, " \
              f"quantity, status) VALUES {values} RETURNING id"  # fmt: skip
    else:
        sql = "INSERT INTO positions (id, user_id, symbol) VALUES (gen_random_uuid(), :u, 'AAPL') RETURNING id"
    return conn.execute(text(sql), {"u": user_id}).scalar()


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_deleting_a_user_removes_everything_that_is_theirs(session):
    owner, other = f.user(session, "gone"), f.user(session, "stays")
    strat = f.strategy(session, owner)
    f.add(session, m.UserProfile(user_id=owner.id))
    f.add(
        session,
        m.RiskSettings(
            user_id=owner.id,
            daily_loss_limit=1,
            max_position_size=1,
            max_order_value=1,
            max_open_orders=1,
            max_drawdown_percent=10,
            max_risk_per_trade=1,
        ),
    )
    f.add(
        session,
        m.LoginSession(user_id=owner.id, token_hash="h" * 64, expires_at=f.T0 + timedelta(days=1), created_at=f.T0),
    )
    run = f.trading_session(session, owner, strat)
    sig = f.add(session, m.Signal(session_id=run.id, user_id=owner.id, symbol="AAPL", action="BUY"))
    order = f.order(session, owner, session_id=run.id, signal_id=sig.id)
    fill = f.fill(session, owner, order)
    pos = f.add(session, m.Position(user_id=owner.id, symbol="AAPL", quantity=Decimal("10"), status="OPEN"))
    f.add(
        session,
        m.PositionHistory(
            position_id=pos.id,
            fill_id=fill.id,
            action="OPEN",
            quantity=Decimal("10"),
            price=Decimal("1"),
            quantity_after=Decimal("10"),
            average_price_after=Decimal("1"),
            timestamp=f.T0,
        ),
    )
    ctx = f.add(session, m.DecisionContext(user_id=owner.id, fill_id=fill.id, context_type="entry"))
    f.add(
        session,
        m.CampaignCheck(
            decision_context_id=ctx.id,
            user_id=owner.id,
            check_type="x",
            severity="info",
            passed=True,
            check_phase="pre_trade",
        ),
    )
    job = f.add(session, m.BatchJob(user_id=owner.id, name="sweep", strategy_snapshot={}))
    f.add(
        session,
        m.BacktestResult(user_id=owner.id, strategy_id=strat.id, start_at=f.T0, end_at=f.T0, strategy_snapshot={}),
    )
    kept = f.strategy(session, other)

    session.execute(delete(m.User).where(m.User.id == owner.id))
    for model in (
        m.UserProfile,
        m.RiskSettings,
        m.LoginSession,
        m.TradingSession,
        m.Signal,
        m.Order,
        m.Fill,
        m.Position,
        m.PositionHistory,
        m.DecisionContext,
        m.CampaignCheck,
        m.BacktestResult,
    ):
        assert count(session, model) == 0, model.__tablename__
    session.expire_all()
    assert session.get(m.BatchJob, job.id).user_id is None  # 002: batch history outlives its user (SET NULL)
    assert session.get(m.Strategy, kept.id) is not None


def test_deleting_a_strategy_keeps_history_but_drops_versions(session):
    owner = f.user(session)
    strat = f.strategy(session, owner)
    f.add(session, m.StrategyVersion(strategy_id=strat.id, version=1, python_code="v1"))
    run = f.trading_session(session, owner, strat)
    result = f.add(
        session,
        m.BacktestResult(
            user_id=owner.id, strategy_id=strat.id, start_at=f.T0, end_at=f.T0, strategy_snapshot={"code": "v1"}
        ),
    )
    session.execute(delete(m.Strategy).where(m.Strategy.id == strat.id))
    session.expire_all()
    assert count(session, m.StrategyVersion) == 0
    assert session.get(m.TradingSession, run.id).strategy_id is None
    assert session.get(m.BacktestResult, result.id).strategy_snapshot == {"code": "v1"}


def test_deleting_a_ticker_removes_its_sync_log_and_features(session):
    """Bars carry no foreign key (migration 0004: too dear per bulk-inserted row); BarStore.forget deletes them."""
    tick = f.ticker(session)
    f.bar(session, tick)
    f.add(
        session, m.DataSyncLog(ticker_id=tick.id, timeframe="1Min", range_start=f.T0, range_end=f.T0, status="success")
    )
    f.add(
        session,
        m.ComputedFeature(ticker_id=tick.id, timeframe="1Min", timestamp=f.T0, feature_version="v1", state_id=-1),
    )
    session.execute(delete(m.OhlcvBar).where(m.OhlcvBar.ticker_id == tick.id))  # cascades to its features
    session.execute(delete(m.Ticker).where(m.Ticker.id == tick.id))
    assert (count(session, m.OhlcvBar), count(session, m.DataSyncLog), count(session, m.ComputedFeature)) == (0, 0, 0)


def test_features_need_their_bar(session):
    tick = f.ticker(session)
    assert_rejected(
        session,
        "fk_computed_features_bar_ohlcv_bars",
        lambda: f.add(
            session, m.ComputedFeature(ticker_id=tick.id, timeframe="1Min", timestamp=f.T0, feature_version="v1")
        ),
    )


def test_an_order_with_fills_cannot_be_deleted_alone_and_batch_runs_follow_their_job(session):
    owner = f.user(session)
    order = f.order(session, owner)
    f.fill(session, owner, order)
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(delete(m.Order).where(m.Order.id == order.id))
    job = f.add(session, m.BatchJob(user_id=owner.id, name="sweep", strategy_snapshot={}, total=1))
    f.add(session, m.BatchJobRun(batch_job_id=job.id, run_index=0, variables={"period": 14}))
    assert_rejected(
        session,
        "uq_batch_job_runs_batch_job_id_run_index",
        lambda: f.add(session, m.BatchJobRun(batch_job_id=job.id, run_index=0, variables={})),
    )
    session.execute(delete(m.BatchJob).where(m.BatchJob.id == job.id))
    assert count(session, m.BatchJobRun) == 0
