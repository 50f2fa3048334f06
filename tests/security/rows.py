"""What the attacker's suite knows about the schema: every table's class, and a valid fresh row of each.

The classes are the contract of issue 26 ("Who may do what"), written here independently of the migration so the
suite checks the migration against the contract, not against itself. ``test_catalog`` fails when the database
holds a table no class names: a new table needs a decision before it ships.

``new_row(table, books)`` builds a row owned by ``books``'s user (hanging from that user's seeded parents), with
fresh values for every unique column: the superuser seeds with it, and alice attacks with it (a row of bob's, or
a row of her own the contract allows or forbids).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)

# --- the contract's classes ---------------------------------------------------------------------------------
# A trader reads and writes its own rows (children: through their parent).
OWN_READ_WRITE = (
    "user_profiles", "user_rules", "risk_settings", "login_sessions", "broker_connections", "backtest_results",
    "batch_jobs", "batch_job_runs", "variable_lists", "decision_contexts", "campaign_checks", "campaign_fills",
    "journal_entries", "strategies", "strategy_versions", "trading_sessions", "session_snapshots",
    "strategy_performance", "signals",
)  # fmt: skip
# A trader reads its own rows; the club service writes them (fills: the trader may also import its own).
OWN_READ_ONLY = ("users", "orders", "positions", "position_history", "fills")
REQUESTS = ("order_requests",)
AUDIT = ("trade_logs", "system_logs", "api_usage_logs")
USER_OWNED = (*OWN_READ_WRITE, *OWN_READ_ONLY, *REQUESTS, *AUDIT)
SHARED_READ_ONLY = (
    "tickers", "ohlcv_bars", "data_sync_log", "computed_features", "probe_strategies", "strategy_probe_results",
    "strategy_probe_trades", "alembic_version",
)  # fmt: skip
# Not the trader's at all: the router's tables, the sign-up requests, the role-to-user map.
CLUB_ONLY = (
    "club_route_steps", "club_route_allocations", "club_follows", "club_stop_triggers", "waitlist", "club_members",
)  # fmt: skip
CLASSES = {"user-owned": USER_OWNED, "shared read-only": SHARED_READ_ONLY, "club-only": CLUB_ONLY}

# Children without a user column, owned through the parent the contract names: (their column, the parent table).
CHILDREN = {
    "batch_job_runs": ("batch_job_id", "batch_jobs"),
    "session_snapshots": ("session_id", "trading_sessions"),
    "strategy_versions": ("strategy_id", "strategies"),
    "position_history": ("position_id", "positions"),
}
# One row per user at most (a unique user_id): alice's own insert must first delete her seeded row.
ONE_PER_USER = ("user_profiles", "risk_settings")
# The users columns a trader may change on its own row (contract); every other one is the club's or the admin's.
USER_EDITABLE = (
    "display_name", "avatar_url", "phone", "address", "date_of_birth", "gender", "preferences", "last_login_at",
)  # fmt: skip
USER_FORBIDDEN = {
    "virtual_balance": "1000000000", "reserved_balance": "0", "starting_balance": "1000000000",
    "realized_pnl": "1000000", "fees_paid": "0", "realized_day_pnl": "1000000", "role": "'admin'",
    "is_active": "true", "username": "'someone_else'", "email": "'someone@example.com'", "password_hash": "'x'",
}  # fmt: skip

# The row's key (what the suite names rows by) where it is not ``id``.
KEYS = {
    "club_members": "role_name", "club_route_allocations": "step_id", "club_follows": "order_id",
    "club_stop_triggers": "order_id", "ohlcv_bars": "ticker_id", "alembic_version": "version_num",
}  # fmt: skip

# An UPDATE's SET clause that changes something visible, per table (the attacks' payload).
MUTATIONS = {
    "users": "display_name = 'pwned'",
    "user_profiles": "profile = '{\"pwned\": true}'",
    "risk_settings": "daily_loss_limit = 0",
    "user_rules": "description = 'pwned'",
    "login_sessions": "user_agent = 'pwned'",
    "broker_connections": "label = 'pwned ' || id",
    "variable_lists": "description = 'pwned'",
    "strategies": "description = 'pwned'",
    "strategy_versions": "change_note = 'pwned'",
    "strategy_performance": "total_pnl = 666",
    "backtest_results": "name = 'pwned'",
    "batch_jobs": "name = 'pwned'",
    "batch_job_runs": "error = 'pwned'",
    "trading_sessions": "error_message = 'pwned'",
    "session_snapshots": "equity = 666",
    "signals": "reason = 'pwned'",
    "orders": "status = 'canceled'",
    "fills": "broker = 'pwned'",
    "positions": "metadata = '{\"pwned\": true}'",
    "position_history": "pnl = 666",
    "decision_contexts": "notes = 'pwned'",
    "campaign_checks": "nudge_text = 'pwned'",
    "campaign_fills": "created_at = created_at - interval '1 day'",
    "journal_entries": "content = 'pwned'",
    "trade_logs": "message = 'pwned'",
    "system_logs": "message = 'pwned'",
    "api_usage_logs": "endpoint = 'pwned'",
    "order_requests": "status = 'withdrawn'",
    "club_members": "created_at = created_at - interval '1 day'",
    "waitlist": "notes = 'pwned'",
    "club_route_steps": "error = 'pwned'",
    "club_route_allocations": "priority = 99",
    "club_follows": "price = 1",
    "club_stop_triggers": "triggered_at = triggered_at - interval '1 day'",
    "tickers": "name = 'pwned'",
    "ohlcv_bars": "volume = 0",
    "data_sync_log": "error_message = 'pwned'",
    "computed_features": "model_id = 'pwned'",
    "probe_strategies": "display_name = 'pwned'",
    "strategy_probe_results": "total_trades = 99",
    "strategy_probe_trades": "pnl = 666",
    "alembic_version": "version_num = 'pwned'",
}


def key(table: str) -> str:
    return KEYS.get(table, "id")


@dataclass
class Books:
    """One user's seeded rows: table -> keys, in the order they were made (the first is the one others hang from)."""

    name: str
    user_id: uuid.UUID
    role: str = ""  # the login role, once approved
    rows: dict[str, list[Any]] = field(default_factory=dict)
    public: set[Any] = field(default_factory=set)  # keys of rows other traders may read (public strategies)

    def first(self, table: str) -> Any:
        return self.rows[table][0]

    def keys(self, table: str) -> list[Any]:
        return self.rows.get(table, [])

    def private(self, table: str) -> list[Any]:
        return [k for k in self.keys(table) if k not in self.public]


