"""Bar file import/export against a real PostgreSQL: what lands in the store, what the report says."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import text

from core.db.database import Database
from core.market import files
from core.market.files import Conflict, ImportReport, RejectedRow, export_bars, import_bars
from core.market.frames import BAR_COLUMNS, check_frame
from core.market.store import BarStore

T0 = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)
HEADER = "timestamp,open,high,low,close,volume,trade_count,vwap\n"


@pytest.fixture
def store(db: Database) -> BarStore:
    return BarStore(db.engine)


def write(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


def stamps(frame: pd.DataFrame) -> list[datetime]:
    return [ts.to_pydatetime() for ts in frame["timestamp"]]


def sources(db: Database, symbol: str) -> set[str]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT DISTINCT b.source FROM ohlcv_bars b JOIN tickers t ON t.id = b.ticker_id WHERE t.symbol = :s"),
            {"s": symbol},
        )
        return {r[0] for r in rows}


def seed(store: BarStore, symbol: str, n: int = 30) -> pd.DataFrame:
    """``n`` stored 1-minute bars with awkward values: long fractions, missing trade counts and VWAPs."""
    i = np.arange(n)
    close = 100 + np.cumsum(np.where(i % 2, 0.1, -0.07)) + 1e-9 * i
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range(T0, periods=n, freq="1min"),
            "open": close - 0.03,
            "high": close + 0.25,
            "low": close - 0.31,
            "close": close,
            "volume": (1000 + 7 * i).astype(float),
            "trade_count": pd.array([None if k % 4 == 1 else 10 + k for k in range(n)], dtype="Int64"),
            "vwap": np.where(i % 5 == 2, np.nan, close + 0.01),
        }
    )
    checked = check_frame(frame)
    assert checked.rejected.empty
    store.insert(symbol, "1Min", checked.valid, source="simulated")
    return store.load_frame(symbol, "1Min")


# -- 1, 2: time zones ------------------------------------------------------------------------------------


def test_naive_csv_timestamps_are_stored_as_utc(store: BarStore, db: Database, tmp_path: Path) -> None:
    path = write(
        tmp_path / "bars.csv",
        HEADER + "2025-01-02 14:30:00,10,11,9,10.5,100,5,10.2\n2025-01-02T14:31:00,10.5,12,10,11,200,,\n",
    )

    report = import_bars(store, path, "aapl")

    assert (report.symbol, report.rows_read, report.imported, report.duplicates_skipped, report.rejected) == (
        "AAPL",
        2,
        2,
        0,
        0,
    )
    assert report.summary() == "AAPL 1Min from bars.csv: 2 imported, 0 duplicates skipped, 0 rejected"
    stored = store.load_frame("AAPL", "1Min")
    assert stamps(stored) == [T0, T0 + timedelta(minutes=1)]
    assert stored["close"].tolist() == [10.5, 11.0]
    assert stored["trade_count"].tolist() == [5, pd.NA]
    assert stored["vwap"].iloc[0] == 10.2 and np.isnan(stored["vwap"].iloc[1])
    assert sources(db, "AAPL") == {"csv_import"}


def test_aware_timestamps_in_another_zone_are_converted_to_utc(store: BarStore, tmp_path: Path) -> None:
    path = write(
        tmp_path / "ny.csv",
        HEADER + "2025-01-02T09:30:00-05:00,10,11,9,10,100,,\n2025-01-02T09:31:00-05:00,10,11,9,10,100,,\n",
    )
    assert import_bars(store, path, "NY").imported == 2
    assert stamps(store.load_frame("NY", "1Min")) == [T0, T0 + timedelta(minutes=1)]


def test_mixed_zones_and_column_aliases(store: BarStore, tmp_path: Path) -> None:
    """Alpaca-style short names in any case; each row's own offset counts (the row-by-row parse)."""
    path = write(
        tmp_path / "mixed.csv",
        "T,O,H,L,C,V,N,VW,Symbol\n"
        "2025-01-02T14:30:00Z,10,11,9,10,100,3,10.1,mix\n"
        "2025-01-02T15:31:00+01:00,10,11,9,10,100,4,10.2,MIX\n"
        "2025-01-02 14:32,10,11,9,10,100,5,10.3,MIX\n",
    )
    report = import_bars(store, path, "MIX")
    assert (report.imported, report.rejected) == (3, 0)
    stored = store.load_frame("MIX", "1Min")
    assert stamps(stored) == [T0 + timedelta(minutes=k) for k in range(3)]
    assert stored["trade_count"].tolist() == [3, 4, 5]
    assert stored["vwap"].tolist() == [10.1, 10.2, 10.3]


