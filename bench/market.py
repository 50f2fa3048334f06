"""Market-data benchmark: bulk insert rate and the time to load a million 1-minute bars into numpy.

    python -m bench.market [--quick] [--url postgresql://...] [--bars 1000000]

* ``insert_bars_per_s``: fresh bars through ``BarStore.insert`` (binary COPY into staging, then
  ``INSERT ... ON CONFLICT DO NOTHING`` into ``ohlcv_bars``), in batches of ``--batch`` bars.
* ``insert_duplicates_bars_per_s``: the same bars again (all duplicates, nothing written).
* ``load_1m_bars_s``: ``BarStore.load`` of one symbol's whole series into float64 arrays (median of 3).
* ``load_rows_per_s_naive``: the yardstick, the same rows fetched by a plain psycopg ``SELECT``
  into Python tuples, and ``load_speedup_vs_naive``.

Without --url (or STRATFORGE_TEST_DATABASE_URL) an embedded PostgreSQL is started in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from bench.common import admin_server, drop_database, emit, scratch_url
from core.db import migrate
from core.db.engine import make_engine
from core.db.raw import raw_connection
from core.market.simulated import RandomWalkBarGenerator
from core.market.store import BarStore


def bar_frame(n: int) -> pd.DataFrame:
    arrays = RandomWalkBarGenerator("BENCH", datetime(2020, 1, 2, 14, 30, tzinfo=UTC), seed=3).history_arrays(n)
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime((arrays.t * 1e6).astype(np.int64), unit="us", utc=True),
            "open": arrays.open,
            "high": arrays.high,
            "low": arrays.low,
            "close": arrays.close,
            "volume": np.rint(arrays.volume),
            "trade_count": pd.array(np.full(n, 17), dtype="Int64"),
            "vwap": (arrays.high + arrays.low) / 2,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--url", default=os.environ.get("STRATFORGE_TEST_DATABASE_URL"))
    parser.add_argument("--bars", type=int, default=None)
    parser.add_argument("--batch", type=int, default=100_000)
    args = parser.parse_args()
    n = args.bars or (100_000 if args.quick else 1_000_000)

    with admin_server(args.url, "sf-bench-market-") as admin:
        url = scratch_url(admin)
        try:
            run(url, n, args.batch)
        finally:
            drop_database(admin, url)


def run(url: str, n: int, batch: int) -> None:
    engine = make_engine(url)  # the app's pool: a big load reads its time slices on parallel connections
    migrate.upgrade(engine)
    store = BarStore(engine)
    frame = bar_frame(n)
    batches = [frame.iloc[i : i + batch] for i in range(0, n, batch)]

    started = time.perf_counter()
    inserted = sum(store.insert("BENCH", "1Min", b, source="simulated").inserted for b in batches)
    elapsed = time.perf_counter() - started
    assert inserted == n, f"inserted {inserted} of {n}"
    emit("insert_bars_per_s", n / elapsed, "bars/s", bars=n, batch=batch, seconds=round(elapsed, 3))

    started = time.perf_counter()
    again = sum(store.insert("BENCH", "1Min", b, source="simulated").duplicates for b in batches)
    elapsed = time.perf_counter() - started
    assert again == n
    emit("insert_duplicates_bars_per_s", n / elapsed, "bars/s", bars=n)

    with raw_connection(engine, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE ohlcv_bars")
    times = []
    for _ in range(3):
        started = time.perf_counter()
        arrays = store.load("BENCH", "1Min")
        times.append(time.perf_counter() - started)
        assert len(arrays) == n and np.all(np.diff(arrays.t) > 0)
    load_s = statistics.median(times)
    emit(f"load_{n // 1_000_000}m_bars_s" if n >= 1_000_000 else "load_bars_s", load_s, "s", bars=n)
    if n >= 1_000_000:
        emit("load_bars_per_s", n / load_s, "bars/s")

    ticker = store.ticker_id("BENCH")
    started = time.perf_counter()
    with raw_connection(engine, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT timestamp, open, high, low, close, volume FROM ohlcv_bars"
            " WHERE ticker_id = %s AND timeframe = '1Min' ORDER BY timestamp",
            (ticker,),
        ).fetchall()
    naive_s = time.perf_counter() - started
    assert len(rows) == n
    emit("load_rows_per_s_naive", n / naive_s, "rows/s", seconds=round(naive_s, 3))
    emit("load_speedup_vs_naive", naive_s / load_s, "x")
    store.close()
    engine.dispose()


if __name__ == "__main__":
    main()
