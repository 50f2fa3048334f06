"""The ledger's own SQL per order, driven by pgbench with no Python in the loop: the database's ceiling.

``bench.ledger`` measures the whole system. This one asks a narrower question: how many orders per second can
this machine's PostgreSQL take if the client cost nothing? Each pgbench transaction is one order of
``bench.ledger``'s mix, sent as the ledger sends it:

1. the placement: BEGIN, the locking read of ``core.ledger.placement`` (risk inputs under the account lock),
   the reservation and order insert, COMMIT;
2. the fill: one ``sf_apply_event`` call (the booking function of the migrations), as its own transaction.

As a yardstick the same run measures the *floor*: the locks and row writes any such design makes per order
(lock the user, reserve, insert the order, commit; lock, insert the fill, update the position, insert its
history, update the order and the user, commit) on bare tables with primary keys only, as plain statements.
``sql_vs_floor`` is the floor's CPU per order over ours: how much of the machine our schema, risk read and
booking function cost beyond the unavoidable.

Then both run again on fresh tables, *paced*: the clients together are offered ``--rate`` orders per second
(default 1,000, ``bench.ledger``'s paced phase) on pgbench's schedule, and every order's times are logged. The
wait from an order's scheduled time to the start of its placement is a lower bound on the placement latency
``bench.ledger`` reports; if even that misses a target, no client can meet it on this database and machine.

20 pgbench clients, one per user, each placing its next order when the last is booked (so a user's sells
never exceed what it holds). Sides and sizes follow ``bench.ledger``: buys of 1 to 3 shares, and a sell of one
share 40% of the time once 4 are held. Left out, being batched or occasional in the ledger: the acceptance
write, NOTIFY and the portfolio reads (about 0.2 ms of server CPU per order in ``bench.ledger``).

    python -m bench.ledger_sql [--quick] [--url postgresql://...] [--seconds 15] [--clients 20] [--rate 1000]

Needs the ``pgbench`` program (Debian: postgresql-client). Without --url (or STRATFORGE_TEST_DATABASE_URL)
an embedded PostgreSQL is started in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    admin_server,
    cpu_reference_ms,
    drop_database,
    emit,
    machine_cpu_s,
    percentile,
    scratch_url,
)
from bench.ledger import SYMBOLS, USERS
from core.accounts.defaults import default_risk_settings
from core.domain.money import MARKET_COLLAR
from core.ledger.placement import LOCK_ACCOUNT_SQL, RECORD_ORDER_SQL

# One order's inputs, chosen by the server so that pgbench needs no logic: the client's user, fresh ids, a
# symbol, the side and size, the reservation of a market buy at the fill price plus the collar, a fill price.
_CHOOSE = """
SELECT b.id AS uid, 'sf-' || replace(gen_random_uuid()::text, '-', '') AS coid, gen_random_uuid() AS oid,
       c.sym, c.side, c.qty, CASE c.side WHEN 'buy' THEN round(c.qty * c.px * (1 + {collar}), 6) ELSE 0 END AS held,
       c.px
  FROM bench_users b
 CROSS JOIN LATERAL (
        SELECT s.sym, CASE WHEN s.can_sell THEN 'sell' ELSE 'buy' END AS side,
               CASE WHEN s.can_sell THEN 1 ELSE 1 + floor(random() * 3)::int END AS qty, s.px
          FROM (SELECT sym, coalesce((SELECT quantity FROM positions p WHERE p.user_id = b.id AND p.symbol = sym),
                                     0) >= 4 AND random() < 0.4 AS can_sell,
                       round((99.5 + random())::numeric, 2) AS px
                  FROM (SELECT ({symbols})[1 + floor(random() * {n_symbols})::int] AS sym) pick) s) c
 WHERE b.n = :client_id
"""

_BOOK = """
SELECT outcome, owner_id FROM sf_apply_event('fill', :coid, 'b-' || :coid, 'filled', :qty, :qty, :px, NULL, now(),
                                             :px, :qty, 0, 'x-' || :coid, now(), NULL)