def _hex() -> str:
    return uuid.uuid4().hex


def _day() -> date:
    """A date no other row of the suite picks (unique per parent and day)."""
    return date(2000, 1, 1) + timedelta(days=uuid.uuid4().int % 2_000_000)


def ticket_json(symbol: str = "AAPL", qty: str = "1", side: str = "buy") -> dict[str, Any]:
    """An order_requests ticket as the contract spells it: OrderTicket's fields, decimals as strings."""
    return {
        "symbol": symbol, "side": side, "qty": qty, "type": "market", "time_in_force": "day",
        "limit_price": None, "stop_price": None, "take_profit_price": None, "stop_loss_price": None,
    }  # fmt: skip


def new_row(table: str, books: Books, *, strategy: Any = None) -> dict[str, Any]:
    """A fresh valid row of ``table`` for ``books``'s user; ``strategy`` picks which of its strategies to hang from."""
    uid = books.user_id
    first = books.first
    strategy = strategy if strategy is not None else (first("strategies") if "strategies" in books.rows else None)
    match table:
        case "users":
            name = f"u_{_hex()[:12]}"
            return {"email": f"{name}@example.com", "username": name, "password_hash": "x"}
        case "user_profiles":
            return {"user_id": uid, "profile": Jsonb({"bio": books.name})}
        case "risk_settings":
            return risk_row(uid)
        case "user_rules":
            return {"user_id": uid, "rule_code": f"rule_{_hex()[:8]}", "evaluator": "max_trades_per_day"}
        case "login_sessions":
            return {"user_id": uid, "token_hash": _hex() + _hex(), "expires_at": datetime.now(UTC) + timedelta(days=1)}
        case "broker_connections":
            return {"user_id": uid, "broker": "csv", "label": f"import {_hex()[:8]}"}
        case "variable_lists":
            return {"user_id": uid, "name": f"list {_hex()[:8]}", "type": "ticker", "values": Jsonb(["AAPL"])}
        case "strategies":
            return {"user_id": uid, "name": f"{books.name} {_hex()[:8]}", "python_code": "class S: pass"}
        case "strategy_versions":
            return {"strategy_id": strategy, "version": 2 + uuid.uuid4().int % 1_000_000, "python_code": "pass"}
        case "strategy_performance":
            return {"strategy_id": strategy, "user_id": uid, "date": _day()}
        case "backtest_results":
            return {
                "user_id": uid, "strategy_id": strategy, "start_at": T0 - timedelta(days=30), "end_at": T0,
                "strategy_snapshot": Jsonb({}), "name": f"{books.name}'s backtest",
            }  # fmt: skip
        case "batch_jobs":
            return {"user_id": uid, "strategy_id": strategy, "name": f"batch {_hex()[:8]}",
                    "strategy_snapshot": Jsonb({})}  # fmt: skip
        case "batch_job_runs":
            return {"batch_job_id": first("batch_jobs"), "run_index": uuid.uuid4().int % 1_000_000,
                    "variables": Jsonb({})}  # fmt: skip
        case "trading_sessions":
            return {"user_id": uid, "strategy_id": strategy, "mode": "PAPER", "status": "STOPPED"}
        case "session_snapshots":
            return {"session_id": first("trading_sessions"), "snapshot_date": _day(), "equity": Decimal(1000)}
        case "signals":
            return {"session_id": first("trading_sessions"), "user_id": uid, "symbol": "AAPL", "action": "BUY"}
        case "orders":
            return {
                "user_id": uid, "session_id": first("trading_sessions"), "signal_id": first("signals"),
                "strategy_id": strategy, "client_order_id": f"sf-{_hex()}", "symbol": "AAPL", "side": "buy",
                "order_type": "market", "quantity": Decimal(1), "status": "filled", "filled_quantity": Decimal(1),
                "filled_avg_price": Decimal(100), "broker": "sim",
            }  # fmt: skip
        case "fills":  # a ledger fill of the user's first order
            return {
                "user_id": uid, "order_id": first("orders"), "execution_id": f"x-{_hex()}", "symbol": "AAPL",
                "side": "buy", "quantity": Decimal(1), "price": Decimal(100), "executed_at": T0, "source": "ledger",
            }  # fmt: skip
        case "positions":
            return {
                "user_id": uid, "symbol": f"Z{_hex()[:6].upper()}", "quantity": Decimal(1),
                "average_entry_price": Decimal(100), "cost_basis": Decimal(100), "status": "OPEN", "opened_at": T0,
            }  # fmt: skip
        case "position_history":
            return {
                "position_id": first("positions"), "action": "OPEN", "quantity": Decimal(1), "price": Decimal(100),
                "quantity_after": Decimal(1), "average_price_after": Decimal(100), "timestamp": T0,
            }  # fmt: skip
        case "decision_contexts":  # fill_id is unique: a new one hangs from the user's last (imported) fill
            return {"user_id": uid, "fill_id": books.keys("fills")[-1], "context_type": "entry", "notes": "why"}
        case "campaign_checks":
            return {
                "user_id": uid, "decision_context_id": first("decision_contexts"), "check_type": "size",
                "severity": "info", "passed": True, "check_phase": "at_entry",
            }  # fmt: skip
        case "campaign_fills":  # (group, fill) is unique: a new one pairs the first fill with the last
            return {"user_id": uid, "group_id": first("fills"), "fill_id": books.keys("fills")[-1]}
        case "journal_entries":
            return {"user_id": uid, "entry_date": T0.date(), "entry_type": "note", "content": f"{books.name} writes"}
        case "trade_logs":
            return {"order_id": first("orders"), "user_id": uid, "log_level": "INFO", "message": "placed"}
        case "system_logs":
            return {"component": "app", "log_level": "INFO", "message": f"{books.name} was here", "user_id": uid}
        case "api_usage_logs":
            return {"user_id": uid, "endpoint": "/v2/orders", "method": "POST", "status_code": 200}
        case "order_requests":
            return {"user_id": uid, "kind": "place", "ticket": Jsonb(ticket_json())}
        case "waitlist":
            return {
                "name": books.name, "email": f"{books.name}-{_hex()[:6]}@example.com", "status": "approved",
                "username": books.name, "user_id": uid,
            }  # fmt: skip
        case "club_route_steps":
            return {"symbol": "AAPL", "purpose": "net", "side": "buy", "street_qty": Decimal(1), "status": "done"}
        case "club_route_allocations":
            return {"step_id": first("club_route_steps"), "order_id": first("orders"), "kind": "street", "priority": 0,
                    "qty": Decimal(1)}  # fmt: skip
        case "club_follows":
            return {"order_id": first("orders"), "symbol": "AAPL", "side": "buy", "qty": Decimal(1),
                    "price": Decimal(100)}  # fmt: skip
        case "club_stop_triggers":
            return {"order_id": first("orders")}
    raise KeyError(f"no row template for {table}")