# -- 3: duplicates ---------------------------------------------------------------------------------------


def test_exact_repeats_are_skipped_and_conflicting_ones_reported_with_both_values(
    store: BarStore, tmp_path: Path
) -> None:
    """A stored bar is never overwritten; a timestamp the file repeats with other values imports neither row."""
    first = write(
        tmp_path / "first.csv",
        HEADER + "2025-01-02T14:30:00Z,10,11,9,10,100,1,10\n2025-01-02T14:33:00Z,10,11,9,10,100,,\n",
    )
    assert import_bars(store, first, "DUP").imported == 2

    second = write(
        tmp_path / "second.csv",
        HEADER
        + "2025-01-02T14:30:00Z,50,51,49,50,999,9,50\n"  # row 1: stored with other values: kept as stored
        + "2025-01-02T14:31:00Z,20,21,19,20,200,2,20\n"  # row 2
        + "2025-01-02T14:31:00Z,30,31,29,30,300,3,30\n"  # row 3: conflicts with row 2: neither is imported
        + "2025-01-02T14:32:00Z,40,41,39,40,400,4,40\n"  # row 4
        + "2025-01-02T14:32:00Z,40,41,39,40,400,4,40\n"  # row 5: an exact repeat of row 4: imported once
        + "2025-01-02T14:33:00Z,10,11,9,10,100,,\n",  # row 6: the stored bar again: a duplicate
    )
    report = import_bars(store, second, "DUP")

    assert (report.rows_read, report.imported, report.duplicates_skipped, report.rejected) == (6, 1, 2, 2)
    assert report.stored_conflicts == 1
    assert report.rejected_reasons == {"conflicting values for a repeated timestamp": 2}
    assert report.conflicts == (
        Conflict(3, T0 + timedelta(minutes=1), "o=30 h=31 l=29 c=30 v=300", "row 2: o=20 h=21 l=19 c=20 v=200"),
        Conflict(1, T0, "o=50 h=51 l=49 c=50 v=999", "stored: o=10 h=11 l=9 c=10 v=100"),
    )
    assert report.summary() == (
        "DUP 1Min from second.csv: 1 imported, 2 duplicates skipped, 2 rejected"
        " (conflicting values for a repeated timestamp: 2), 1 differing from stored bars (stored kept)"
    )
    assert "row 3 (2025-01-02 14:31:00Z): o=30 h=31 l=29 c=30 v=300 conflicts with row 2: " in "\n".join(
        report.details()
    )
    stored = store.load_frame("DUP", "1Min")
    assert stamps(stored) == [T0, T0 + timedelta(minutes=2), T0 + timedelta(minutes=3)]
    assert stored["close"].tolist() == [10.0, 40.0, 10.0]

    again = import_bars(store, second, "DUP")
    assert (again.imported, again.duplicates_skipped, again.stored_conflicts, again.rejected) == (0, 3, 1, 2)
    assert store.count("DUP", "1Min") == 3


# -- 4: rejected rows ------------------------------------------------------------------------------------