"""

_PLACEMENT_VALUES = {
    "now": "now()",
    "today": "(now() AT TIME ZONE 'UTC')::date",
    "id": ":oid",
    "user_id": ":uid",
    "symbol": ":sym",
    "client_order_id": ":coid",
    "broker": "'sim'",
    "side": ":side",
    "order_type": "'market'",
    "time_in_force": "'day'",
    "order_class": "'simple'",
    "quantity": ":qty::numeric",
    "held": ":held::numeric",
    "created_at": "now()",
    "session_id": "NULL::uuid",
    "signal_id": "NULL::uuid",
    "strategy_id": "NULL::uuid",
    "request_id": "NULL::uuid",
    "limit_price": "NULL::numeric",
    "stop_price": "NULL::numeric",
    "take_profit_price": "NULL::numeric",
    "stop_loss_price": "NULL::numeric",
    "leg_role": "NULL::text",
}


# The floor's bare tables, in their own schema of the scratch database.
_FLOOR_TABLES = """
CREATE SCHEMA floor;
CREATE TABLE floor.users (n int PRIMARY KEY, cash numeric NOT NULL, reserved numeric NOT NULL);
INSERT INTO floor.users SELECT g, 100000, 0 FROM generate_series(0, {last_user}) g;
CREATE TABLE floor.orders (id uuid PRIMARY KEY, user_n int NOT NULL, symbol text NOT NULL, qty numeric NOT NULL,
                           filled numeric NOT NULL DEFAULT 0, status text NOT NULL, reserved numeric NOT NULL);
CREATE TABLE floor.positions (user_n int, symbol text, qty numeric NOT NULL, cost numeric NOT NULL,
                              PRIMARY KEY (user_n, symbol));
INSERT INTO floor.positions SELECT g, s, 0, 0 FROM generate_series(0, {last_user}) g, unnest({symbols}) s;
CREATE TABLE floor.fills (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), execution_id text NOT NULL UNIQUE,
                          order_id uuid NOT NULL, qty numeric NOT NULL, price numeric NOT NULL);
CREATE TABLE floor.position_history (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), fill_id uuid NOT NULL,
                                     qty numeric NOT NULL, price numeric NOT NULL);
"""

# One command per entry; pgbench reads one per line.
_FLOOR_SCRIPT = (
    "\\set q random(1, 3)",
    "SELECT gen_random_uuid() AS oid, ({symbols})[1 + floor(random() * {n_symbols})::int] AS sym \\gset",
    "BEGIN;",
    "SELECT cash, reserved FROM floor.users WHERE n = :client_id FOR UPDATE;",
    "UPDATE floor.users SET cash = cash - :q * 103, reserved = reserved + :q * 103 WHERE n = :client_id;",
    """INSERT INTO floor.orders (id, user_n, symbol, qty, status, reserved)
       VALUES (:oid, :client_id, :sym, :q, 'pending', :q * 103);""",
    "COMMIT;",
    "BEGIN;",
    "SELECT 1 FROM floor.users WHERE n = :client_id FOR UPDATE;",
    "SELECT status FROM floor.orders WHERE id = :oid FOR UPDATE;",
    "SELECT qty FROM floor.positions WHERE user_n = :client_id AND symbol = :sym FOR UPDATE;",
    """INSERT INTO floor.fills (execution_id, order_id, qty, price) VALUES ('x-' || :oid, :oid, :q, 100)
       RETURNING id AS fill \\gset""",
    "UPDATE floor.positions SET qty = qty + :q, cost = cost + :q * 100 WHERE user_n = :client_id AND symbol = :sym;",
    "INSERT INTO floor.position_history (fill_id, qty, price) VALUES (:fill, :q, 100);",
    "UPDATE floor.orders SET filled = :q, status = 'filled', reserved = 0 WHERE id = :oid;",
    "UPDATE floor.users SET cash = cash + :q * 3, reserved = reserved - :q * 103 WHERE n = :client_id;",
    "COMMIT;",
)


def _symbols_array() -> str:
    return "ARRAY[{}]".format(", ".join(f"'{s}'" for s in SYMBOLS))


def _one_line(sql: str) -> str:
    """pgbench reads one SQL command per line."""
    return " ".join(sql.split())


def _pgbench_sql(sql: str, values: dict[str, str]) -> str:
    """The ledger's psycopg statement with each ``%(name)s`` replaced by a pgbench variable or SQL value."""
    return _one_line(re.sub(r"%\((\w+)\)s", lambda m: values[m.group(1)], sql))


def order_script() -> str:
    """The pgbench script of one order (placement transaction, then the fill's booking)."""
    values = {**_PLACEMENT_VALUES, "default_window": str(default_risk_settings(1)["duplicate_window_seconds"])}
    choose = _CHOOSE.format(
        collar=MARKET_COLLAR,
        symbols=_symbols_array(),
        n_symbols=len(SYMBOLS),
    )
    lines = [
        _one_line(choose) + " \\gset",
        "BEGIN;",
        _pgbench_sql(LOCK_ACCOUNT_SQL, values) + ";",
        _pgbench_sql(RECORD_ORDER_SQL, values) + ";",
        "COMMIT;",
        _one_line(_BOOK) + ";",
    ]
    return "\n".join(lines) + "\n"


