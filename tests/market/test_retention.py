"""Retention against a real PostgreSQL: what is pruned, what is built from it, and that nothing is half-done.

The clock is fixed: NOW minus 30 days is 2025-03-18 12:00 UTC (08:00 in New York, a Tuesday), so the
cutoff is that date's New York midnight, 04:00 UTC (daylight-saving time). Minutes from 08:00 to 12:00 UTC
that day are older than 30 days and still kept: a trading day is never split.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from core.db.raw import raw_connection
from core.market import retention
from core.market.aggregate import aggregate
from core.market.calendar import Window
from core.market.frames import check_frame
from core.market.retention import RetentionError, RetentionPolicy, RetentionReport, apply_retention
from core.market.store import BarStore
from core.market.sync_log import SyncLog, SyncRecord

NY = "America/New_York"
NOW = datetime(2025, 4, 17, 12, 0, tzinfo=UTC)
CUTOFF = datetime(2025, 3, 18, 4, 0, tzinfo=UTC)
# Two old months (two chunks), then the cutoff day and the next one, which are kept.
DAYS = ("2025-02-27", "2025-02-28", "2025-03-03", "2025-03-17", "2025-03-18", "2025-03-19")


def day_minutes(days: tuple[str, ...] = DAYS, seed: int = 7) -> pd.DataFrame:
    """Per day: pre-market 04:00-04:09, regular 09:30-10:29, after hours 19:50-19:59 ET, and 23:59 ET
    (the last minute before the next New York midnight). Some trade counts and VWAPs unknown."""
    parts = []
    for day in days:
        for first, last in (("04:00", "04:09"), ("09:30", "10:29"), ("19:50", "19:59"), ("23:59", "23:59")):
            parts.append(pd.date_range(f"{day} {first}", f"{day} {last}", freq="1min", tz=NY).tz_convert("UTC"))
    stamps = parts[0].append(parts[1:])
    n = len(stamps)
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.normal(0.0, 0.05, n))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) + rng.uniform(0.0, 0.05, n)
    low = np.minimum(open_, close) - rng.uniform(0.0, 0.05, n)
    count = pd.array(rng.integers(1, 60, n), dtype="Int64")
    count[rng.random(n) < 0.1] = pd.NA
    vwap = rng.uniform(low, high)
    vwap[rng.random(n) < 0.1] = np.nan
    frame = pd.DataFrame(
        {
            "timestamp": stamps,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.integers(0, 2_000, n).astype("float64"),  # whole shares: stored exactly
            "trade_count": count,
            "vwap": vwap,
        }
    )
    return check_frame(frame).valid


def old(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[frame["timestamp"] < CUTOFF].reset_index(drop=True)


def young(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[frame["timestamp"] >= CUTOFF].reset_index(drop=True)


@pytest.fixture
def store(db):
    s = BarStore(db.engine)
    yield s
    s.close()


def snapshot(engine) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Every bar, sync-log row and feature, for before/after comparisons."""
    with raw_connection(engine, autocommit=True) as conn:
        bars = conn.execute(
            "SELECT ticker_id, timeframe, timestamp, open, high, low, close, volume, trade_count, vwap, source"
            "  FROM ohlcv_bars ORDER BY 1, 2, 3"
        ).fetchall()
        logs = conn.execute(
            "SELECT id, timeframe, range_start, range_end, first_synced_timestamp, status FROM data_sync_log ORDER BY 1"
        ).fetchall()
        features = conn.execute("SELECT id, timestamp FROM computed_features ORDER BY 1").fetchall()
    return bars, logs, features


def sources(engine, timeframe: str) -> set[str]:
    with raw_connection(engine, autocommit=True) as conn:
        return {r[0] for r in conn.execute("SELECT DISTINCT source FROM ohlcv_bars WHERE timeframe = %s", (timeframe,))}


def run(engine, policy: RetentionPolicy | None = None, **kwargs) -> RetentionReport:
    return apply_retention(engine, policy or RetentionPolicy(), now=NOW, **kwargs)


