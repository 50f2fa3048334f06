"""BarStore against a real PostgreSQL: round trips, duplicates, ranges, sliced loads, concurrent writers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
import pytest
from pandas.testing import assert_frame_equal

from core.db.raw import raw_connection
from core.market.frames import check_frame
from core.market.pg_binary import unpack_array
from core.market.store import BarStore

T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)


def minutes(n: int, start: datetime = T0, seed: int = 1, price: float = 100.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = price * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.concatenate([[price], close[:-1]])
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range(start, periods=n, freq="1min", tz="UTC"),
            "open": open_,
            "high": np.maximum(open_, close) + 0.01,
            "low": np.minimum(open_, close) - 0.01,
            "close": close,
            "volume": rng.integers(0, 10_000, n).astype(float),
            "trade_count": pd.array(rng.integers(0, 50, n), dtype="Int64"),
            "vwap": (open_ + close) / 2,
        }
    )
    return check_frame(frame).valid


@pytest.fixture
def store(db):
    s = BarStore(db.engine)
    yield s
    s.close()


def test_round_trip_keeps_every_column_including_missing_values(store):
    frame = minutes(50)
    frame.loc[3, "trade_count"] = pd.NA
    frame.loc[7, "vwap"] = np.nan
    frame.loc[12, ["trade_count", "vwap"]] = [pd.NA, np.nan]  # both NULL in one row
    assert store.insert("AAPL", "1Min", frame, source="alpaca").inserted == 50
    assert_frame_equal(store.load_frame("aapl", "1Min"), frame)
    arrays = store.load("AAPL", "1Min")
    assert np.array_equal(arrays.t, frame["timestamp"].astype("int64").to_numpy() / 1e9)
    assert np.array_equal(arrays.close, frame["close"].to_numpy())


def test_stored_bars_are_never_overwritten_and_count_as_duplicates(store):
    first = minutes(30)
    store.insert("MSFT", "1Min", first, source="alpaca")
    second = minutes(40, seed=9)  # same open times for the first 30, other prices
    result = store.insert("MSFT", "1Min", second, source="csv_import")
    assert (result.received, result.inserted, result.duplicates) == (40, 10, 30)
    loaded = store.load_frame("MSFT", "1Min")
    assert len(loaded) == 40
    assert np.array_equal(loaded["close"].to_numpy()[:30], first["close"].to_numpy())
    assert np.array_equal(loaded["close"].to_numpy()[30:], second["close"].to_numpy()[30:])


def test_repeated_open_times_inside_one_batch_are_stored_once_first_wins(store):
    frame = minutes(5)
    repeated = pd.concat([frame, frame.iloc[[2]].assign(close=frame["close"].iloc[2] * 1.0001)], ignore_index=True)
    repeated = repeated.assign(high=repeated[["high", "close"]].max(axis=1))
    result = store.insert("NVDA", "1Min", repeated, source="alpaca")
    assert (result.inserted, result.duplicates) == (5, 1)
    assert store.load_frame("NVDA", "1Min")["close"].iloc[2] == frame["close"].iloc[2]


def test_ranges_are_half_open_and_series_are_separate(store):
    store.insert("SPY", "1Min", minutes(60), source="alpaca")
    store.insert(
        "SPY",
        "5Min",
        minutes(3, seed=4).assign(timestamp=lambda f: f["timestamp"] + pd.Timedelta(0)),
        source="aggregated",
    )
    store.insert("QQQ", "1Min", minutes(10, seed=5), source="alpaca")
    window = store.load("SPY", "1Min", T0 + timedelta(minutes=10), T0 + timedelta(minutes=20))
    assert len(window) == 10
    assert window.t[0] == (T0 + timedelta(minutes=10)).timestamp()
    assert window.t[-1] == (T0 + timedelta(minutes=19)).timestamp()
    assert store.count("SPY", "1Min") == 60
    assert store.count("SPY", "5Min") == 3
    assert len(store.load("NONE", "1Min")) == 0
    assert store.load_frame("NONE", "1Min").columns.tolist() == list(minutes(1).columns)


def test_a_sliced_load_equals_a_single_query(db):
    frame = minutes(5_000)
    frame = frame.drop(index=range(1_000, 1_400)).reset_index(drop=True)  # a hole: slices cover uneven counts
    sliced, whole = BarStore(db.engine, slice_bars=700), BarStore(db.engine, slice_bars=10**9)
    try:
        sliced.insert("IBM", "1Min", frame, source="alpaca")
        assert_frame_equal(sliced.load_frame("IBM", "1Min"), whole.load_frame("IBM", "1Min"))
        a, b = sliced.load("IBM", "1Min"), whole.load("IBM", "1Min")
        assert len(a) == len(frame) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
        assert np.all(np.diff(a.t) > 0)
    finally:
        sliced.close()
        whole.close()


def test_concurrent_writers_of_one_series_store_each_bar_once(store):
    frame = minutes(2_000)
    parts = [frame.iloc[0:1_200], frame.iloc[800:2_000], frame.iloc[400:1_600]]
    results = []
    barrier = threading.Barrier(len(parts))

    def write(part: pd.DataFrame) -> None:
        barrier.wait()
        results.append(store.insert("TSLA", "1Min", part, source="alpaca"))

    threads = [threading.Thread(target=write, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(r.inserted for r in results) == 2_000
    assert store.count("TSLA", "1Min") == 2_000


def test_a_row_written_behind_the_lock_is_skipped_not_an_error(db, store):
    """A writer that does not take the series lock (an admin's SQL, an old client) commits a bar after the
    check: the plain insert hits the unique key, and the ON CONFLICT fallback keeps that row."""
    frame = minutes(10)
    ticker = store.ticker_id("AMD")
    other = psycopg.connect(db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        other.execute(
            "INSERT INTO ohlcv_bars (ticker_id, timeframe, timestamp, open, high, low, close, volume, source)"
            " VALUES (%s, '1Min', %s, 1, 1, 1, 1, 0, 'csv_import')",
            (ticker, frame["timestamp"].iloc[4].to_pydatetime()),
        )  # uncommitted: invisible to the duplicate check, but it holds the key
        result: list = []
        writer = threading.Thread(target=lambda: result.append(store.insert("AMD", "1Min", frame, source="alpaca")))
        writer.start()
        writer.join(1.0)
        assert writer.is_alive()  # waiting on the other transaction's key
        other.commit()
        writer.join(10)
    finally:
        other.close()
    assert (result[0].inserted, result[0].duplicates) == (9, 1)
    assert store.load_frame("AMD", "1Min")["close"].iloc[4] == 1.0


def test_forget_deletes_bars_and_ticker(db, store):
    store.insert("GME", "1Min", minutes(20), source="alpaca")
    store.insert("AMC", "1Min", minutes(5), source="alpaca")
    assert store.forget("GME") == 20
    with raw_connection(db.engine, autocommit=True) as conn:
        symbols = [r[0] for r in conn.execute("SELECT symbol FROM tickers ORDER BY symbol")]
    assert symbols == ["AMC"]
    assert store.count("AMC", "1Min") == 5


def test_unknown_timeframe_is_refused(store):
    with pytest.raises(ValueError, match="unknown timeframe"):
        store.insert("AAPL", "2Min", minutes(2), source="alpaca")


def test_unpack_array_reads_postgres_arrays(db):
    with raw_connection(db.engine, autocommit=True) as conn, conn.cursor(binary=True) as cur:
        floats, ints, none, empty = cur.execute(
            "SELECT array_send(ARRAY[1.5, -2.25]::float8[]), array_send(ARRAY[7, 8, 9]::int4[]),"
            " array_send(NULL::int8[]), array_send('{}'::int8[])"
        ).fetchone()
        with_null = cur.execute("SELECT array_send(ARRAY[1, NULL]::int8[])").fetchone()[0]
    assert unpack_array(floats).tolist() == [1.5, -2.25]
    assert unpack_array(ints).tolist() == [7, 8, 9]
    assert len(unpack_array(none)) == 0 and len(unpack_array(empty)) == 0
    with pytest.raises(ValueError, match="NULLs"):
        unpack_array(with_null)