def floor_script() -> str:
    """The pgbench script of the floor: the same locks and row writes on the bare tables of ``_FLOOR_TABLES``."""
    lines = (_one_line(command) for command in _FLOOR_SCRIPT)
    return "\n".join(lines).format(symbols=_symbols_array(), n_symbols=len(SYMBOLS)) + "\n"


@dataclass(frozen=True)
class PacedLatencies:
    """Per-order times of a run paced with ``pgbench --rate``, in ms, each list sorted.

    ``lag`` is the wait from an order's scheduled time to the start of its placement: a lower bound on the
    placement latency ``bench.ledger`` measures (from the scheduled time to the placement's return).
    ``order`` is from the scheduled time to the end of the order's booking: an upper bound on it."""

    lag: list[float]
    order: list[float]


def paced_latencies(log_lines: Iterable[str]) -> PacedLatencies:
    """Parse pgbench's per-transaction log of a ``--rate`` run (``client_id transaction_no time script_no
    time_epoch time_us schedule_lag``, times in microseconds; ``time`` counts from the transaction's start)."""
    lag: list[float] = []
    order: list[float] = []
    for line in log_lines:
        fields = line.split()
        if len(fields) < 7:
            raise ValueError(f"not a pgbench log line of a paced run: {line!r}")
        elapsed_us, lag_us = int(fields[2]), int(fields[6])
        lag.append(lag_us / 1e3)
        order.append((elapsed_us + lag_us) / 1e3)
    return PacedLatencies(sorted(lag), sorted(order))


@dataclass(frozen=True)
class PgbenchRun:
    orders: int
    orders_per_s: float
    machine_cpu_s: float | None
    latency_ms: float
    seconds: float
    paced: PacedLatencies | None = None  # with an offered rate only

    @property
    def cpu_ms_per_order(self) -> float | None:
        """The whole machine's busy CPU (PostgreSQL and pgbench) per order, in ms."""
        return None if self.machine_cpu_s is None else 1e3 * self.machine_cpu_s / self.orders

    def detail(self, clients: int) -> dict[str, object]:
        cpu = self.cpu_ms_per_order
        return {
            "orders": self.orders, "clients": clients, "seconds": round(self.seconds, 2),
            "latency_ms": self.latency_ms, "machine_cpu_ms_per_order": None if cpu is None else round(cpu, 3),
        }  # fmt: skip

    def paced_detail(self, clients: int, rate: float) -> dict[str, object]:
        assert self.paced is not None
        lag, order = self.paced.lag, self.paced.order
        return {
            **self.detail(clients), "offered_per_s": rate, "lag_p50_ms": round(percentile(lag, 0.5), 2),
            "order_p50_ms": round(percentile(order, 0.5), 2), "order_p99_ms": round(percentile(order, 0.99), 2),
        }  # fmt: skip


def run_pgbench(url: str, script: str, clients: int, seconds: float, rate: float | None = None) -> PgbenchRun:
    """Run ``script`` on ``url`` with ``clients`` connections; the machine's busy CPU over the run.

    With ``rate``, the clients together are offered that many transactions per second on a schedule (pgbench
    ``--rate``), and every transaction's times are logged and returned (``PgbenchRun.paced``)."""
    from sqlalchemy.engine import make_url

    # pgbench takes a whole libpq URL where it wants the database name (a socket directory included).
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with tempfile.TemporaryDirectory(prefix="sf-pgbench-") as tmp:
        path = Path(tmp) / "order.sql"
        path.write_text(script)
        command = ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(int(seconds)),
                   "-f", str(path), libpq]  # fmt: skip
        if rate is not None:
            command[1:1] = ["--rate", str(rate), "--log", f"--log-prefix={Path(tmp) / 'paced'}"]
        before, started = machine_cpu_s(), time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
        after, elapsed = machine_cpu_s(), time.perf_counter() - started
        logs = sorted(Path(tmp).glob("paced*"))
        paced = paced_latencies(line for log in logs for line in log.read_text().splitlines()) if logs else None
    out = done.stdout + done.stderr
    processed = re.search(r"number of transactions actually processed: (\d+)", out)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    latency = re.search(r"latency average = ([\d.]+) ms", out)
    if done.returncode != 0 or not (processed and tps and latency) or (failed and int(failed.group(1))):
        raise RuntimeError(f"pgbench failed (exit {done.returncode}):\n{out[-3000:]}")
    return PgbenchRun(
        orders=int(processed.group(1)),
        orders_per_s=float(tps.group(1)),
        machine_cpu_s=None if before is None or after is None else after - before,
        latency_ms=float(latency.group(1)),
        seconds=elapsed,
        paced=paced,
    )