def test_old_minutes_become_aggregated_bars_and_the_cutoff_day_is_kept_whole(db, store):
    minutes = day_minutes()
    store.insert("AAPL", "1Min", minutes, source="alpaca")

    report = run(db.engine)

    assert report.cutoff == CUTOFF
    kept = store.load_frame("AAPL", "1Min")
    assert_frame_equal(kept, young(minutes))
    # The boundary: 23:59 ET on the 17th is pruned, 00:00 ET on the 18th would be kept; 08:00-12:00 UTC on the
    # 18th is older than 30 days yet kept, because the cutoff is aligned down to New York midnight.
    assert kept["timestamp"].min() == pd.Timestamp("2025-03-18 04:00", tz=NY).tz_convert("UTC")
    assert store.count("AAPL", "1Min", end=CUTOFF) == 0
    assert store.count("AAPL", "1Min", CUTOFF - timedelta(minutes=1), CUTOFF) == 0
    assert len(old(minutes)) and old(minutes)["timestamp"].max() == CUTOFF - timedelta(minutes=1)

    for timeframe in ("5Min", "1Day"):
        expected = aggregate(old(minutes), timeframe, session="all")
        assert_frame_equal(store.load_frame("AAPL", timeframe), expected, check_exact=False, rtol=1e-12)
        assert sources(db.engine, timeframe) == {"aggregated"}
    assert store.count("AAPL", "1Day") == 4  # Feb 27, Feb 28, Mar 3, Mar 17: extended hours included

    (aapl,) = report.symbols
    assert aapl.symbol == "AAPL" and aapl.cutoff == CUTOFF
    assert aapl.minutes_deleted == report.minutes_deleted == len(old(minutes))
    assert aapl.bars_created == report.bars_created == {"5Min": store.count("AAPL", "5Min"), "1Day": 4}
    assert aapl.chunks == 2  # February and March


def test_regular_session_policy_builds_bars_from_regular_hours_only(db, store):
    minutes = day_minutes()
    store.insert("AAPL", "1Min", minutes, source="alpaca")
    run(db.engine, RetentionPolicy(downsample_to=("15Min", "1Hour", "1Day"), session="regular"))
    for timeframe in ("15Min", "1Hour", "1Day"):
        expected = aggregate(old(minutes), timeframe, session="regular")
        assert_frame_equal(store.load_frame("AAPL", timeframe), expected, check_exact=False, rtol=1e-12)
    assert store.count("AAPL", "5Min") == 0
    assert store.count("AAPL", "1Min", end=CUTOFF) == 0  # extended-hours minutes go too


def test_a_stored_daily_bar_is_kept_not_overwritten(db, store):
    minutes = day_minutes()
    store.insert("AAPL", "1Min", minutes, source="alpaca")
    feb28 = pd.Timestamp("2025-02-28", tz=NY).tz_convert("UTC")
    real = pd.DataFrame(
        {"timestamp": [feb28], "open": [90.0], "high": [120.0], "low": [80.0], "close": [110.0],
         "volume": [123_456.0], "trade_count": pd.array([999], dtype="Int64"), "vwap": [101.5]}
    )  # fmt: skip
    store.insert("AAPL", "1Day", check_frame(real).valid, source="alpaca")

    report = run(db.engine)

    daily = store.load_frame("AAPL", "1Day")
    assert len(daily) == 4
    assert_frame_equal(daily.loc[daily["timestamp"] == feb28].reset_index(drop=True), check_frame(real).valid)
    others = aggregate(old(minutes), "1Day", session="all")
    others = others.loc[others["timestamp"] != feb28].reset_index(drop=True)
    assert_frame_equal(daily.loc[daily["timestamp"] != feb28].reset_index(drop=True), others)
    assert sources(db.engine, "1Day") == {"alpaca", "aggregated"}
    assert report.bars_created["1Day"] == 3