def risk_row(user_id: uuid.UUID) -> dict[str, Any]:
    """Generous limits: the suite's orders are refused by the database's roles, never by a risk rule."""
    return {
        "user_id": user_id, "daily_loss_limit": Decimal(50_000), "max_position_size": Decimal(1_000_000),
        "max_order_value": Decimal(1_000_000), "max_open_orders": 100, "max_drawdown_percent": Decimal(100),
        "max_risk_per_trade": Decimal(100), "duplicate_window_seconds": 0,
    }  # fmt: skip


def imported_fill(books: Books) -> dict[str, Any]:
    """A fill the trader imported (a broker's CSV): no order, not the ledger's; the one kind a trader may write."""
    return {
        "user_id": books.user_id, "execution_id": f"csv-{_hex()}", "symbol": "MSFT", "side": "buy",
        "quantity": Decimal(2), "price": Decimal(400), "executed_at": T0, "source": "csv_import",
    }  # fmt: skip


def insert(conn: psycopg.Connection, table: str, values: dict[str, Any], *, returning: str | None = None) -> Any:
    """INSERT one row; with ``returning``, the value of that column."""
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, values)),
        sql.SQL(", ").join(sql.Placeholder(k) for k in values),
    )
    if returning is None:
        conn.execute(query, values)
        return None
    row = conn.execute(query + sql.SQL(" RETURNING {}").format(sql.Identifier(returning)), values).fetchone()
    assert row is not None
    return row[0]