def prepare(url: str) -> None:
    """Migrate, sign the users up with the benchmark's risk settings, map pgbench clients to users, and
    create the floor's bare tables."""
    from sqlalchemy import text

    from bench.ledger import sign_up_traders
    from core.db import migrate
    from core.db.engine import make_engine, make_session_factory

    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        sessions = make_session_factory(engine)
        ids = sign_up_traders(sessions)
        with sessions() as s:
            s.execute(text("CREATE TABLE bench_users (n int PRIMARY KEY, id uuid NOT NULL)"))
            s.execute(
                text("INSERT INTO bench_users (n, id) VALUES (:n, :id)"), [{"n": n, "id": i} for n, i in enumerate(ids)]
            )
            for statement in _FLOOR_TABLES.format(last_user=USERS - 1, symbols=_symbols_array()).split(";"):
                if statement.strip():
                    s.execute(text(statement))
            s.commit()
    finally:
        engine.dispose()


def check_books(url: str) -> int:
    """Users whose books break the ledger's invariant after the run (core.ledger.invariant)."""
    from core.db.engine import make_engine, make_session_factory
    from core.ledger.invariant import check_all

    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as s:
            return sum(not r.holds for r in check_all(s))
    finally:
        engine.dispose()


def saturated_run(admin: str, seconds: float, clients: int = USERS) -> tuple[PgbenchRun, int]:
    """``sql_orders_per_s``'s run alone, on a scratch database of its own: the run, and the users whose books
    break the invariant after it. ``bench.ledger`` runs it beside its saturated phase (``ledger_vs_sql_ceiling``)."""
    url = scratch_url(admin)
    try:
        prepare(url)
        run = run_pgbench(url, order_script(), clients, seconds)
        return run, check_books(url)
    finally:
        drop_database(admin, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--url", default=os.environ.get("STRATFORGE_TEST_DATABASE_URL"))
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--clients", type=int, default=USERS, help=f"pgbench connections (at most {USERS})")
    parser.add_argument("--rate", type=float, default=1000.0, help="orders per second offered in the paced runs")
    args = parser.parse_args()
    if shutil.which("pgbench") is None:
        sys.exit("bench.ledger_sql needs the pgbench program (Debian: apt install postgresql-client)")
    seconds = args.seconds or (5 if args.quick else 15)
    clients = min(args.clients, USERS)

    emit("cpu_reference_ms", cpu_reference_ms(), "ms", measures="this machine's speed now (bench.common)")
    with admin_server(args.url, "sf-bench-ledger-sql-") as admin:
        url = scratch_url(admin)
        try:
            prepare(url)
            ours = run_pgbench(url, order_script(), clients, seconds)
            floor = run_pgbench(url, floor_script(), clients, seconds)
            violations = check_books(url)
        finally:
            drop_database(admin, url)
        url = scratch_url(admin)  # the paced runs start from empty tables, as bench.ledger's phases do
        try:
            prepare(url)
            ours_paced = run_pgbench(url, order_script(), clients, seconds, rate=args.rate)
            floor_paced = run_pgbench(url, floor_script(), clients, seconds, rate=args.rate)
            violations += check_books(url)
        finally:
            drop_database(admin, url)
    emit("sql_orders_per_s", ours.orders_per_s, "orders/s", **ours.detail(clients))
    emit("sql_floor_orders_per_s", floor.orders_per_s, "orders/s", **floor.detail(clients))
    if ours.cpu_ms_per_order is not None and floor.cpu_ms_per_order is not None:
        emit("sql_vs_floor", floor.cpu_ms_per_order / ours.cpu_ms_per_order, "ratio", measures="CPU per order")
    for name, run in (("sql_paced", ours_paced), ("sql_floor_paced", floor_paced)):
        assert run.paced is not None
        emit(f"{name}_orders_per_s", run.orders_per_s, "orders/s", **run.paced_detail(clients, args.rate))
        lag_p99 = percentile(run.paced.lag, 0.99)
        emit(f"{name}_lag_p99_ms", lag_p99, "ms", measures="scheduled time to placement start (placement latency >=)")
    emit("sql_invariant_violations", violations, "users")


if __name__ == "__main__":
    main()
