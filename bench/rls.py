"""What row-level security costs a trader's reads: the same queries as the database's owner and as the trader's
own role (migration 0012), on a club of many traders.

    python -m bench.rls [--quick] [--url postgresql://...] [--traders 100] [--fills 500]

The queries are the app's hottest reads: the ledger's books (``core.ledger.books.read_books``: cash, positions,
open orders, the day's realized P&L in one statement) and a page of the trade history. As the owner, row-level
security does not apply (solo mode); as the trader, every table adds ``user_id = (SELECT sf_uid())``.
Prints per query the median milliseconds of both and their ratio (``rls_books_ratio``, ``rls_fills_page_ratio``).
Without --url (or STRATFORGE_TEST_DATABASE_URL) it starts an embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

from bench.common import admin_server, drop_database, emit, scratch_url
from core.db import migrate
from core.db.club_roles import scram_verifier, trader_role
from core.db.engine import make_engine
from core.ledger.books import read_books

FILLS_PAGE = "SELECT id, symbol, side, quantity, price, executed_at FROM fills WHERE user_id = %s ORDER BY executed_at DESC LIMIT 200"  # noqa: E501


def _populate(conn: psycopg.Connection, traders: int, fills: int) -> list[tuple[uuid.UUID, str]]:
    """``traders`` members, each with ``fills`` imported fills, 5 positions and 3 open orders; their login roles."""
    database = conn.info.dbname
    members = []
    for i in range(traders):
        (uid,) = conn.execute(
            "INSERT INTO users (email, username, password_hash) VALUES (%s, %s, '!') RETURNING id",
            (f"t{i}@bench.io", f"bench{i}"),
        ).fetchone()  # type: ignore[misc]
        conn.execute(
            "INSERT INTO risk_settings (user_id, daily_loss_limit, max_position_size, max_order_value, "
            "max_open_orders, max_drawdown_percent, max_risk_per_trade) VALUES (%s, 3000, 20000, 25000, 20, 20, 2)",
            (uid,),
        )
        role = conn.execute(
            "SELECT sf_admin_grant_login(%s, %s)", (uid, scram_verifier(conn, "x", trader_role(database, f"bench{i}")))
        ).fetchone()[0]  # type: ignore[index]
        members.append((uid, role))
    conn.execute(
        "INSERT INTO fills (user_id, execution_id, symbol, side, quantity, price, executed_at, source) "
        "SELECT u.id, 'x-' || u.id || '-' || g, 'SYM' || (g %% 20), CASE WHEN g %% 2 = 0 THEN 'buy' ELSE 'sell' END, "
        "1, 100 + g %% 7, now() - make_interval(mins => g), 'csv_import' "
        "FROM users u CROSS JOIN generate_series(1, %s) g",
        (fills,),
    )
    conn.execute(
        "INSERT INTO positions (user_id, symbol, quantity, cost_basis, status) "
        "SELECT u.id, 'SYM' || g, 10, 1000, 'OPEN' FROM users u CROSS JOIN generate_series(1, 5) g"
    )
    conn.execute(
        "INSERT INTO orders (user_id, client_order_id, symbol, side, order_type, quantity, limit_price, status) "
        "SELECT u.id, 'sf-' || u.id || '-' || g, 'SYM' || g, 'buy', 'limit', 1, 90, 'accepted' "
        "FROM users u CROSS JOIN generate_series(1, 3) g"
    )
    conn.execute("ANALYZE")
    return members


def _median_ms(run: Callable[[], object], repeat: int) -> float:
    for _ in range(max(3, repeat // 10)):  # warm the plan cache and the buffers
        run()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def run(url: str, traders: int, fills: int, repeat: int) -> None:
    plain = make_url(url).set(drivername="postgresql")
    engine = make_engine(url, pool_size=1, max_overflow=0)
    migrate.upgrade(engine)
    engine.dispose()
    with psycopg.connect(plain.render_as_string(hide_password=False), autocommit=True) as owner:
        members = _populate(owner, traders, fills)
        me, role = members[len(members) // 2]
        as_trader = plain.set(username=role, password=None).render_as_string(hide_password=False)
        with psycopg.connect(as_trader, autocommit=True) as trader:
            assert read_books(trader, me) is not None, "the trader must see its own books"
            for name, query in (
                ("books", lambda c: read_books(c, me)),
                ("fills_page", lambda c: c.execute(FILLS_PAGE, (me,)).fetchall()),
            ):
                owner_ms = _median_ms(lambda q=query: q(owner), repeat)  # type: ignore[misc]
                trader_ms = _median_ms(lambda q=query: q(trader), repeat)  # type: ignore[misc]
                emit(f"rls_{name}_owner_ms", owner_ms, "ms", traders=traders, fills_per_trader=fills)
                emit(f"rls_{name}_trader_ms", trader_ms, "ms", traders=traders, fills_per_trader=fills)
                emit(f"rls_{name}_ratio", trader_ms / owner_ms, "x")
            others = trader.execute("SELECT count(*) FROM fills WHERE user_id <> %s", (me,)).fetchone()
            emit("rls_other_traders_fills_visible", float(others[0] if others else -1), "rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--url", default=os.environ.get("STRATFORGE_TEST_DATABASE_URL"))
    parser.add_argument("--traders", type=int, default=100)
    parser.add_argument("--fills", type=int, default=500)
    args = parser.parse_args()
    traders, fills, repeat = (10, 100, 30) if args.quick else (args.traders, args.fills, 300)
    with admin_server(args.url, "sf-bench-rls-") as admin:
        url = scratch_url(admin)
        try:
            run(url, traders, fills, repeat)
        finally:
            drop_database(admin, url)


if __name__ == "__main__":
    main()
