"""The schema exists only through Alembic: up, down and up again, and it matches the models."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from core.db import migrate
from core.db.base import Base, tables_with_updated_at
from core.db.engine import make_engine

SEED_TABLES = {
    # 000/001
    "users", "strategies", "trading_sessions", "signals", "fills", "positions", "ohlcv_bars",
    # 002
    "backtest_results", "batch_jobs", "batch_job_runs", "session_snapshots", "variable_lists", "orders",
    "api_usage_logs", "broker_connections",
    # 003
    "tickers", "computed_features", "data_sync_log", "user_profiles", "user_rules", "waitlist",
    "strategy_versions", "probe_strategies", "strategy_probe_results", "strategy_probe_trades",
    "decision_contexts", "campaign_checks", "campaign_fills", "journal_entries",
    # 004
    "risk_settings", "login_sessions", "position_history", "trade_logs", "strategy_performance", "system_logs",
    # issue 25: the club router's routing steps (core/db/models/club.py)
    "club_route_steps", "club_route_allocations", "club_follows", "club_stop_triggers",
    # issue 26: login roles of the club's members, and the traders' order requests
    "club_members", "order_requests",
}  # fmt: skip


def public_tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_upgrade(scratch_url):
    engine = make_engine(scratch_url, pool_size=1, max_overflow=0)
    try:
        migrate.upgrade(engine)
        assert public_tables(engine) == set(Base.metadata.tables) == SEED_TABLES
        assert migrate.current_revision(engine) == migrate.head_revision()

        migrate.downgrade(engine, "base")
        assert public_tables(engine) == set()
        assert migrate.current_revision(engine) is None
        with engine.connect() as conn:
            functions = conn.execute(text("SELECT proname FROM pg_proc WHERE proname LIKE 'stratforge_%'")).all()
        assert functions == []

        migrate.upgrade(engine)
        assert public_tables(engine) == SEED_TABLES
    finally:
        engine.dispose()


def test_models_and_migrations_agree(database):
    """A model change without a migration (or the reverse) fails here, not in a trader's database."""
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_every_updated_at_table_has_its_trigger(database):
    with database.engine.connect() as conn:
        triggered = set(
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE t.tgname LIKE 'trg_%_updated_at'"
                )
            ).scalars()
        )
    assert triggered == set(tables_with_updated_at())
    assert "users" in triggered and "orders" in triggered


def test_money_is_numeric_and_times_are_timestamptz(database):
    with database.engine.connect() as conn:
        naive = conn.execute(
            text(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND data_type = 'timestamp without time zone'"
            )
        ).all()
        types = dict(
            conn.execute(
                text(
                    "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'public'"
                )
            ).all()
        )
    assert naive == []
    for column in (
        "users.virtual_balance",
        "users.reserved_balance",
        "orders.limit_price",
        "fills.price",
        "fills.fees",
        "positions.average_entry_price",
        "risk_settings.daily_loss_limit",
    ):
        assert types[column] == "numeric", column
    assert types["ohlcv_bars.close"] == "double precision"  # bars are float64 arrays, not money


def test_admin_cli_upgrades_a_shared_database(scratch_url, capsys):
    from core.cli.db import main

    assert main(["--url", scratch_url, "current"]) == 0
    assert "revision none" in capsys.readouterr().out
    assert main(["--url", scratch_url, "upgrade"]) == 0
    assert f"revision {migrate.head_revision()}" in capsys.readouterr().out


def test_app_refuses_a_shared_database_behind_head(scratch_url, tmp_path):
    from core.config import Settings
    from core.db.database import open_database
    from core.db.errors import SchemaOutOfDate

    with pytest.raises(SchemaOutOfDate, match="stratforge-db upgrade"):
        open_database(Settings(data_dir=tmp_path, database_url=scratch_url))


def test_unreachable_shared_database_is_a_clear_error(tmp_path):
    from core.config import Settings
    from core.db.database import open_database
    from core.db.errors import DatabaseUnreachable

    url = "postgresql://nobody:secret@127.0.0.1:1/nowhere"  # port 1: connection refused at once
    with pytest.raises(DatabaseUnreachable, match="Cannot reach") as excinfo:
        open_database(Settings(data_dir=tmp_path, database_url=url))
    assert "secret" not in str(excinfo.value)


def test_the_days_realized_pnl_is_filled_in_from_the_fills_already_booked(scratch_url):
    """Revision 0008 keeps each user's latest day's realized P&L on the user's row; upgrading a database
    with fills already booked computes it from them (the latest UTC day's ledger fills, net of fees)."""
    engine = make_engine(scratch_url, pool_size=1, max_overflow=0)
    try:
        migrate.upgrade(engine, "0007")
        with engine.begin() as conn:
            user = conn.execute(
                text("INSERT INTO users (email, username, password_hash) VALUES ('a@example.com', 'ann', 'x')"
                     " RETURNING id")
            ).scalar()  # fmt: skip
            order = conn.execute(
                text("INSERT INTO orders (user_id, client_order_id, broker, symbol, side, order_type, time_in_force,"
                     " order_class, quantity, status) VALUES (:u, 'sf-1', 'sim', 'AAPL', 'sell', 'market', 'day',"
                     " 'simple', 3, 'filled') RETURNING id"),
                {"u": user},
            ).scalar()  # fmt: skip
            fills = [  # (execution id, executed at, realized P&L, fees, source)
                ("e1", "2026-03-02 20:59:00+00", -50, 1, "ledger"),  # the day before the latest
                ("e2", "2026-03-03 00:10:00+00", 30, 2, "ledger"),
                ("e3", "2026-03-03 23:59:00+00", -5, 0, "ledger"),
                ("e4", "2026-03-03 12:00:00+00", -1000, 0, "csv_import"),  # not the ledger's: never counted
            ]
            for execution_id, at, pnl, fees, source in fills:
                conn.execute(
                    text("INSERT INTO fills (user_id, order_id, execution_id, symbol, side, quantity, price, fees,"
                         " realized_pnl, executed_at, source) VALUES (:u, :o, :e, 'AAPL', 'sell', 1, 100, :f, :p,"
                         " :t, :s)"),
                    {"u": user, "o": order, "e": execution_id, "f": fees, "p": pnl, "t": at, "s": source},
                )  # fmt: skip
        migrate.upgrade(engine)
        with engine.connect() as conn:
            day, pnl = conn.execute(text("SELECT realized_day, realized_day_pnl FROM users")).one()
        assert (day.isoformat(), pnl) == ("2026-03-03", Decimal("23"))
        migrate.downgrade(engine, "0007")
        assert "realized_day" not in {c["name"] for c in inspect(engine).get_columns("users")}
    finally:
        engine.dispose()