def test_dry_run_writes_nothing_and_reports_what_a_real_run_does(db, store):
    store.insert("AAPL", "1Min", day_minutes(), source="alpaca")
    store.insert("MSFT", "1Min", day_minutes(DAYS[1:], seed=3), source="alpaca")
    store.insert("MSFT", "1Day", aggregate(old(day_minutes(DAYS[1:], seed=3)), "1Day").iloc[:1], source="alpaca")
    ticker = store.ticker_id("AAPL")
    SyncLog(db.engine).record(SyncRecord(ticker, "1Min", Window(CUTOFF - timedelta(days=40), NOW), "success"))
    before = snapshot(db.engine)

    dry = run(db.engine, dry_run=True)

    assert snapshot(db.engine) == before
    real = run(db.engine)
    assert snapshot(db.engine) != before
    assert dry.dry_run and not real.dry_run
    assert dry.symbols == real.symbols
    assert dry.minutes_deleted > 0 and dry.bars_created["1Day"] == 6  # 4 for AAPL, 2 of 3 for MSFT (one was stored)
    assert "would delete" in dry.summary() and "Nothing was written" in dry.summary()
    assert "would" not in real.summary() and f"deleted {real.minutes_deleted:,} 1-minute bars of 2" in real.summary()


def test_sync_log_stops_claiming_pruned_minutes_and_leaves_other_timeframes(db, store):
    store.insert("AAPL", "1Min", day_minutes(), source="alpaca")
    ticker = store.ticker_id("AAPL")
    quiet = store.ticker_id("QUIET")  # a symbol whose fetch found no bars: its log alone says "fetched"
    sync = SyncLog(db.engine)
    feb1, apr1 = datetime(2025, 2, 1, 5, tzinfo=UTC), datetime(2025, 4, 1, 4, tzinfo=UTC)
    mar10 = datetime(2025, 3, 10, 4, tzinfo=UTC)
    rows = [
        SyncRecord(ticker, "1Min", Window(feb1, mar10), "success"),  # wholly before the cutoff
        SyncRecord(ticker, "1Min", Window(feb1, mar10), "failed", error="timeout"),
        SyncRecord(ticker, "1Min", Window(mar10, apr1), "success", first_bar=mar10, last_bar=apr1),  # straddles
        SyncRecord(ticker, "1Min", Window(CUTOFF, apr1), "partial"),  # starts at the cutoff: untouched
        SyncRecord(ticker, "5Min", Window(feb1, apr1), "success"),
        SyncRecord(ticker, "1Day", Window(feb1, apr1), "success"),
        SyncRecord(quiet, "1Min", Window(feb1, mar10), "success"),
    ]
    for row in rows:
        sync.record(row)

    report = run(db.engine)

    assert sync.covered(ticker, "1Min", feb1, apr1) == [Window(CUTOFF, apr1)]
    assert sync.covered(quiet, "1Min", feb1, apr1) == []
    assert sync.covered(ticker, "5Min", feb1, apr1) == [Window(feb1, apr1)]
    assert sync.covered(ticker, "1Day", feb1, apr1) == [Window(feb1, apr1)]
    with raw_connection(db.engine, autocommit=True) as conn:
        minute_rows = conn.execute(
            "SELECT range_start, range_end, first_synced_timestamp, last_synced_timestamp, status FROM data_sync_log"
            " WHERE timeframe = '1Min' ORDER BY status"
        ).fetchall()
    # The trimmed row forgets a first bar that is gone; the rest of it is as it was.
    assert minute_rows == [(CUTOFF, apr1, None, None, "partial"), (CUTOFF, apr1, None, apr1, "success")]
    by_symbol = {s.symbol: s for s in report.symbols}
    assert (by_symbol["AAPL"].sync_rows_removed, by_symbol["AAPL"].sync_rows_trimmed) == (2, 1)
    assert (by_symbol["QUIET"].minutes_deleted, by_symbol["QUIET"].sync_rows_removed) == (0, 1)
    assert "3 row(s) removed, 1 trimmed" in report.summary()