def test_rejected_rows_are_reported_with_reasons_and_row_numbers(store: BarStore, tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.csv",
        HEADER
        + "2025-01-02T14:30:00Z,10,11,9,10,100,,\n"  # row 1: fine
        + "2025-01-02T14:31:00Z,10,8,9,10,100,,\n"  # row 2: high below low
        + "2025-01-02T14:32:00Z,10,11,9,10,-5,,\n"  # row 3: negative volume
        + "2025-01-02T14:33:00Z,,11,9,10,100,,\n"  # row 4: blank open
        + "2025-01-02T14:34:00Z,10,11,9,nan,100,,\n"  # row 5: NaN close
        + "yesterday-ish,10,11,9,10,100,,\n"  # row 6: not a time
        + ",10,11,9,10,100,,\n"  # row 7: no time at all
        + "2025-01-02T14:37:00Z,10,11,9,10,100,3000000000,\n"  # row 8: trade count too big for the store
        + "2025-01-02T14:38:00Z,10,11,9,10,100,,\n",  # row 9: fine
    )

    report = import_bars(store, path, "BAD")

    assert (report.rows_read, report.imported, report.duplicates_skipped, report.rejected) == (9, 2, 0, 7)
    assert report.rejected_rows == (
        RejectedRow(2, "high is below low"),
        RejectedRow(3, "volume is negative"),
        RejectedRow(4, "open is missing or not a finite number"),
        RejectedRow(5, "close is missing or not a finite number"),
        RejectedRow(6, "timestamp is not a date/time"),
        RejectedRow(7, "timestamp is not a date/time"),
        RejectedRow(8, "trade_count is too large"),
    )
    assert report.rejected_reasons == {
        "timestamp is not a date/time": 2,
        "high is below low": 1,
        "volume is negative": 1,
        "open is missing or not a finite number": 1,
        "close is missing or not a finite number": 1,
        "trade_count is too large": 1,
    }
    assert "7 rejected (timestamp is not a date/time: 2, " in report.summary()
    assert stamps(store.load_frame("BAD", "1Min")) == [T0, T0 + timedelta(minutes=8)]


def test_naive_timestamps_rejected_when_not_taken_as_utc(store: BarStore, tmp_path: Path) -> None:
    path = write(
        tmp_path / "naive.csv",
        HEADER + "2025-01-02T14:30:00+00:00,10,11,9,10,100,,\n2025-01-02 14:31:00,10,11,9,10,100,,\n",
    )
    report = import_bars(store, path, "NAIVE", naive_is_utc=False)
    assert report.rejected_rows == (RejectedRow(2, "timestamp is naive (no time zone)"),)
    assert stamps(store.load_frame("NAIVE", "1Min")) == [T0]

    all_naive = write(tmp_path / "all_naive.csv", HEADER + "2025-01-02 14:40:00,10,11,9,10,100,,\n")
    report = import_bars(store, all_naive, "NAIVE", naive_is_utc=False)
    assert (report.imported, report.rejected_reasons) == (0, {"timestamp is naive (no time zone)": 1})
    assert store.count("NAIVE", "1Min") == 1


def test_epoch_seconds_in_csv_are_read_as_seconds_not_as_1970(store: BarStore, tmp_path: Path) -> None:
    path = write(tmp_path / "epoch.csv", HEADER + "1735828200,10,11,9,10,100,,\n1735828260,10,11,9,10,100,,\n")
    report = import_bars(store, path, "EPOCH")
    assert (report.imported, report.timestamps) == (2, "epoch seconds (UTC)")
    assert stamps(store.load_frame("EPOCH", "1Min")) == [T0, T0 + timedelta(minutes=1)]


def test_parquet_missing_timestamps_are_rejected_not_stored_as_1677(store: BarStore, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "timestamp": pd.Series([T0, None, T0 + timedelta(minutes=2)], dtype="datetime64[us, UTC]"),
            "open": [10.0, 10, 10],
            "high": [11.0, 11, 11],
            "low": [9.0, 9, 9],
            "close": [10.0, 10, 10],
            "volume": [100, 100, 100],
        }
    )
    path = tmp_path / "gaps.parquet"
    frame.to_parquet(path, index=False)

    report = import_bars(store, path, "GAP")
    assert report.rejected_rows == (RejectedRow(2, "timestamp is not a date/time"),)
    assert stamps(store.load_frame("GAP", "1Min")) == [T0, T0 + timedelta(minutes=2)]


def test_parquet_dates_for_daily_bars(store: BarStore, db: Database, tmp_path: Path) -> None:
    table = pa.table(
        {
            "Date": pa.array([dt.date(2025, 1, 2), dt.date(2025, 1, 3)], pa.date32()),
            "Open": [10.0, 11.0],
            "High": [12.0, 12.0],
            "Low": [9.0, 10.0],
            "Close": [11.0, 11.5],
            "Volume": pa.array([1_000_000, 2_000_000], pa.int64()),
        }
    )
    path = tmp_path / "daily.pq"
    pq.write_table(table, path)
    assert import_bars(store, path, "DAY", "1Day").imported == 2
    assert stamps(store.load_frame("DAY", "1Day")) == [
        datetime(2025, 1, 2, tzinfo=UTC),
        datetime(2025, 1, 3, tzinfo=UTC),
    ]
    assert sources(db, "DAY") == {"parquet_import"}


