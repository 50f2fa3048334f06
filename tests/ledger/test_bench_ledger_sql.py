"""bench.ledger_sql replays the ledger's own SQL through pgbench: it must stay the ledger's SQL, and valid.

A change to the placement's statements or to ``sf_apply_event`` that the benchmark's script no longer fits
fails here (pgbench stops on the first SQL error), not on the day someone next runs the benchmark.
"""

from __future__ import annotations

import shutil

import psycopg
import pytest

from bench import ledger_sql
from tests.pg import libpq_url

pytestmark = pytest.mark.skipif(shutil.which("pgbench") is None, reason="needs the pgbench program")


def test_the_replayed_orders_are_booked_by_the_ledgers_own_function_and_keep_the_books(scratch_url) -> None:
    ledger_sql.prepare(scratch_url)
    run = ledger_sql.run_pgbench(scratch_url, ledger_sql.order_script(), clients=4, seconds=1)
    assert run.orders > 0
    with psycopg.connect(libpq_url(scratch_url)) as conn:
        statuses = dict(conn.execute("SELECT status, count(*) FROM orders GROUP BY status").fetchall())
        fills, sells = conn.execute("SELECT count(*), count(*) FILTER (WHERE side = 'sell') FROM fills").fetchone()
        users_with_orders = conn.execute("SELECT count(DISTINCT user_id) FROM orders").fetchone()[0]
    # pgbench counts an order when its booking returned: every counted order is filled, with one fill.
    assert statuses.get("filled", 0) >= run.orders
    assert set(statuses) <= {"filled", "pending"}  # a client stopped by the clock between its two transactions
    assert fills == statuses["filled"]
    assert sells > 0  # the mix sells once 4 shares are held, as bench.ledger does
    assert users_with_orders == 4  # one user per pgbench client
    assert ledger_sql.check_books(scratch_url) == 0


def test_the_floor_runs_on_its_bare_tables(scratch_url) -> None:
    ledger_sql.prepare(scratch_url)
    run = ledger_sql.run_pgbench(scratch_url, ledger_sql.floor_script(), clients=2, seconds=1)
    with psycopg.connect(libpq_url(scratch_url)) as conn:
        filled = conn.execute("SELECT count(*) FROM floor.orders WHERE status = 'filled'").fetchone()[0]
        history = conn.execute("SELECT count(*) FROM floor.position_history").fetchone()[0]
        ledger_orders = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    assert filled >= run.orders > 0
    assert history == filled
    assert ledger_orders == 0  # the floor touches none of the ledger's tables


def test_a_paced_run_logs_every_order_from_its_scheduled_time(scratch_url) -> None:
    ledger_sql.prepare(scratch_url)
    run = ledger_sql.run_pgbench(scratch_url, ledger_sql.order_script(), clients=2, seconds=1, rate=50)
    assert run.paced is not None
    assert len(run.paced.order) == len(run.paced.lag) == run.orders > 0
    # The offered rate took effect: about 50 orders in the second (pgbench's schedule is a Poisson process), where
    # two clients back to back place hundreds.
    assert 25 <= run.orders <= 80
    # Each order's time from its schedule includes the wait before it started.
    assert all(b >= a for a, b in zip(run.paced.lag, run.paced.order, strict=True))
    assert ledger_sql.check_books(scratch_url) == 0


def test_paced_latencies_add_the_schedule_lag_to_the_transaction_time() -> None:
    lines = ["0 0 2500 0 1764870000 123456 1500", "1 0 900 0 1764870000 223456 100"]
    paced = ledger_sql.paced_latencies(lines)
    assert paced.lag == [0.1, 1.5]
    assert paced.order == [1.0, 4.0]
    assert ledger_sql.percentile(paced.order, 0.99) == 4.0
    assert ledger_sql.percentile(paced.order, 0.5) == 4.0


def test_a_log_line_without_its_schedule_lag_is_refused() -> None:
    with pytest.raises(ValueError, match="paced run"):
        ledger_sql.paced_latencies(["0 0 2500 0 1764870000 123456"])