@pytest.mark.parametrize("step", ["_insert_bars", "_delete_minutes", "_trim_sync_log"])
def test_a_failing_chunk_is_rolled_back_whole_and_a_rerun_finishes(db, store, monkeypatch, step):
    minutes = day_minutes()
    store.insert("AAPL", "1Min", minutes, source="alpaca")
    ticker = store.ticker_id("AAPL")
    sync = SyncLog(db.engine)
    feb1, apr1 = datetime(2025, 2, 1, 5, tzinfo=UTC), datetime(2025, 4, 1, 4, tzinfo=UTC)
    sync.record(SyncRecord(ticker, "1Min", Window(feb1, apr1), "success"))
    real_step = getattr(retention, step)
    march = datetime(2025, 3, 1, 5, tzinfo=UTC)  # New York midnight, EST

    def failing(conn, ticker, *args):
        result = real_step(conn, ticker, *args)  # the step has run: its writes are in the open transaction
        if step != "_insert_bars" or args[0] == "1Day":  # the insert fails at its second timeframe
            with raw_connection(db.engine, autocommit=True) as other:
                row = other.execute("SELECT min(timestamp) FROM ohlcv_bars WHERE timeframe = '1Min'").fetchone()
            if row[0] >= march:  # the March chunk; February's went through
                raise OSError("disk full")
        return result

    monkeypatch.setattr(retention, step, failing)
    with pytest.raises(RetentionError, match="disk full") as failure:
        run(db.engine)

    # February is done, March (before the cutoff) is untouched: all its minutes, none of its coarse bars.
    assert_frame_equal(
        store.load_frame("AAPL", "1Min"), minutes.loc[minutes["timestamp"] >= march].reset_index(drop=True)
    )
    feb = minutes.loc[minutes["timestamp"] < march]
    for timeframe in ("5Min", "1Day"):
        assert_frame_equal(store.load_frame("AAPL", timeframe), aggregate(feb, timeframe, session="all"))
    assert sync.covered(ticker, "1Min", feb1, apr1) == [Window(march, apr1)]
    partial = failure.value.report
    assert partial.minutes_deleted == len(feb) and partial.symbols[0].chunks == 1
    assert "2025-03-01" in str(failure.value) and "rolled back" in str(failure.value)

    monkeypatch.undo()
    rerun = run(db.engine)
    assert rerun.minutes_deleted == len(old(minutes)) - len(feb)
    assert_frame_equal(store.load_frame("AAPL", "1Min"), young(minutes))
    for timeframe in ("5Min", "1Day"):
        assert_frame_equal(
            store.load_frame("AAPL", timeframe), aggregate(old(minutes), timeframe, session="all"), rtol=1e-12
        )
    assert sync.covered(ticker, "1Min", feb1, apr1) == [Window(CUTOFF, apr1)]


def test_multiple_symbols_and_a_symbol_filter(db, store):
    aapl, msft = day_minutes(seed=1), day_minutes(DAYS[2:], seed=2)
    store.insert("AAPL", "1Min", aapl, source="alpaca")
    store.insert("MSFT", "1Min", msft, source="csv_import")

    only = run(db.engine, RetentionPolicy(symbols=["msft"]))
    assert [s.symbol for s in only.symbols] == ["MSFT"]
    assert store.count("AAPL", "1Min") == len(aapl) and store.count("AAPL", "1Day") == 0
    assert_frame_equal(store.load_frame("MSFT", "1Min"), young(msft))

    both = run(db.engine)
    assert [s.symbol for s in both.symbols] == ["AAPL"]  # MSFT has nothing left to prune
    for symbol, minutes in (("AAPL", aapl), ("MSFT", msft)):
        assert_frame_equal(store.load_frame(symbol, "1Min"), young(minutes))
        assert_frame_equal(store.load_frame(symbol, "1Day"), aggregate(old(minutes), "1Day", session="all"), rtol=1e-12)
    assert only.minutes_deleted + both.minutes_deleted == len(old(aapl)) + len(old(msft))