# The order books are seeded in (parents before children).
SEED_ORDER = (
    "user_profiles", "risk_settings", "user_rules", "login_sessions", "broker_connections", "variable_lists",
    "strategies", "strategy_versions", "strategy_performance", "backtest_results", "batch_jobs", "batch_job_runs",
    "trading_sessions", "session_snapshots", "signals", "orders", "fills", "positions", "position_history",
    "decision_contexts", "campaign_checks", "campaign_fills", "journal_entries", "trade_logs", "system_logs",
    "api_usage_logs", "order_requests", "waitlist", "club_route_steps", "club_route_allocations", "club_follows",
    "club_stop_triggers",
)  # fmt: skip


def seed_books(su: psycopg.Connection, name: str, *, role: str = "trader") -> Books:
    """As the superuser: a user and one row of theirs in every table that holds users' rows.

    Besides: a second, public strategy (with a version) other traders may read, and an imported fill (which
    the user's second decision context and campaign fill hang from).
    """
    user_id = insert(
        su, "users", {"email": f"{name}@example.com", "username": name, "password_hash": "x", "role": role,
                      "display_name": name.title()}, returning="id",
    )  # fmt: skip
    books = Books(name, user_id, rows={"users": [user_id]})
    for table in SEED_ORDER:
        row = new_row(table, books)
        if table == "position_history":  # the seeded history line is the seeded fill's
            row["fill_id"] = books.first("fills")
        if table == "positions":
            row["symbol"] = "AAPL"
        if table == "decision_contexts":
            row["fill_id"] = books.first("fills")
        if table == "campaign_fills":
            row["fill_id"] = books.first("fills")
        books.rows.setdefault(table, []).append(insert(su, table, row, returning=key(table)))
        if table == "strategies":
            public = insert(su, table, new_row(table, books) | {"is_public": True}, returning="id")
            books.rows[table].append(public)
            books.public.add(public)
        if table == "strategy_versions":
            version = insert(su, table, new_row(table, books, strategy=books.rows["strategies"][1]), returning="id")
            books.rows[table].append(version)
            books.public.add(version)
        if table == "fills":
            books.rows[table].append(insert(su, table, imported_fill(books), returning="id"))
    return books