def test_a_file_lands_completely_or_not_at_all(
    store: BarStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database failure during the insert leaves none of the file's rows behind."""
    path = write(
        tmp_path / "all.csv", HEADER + "".join(f"2025-01-02T14:{30 + k}:00Z,10,11,9,10,1,,\n" for k in range(5))
    )
    monkeypatch.setitem(files._SOURCES, "csv", "not-a-source")  # violates ck_ohlcv_bars_source at the end
    with pytest.raises(Exception, match="ck_ohlcv_bars_source"):
        import_bars(store, path, "ATOM")
    assert store.count("ATOM", "1Min") == 0


# -- 5, 6: round trips -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bars.parquet", "bars.pq", "bars.csv", "bars.csv.gz"])
def test_export_then_import_gives_identical_bars(store: BarStore, tmp_path: Path, name: str) -> None:
    original = seed(store, "SRC")
    assert original["trade_count"].isna().any() and original["vwap"].isna().any()
    path = tmp_path / name

    assert export_bars(store, path, "SRC") == len(original) == 30

    report = import_bars(store, path, "COPY")
    assert (report.rows_read, report.imported, report.duplicates_skipped, report.rejected) == (30, 30, 0, 0)
    assert_frame_equal(store.load_frame("COPY", "1Min"), original)

    back = import_bars(store, path, "SRC")
    assert (back.imported, back.duplicates_skipped, back.rejected) == (0, 30, 0)
    assert_frame_equal(store.load_frame("SRC", "1Min"), original)


def test_csv_export_layout(store: BarStore, tmp_path: Path) -> None:
    seed(store, "SRC", n=3)
    path = tmp_path / "out.csv"
    export_bars(store, path, "SRC")
    lines = path.read_text().splitlines()
    assert lines[0] == "timestamp,open,high,low,close,volume,trade_count,vwap"
    assert [line.split(",")[0] for line in lines[1:]] == [
        "2025-01-02T14:30:00+00:00",
        "2025-01-02T14:31:00+00:00",
        "2025-01-02T14:32:00+00:00",
    ]
    assert lines[2].split(",")[6] == ""  # missing trade count: an empty field


@pytest.mark.parametrize("name", ["none.csv", "none.parquet"])
def test_exporting_nothing_writes_an_empty_file_that_imports(store: BarStore, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    assert export_bars(store, path, "NOBARS") == 0
    if name.endswith(".csv"):
        assert path.read_text() == ",".join(BAR_COLUMNS) + "\n"
    else:
        assert pq.read_schema(path).names == list(BAR_COLUMNS) and pq.read_metadata(path).num_rows == 0
    report = import_bars(store, path, "NOBARS2")
    assert (report.rows_read, report.imported, report.rejected) == (0, 0, 0)


def test_parquet_export_layout_and_range(store: BarStore, tmp_path: Path) -> None:
    seed(store, "SRC", n=10)
    path = tmp_path / "out.parquet"
    written = export_bars(store, path, "SRC", start=T0 + timedelta(minutes=2), end=T0 + timedelta(minutes=5))
    assert written == 3
    schema = pq.read_schema(path)
    assert schema.names == list(BAR_COLUMNS)
    assert isinstance(schema.field("timestamp").type, pa.TimestampType)
    assert schema.field("timestamp").type.tz == "UTC"
    frame = pd.read_parquet(path)
    assert stamps(frame) == [T0 + timedelta(minutes=k) for k in (2, 3, 4)]


def test_failed_export_leaves_the_previous_file(
    store: BarStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(store, "SRC", n=3)
    path = write(tmp_path / "keep.csv", "previous export\n")

    def half_written(table: pa.Table, sink: pa.NativeFile, options: object = None) -> None:
        sink.write(b"2025-01-02T14:30:00+00:00,100.0")
        raise OSError("disk full")

    monkeypatch.setattr(pa_csv, "write_csv", half_written)
    with pytest.raises(OSError, match="disk full"):
        export_bars(store, path, "SRC")
    assert path.read_text() == "previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv"]


# -- 7: unusable files -----------------------------------------------------------------------------------


def test_missing_column_is_an_error_and_nothing_is_stored(store: BarStore, tmp_path: Path) -> None:
    path = write(tmp_path / "short.csv", "time,open,high,low,close\n2025-01-02T14:30:00Z,10,11,9,10\n")
    with pytest.raises(ValueError, match=r"short\.csv: cannot tell which column is the volume \(found: time, open"):
        import_bars(store, path, "MISS")
    assert store.count("MISS", "1Min") == 0


def test_ambiguous_timestamp_columns_are_an_error(store: BarStore, tmp_path: Path) -> None:
    path = write(tmp_path / "amb.csv", "Date,Datetime,Open,High,Low,Close,Volume\n2025-01-02,2025-01-02,10,11,9,10,1\n")
    with pytest.raises(
        ValueError,
        match="several columns could be the timestamp: Date, Datetime; choose one with --column timestamp=Date or",
    ):
        import_bars(store, path, "AMB")
    assert store.count("AMB", "1Min") == 0


def test_a_date_and_a_time_column_are_joined(store: BarStore, tmp_path: Path) -> None:
    path = write(
        tmp_path / "split.csv",
        "Date,Time,Open,High,Low,Close,Volume\n2025-01-02,14:30,10,11,9,10,1\n2025-01-02,,10,11,9,10,1\n",
    )
    report = import_bars(store, path, "SPLIT")
    assert (report.imported, report.rejected_rows) == (1, (RejectedRow(2, "timestamp is not a date/time"),))
    assert report.notes == ("Date and Time joined into the timestamp",)
    assert stamps(store.load_frame("SPLIT", "1Min")) == [T0]


def test_numeric_parquet_timestamps_are_epoch_times_by_their_size(store: BarStore, tmp_path: Path) -> None:
    path = tmp_path / "epoch.parquet"
    frame = pd.DataFrame({"t": [1735828200000], "o": [1.0], "h": [1.0], "l": [1.0], "c": [1.0], "v": [1]})
    frame.to_parquet(path)
    report = import_bars(store, path, "EPOCH")
    assert (report.imported, report.timestamps, report.encoding) == (1, "epoch milliseconds (UTC)", "Parquet")
    assert stamps(store.load_frame("EPOCH", "1Min")) == [T0]


def test_unknown_extension_is_an_error(store: BarStore, tmp_path: Path) -> None:
    path = write(tmp_path / "bars.txt", HEADER + "2025-01-02T14:30:00Z,10,11,9,10,100,,\n")
    with pytest.raises(ValueError, match=r"cannot tell the format of 'bars\.txt': use \.csv"):
        import_bars(store, path, "EXT")
    assert store.count("EXT", "1Min") == 0
    seed(store, "SRC", n=1)
    with pytest.raises(ValueError, match="cannot tell the format"):
        export_bars(store, tmp_path / "out.xlsx", "SRC")
    assert not (tmp_path / "out.xlsx").exists()


def test_empty_file_and_bad_timeframe_are_errors(store: BarStore, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        import_bars(store, write(tmp_path / "empty.csv", ""), "E")
    ok = write(tmp_path / "ok.csv", HEADER + "2025-01-02T14:30:00Z,10,11,9,10,100,,\n")
    with pytest.raises(ValueError, match="unknown timeframe"):
        import_bars(store, ok, "E", "2Min")
    assert store.count("E", "1Min") == 0


def test_report_summary_wording() -> None:
    report = ImportReport(
        path=Path("/data/bars.csv"),
        symbol="AAPL",
        timeframe="1Min",
        rows_read=1206,
        imported=1200,
        duplicates_skipped=1,
        rejected=5,
        rejected_reasons={"high is below low": 3, "timestamp is naive (no time zone)": 2},
    )
    assert report.summary() == (
        "AAPL 1Min from bars.csv: 1,200 imported, 1 duplicate skipped, 5 rejected"
        " (high is below low: 3, timestamp is naive (no time zone): 2)"
    )