def test_running_twice_changes_nothing_the_second_time(db, store):
    store.insert("AAPL", "1Min", day_minutes(), source="alpaca")
    SyncLog(db.engine).record(
        SyncRecord(store.ticker_id("AAPL"), "1Min", Window(CUTOFF - timedelta(days=30), NOW), "success")
    )
    first = run(db.engine)
    after_first = snapshot(db.engine)
    second = run(db.engine)
    assert snapshot(db.engine) == after_first
    assert first.minutes_deleted > 0
    assert second.symbols == () and second.minutes_deleted == 0 and second.bars_created == {"5Min": 0, "1Day": 0}
    assert second.summary().endswith("nothing to do.")


def test_plain_prune_and_features_of_deleted_minutes_go_with_them(db, store):
    minutes = day_minutes()
    store.insert("AAPL", "1Min", minutes, source="alpaca")
    ticker = store.ticker_id("AAPL")
    gone, kept = old(minutes)["timestamp"].iloc[5], young(minutes)["timestamp"].iloc[5]
    with raw_connection(db.engine) as conn:
        for stamp in (gone, kept):
            conn.execute(
                "INSERT INTO computed_features (ticker_id, timeframe, timestamp, feature_version)"
                " VALUES (%s, '1Min', %s, 'v1')",
                (ticker, stamp.to_pydatetime()),
            )
        conn.commit()

    report = run(db.engine, RetentionPolicy(keep_1min_days=30, downsample_to=()))

    assert_frame_equal(store.load_frame("AAPL", "1Min"), young(minutes))
    assert store.count("AAPL", "5Min") == store.count("AAPL", "1Day") == 0
    assert report.bars_created == {} and report.features_deleted == 1
    assert [row[1] for row in snapshot(db.engine)[2]] == [kept.to_pydatetime()]
    assert "plain prune" in report.summary() and "1 computed feature(s)" in report.summary()


def test_keep_zero_days_keeps_only_today(db, store):
    minutes = day_minutes()
    store.insert("AAPL", "1Min", minutes, source="alpaca")
    report = apply_retention(db.engine, RetentionPolicy(keep_1min_days=0), now=datetime(2025, 3, 19, 16, tzinfo=UTC))
    assert report.cutoff == datetime(2025, 3, 19, 4, tzinfo=UTC)
    assert store.load_frame("AAPL", "1Min")["timestamp"].dt.tz_convert(NY).dt.date.astype(str).unique().tolist() == [
        "2025-03-19"
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"keep_1min_days": -1}, "negative"),
        ({"keep_1min_days": 1.5}, "whole number"),
        ({"downsample_to": ("2Min",)}, "cannot downsample"),
        ({"downsample_to": ("1Min",)}, "cannot downsample"),
        ({"downsample_to": ("2Hour",)}, "cannot downsample"),
        ({"downsample_to": "1Day"}, "sequence"),
        ({"downsample_to": ("1Day", "1Day")}, "twice"),
        ({"session": "extended"}, "unknown session"),
        ({"symbols": "AAPL"}, "one string"),
        ({"symbols": ()}, "at least one"),
    ],
)
def test_policy_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RetentionPolicy(**kwargs)


def test_policy_normalises_and_needs_an_aware_clock():
    policy = RetentionPolicy(downsample_to=["15Min"], symbols=[" aapl", "AAPL", "msft"])
    assert policy.downsample_to == ("15Min",) and policy.symbols == ("AAPL", "MSFT")
    assert policy.cutoff(NOW) == CUTOFF
    # Winter: New York midnight is 05:00 UTC; 03:00 UTC on Jan 20 is still Jan 19 in New York.
    assert RetentionPolicy(keep_1min_days=1).cutoff(datetime(2025, 1, 21, 3, tzinfo=UTC)) == datetime(
        2025, 1, 19, 5, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="time zone"):
        policy.cutoff(datetime(2025, 1, 1))  # noqa: DTZ001
