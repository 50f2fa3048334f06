"""Bad bar files get one clear message per file or per row, and nothing wrong is stored (issue 27)."""

from __future__ import annotations

import gzip
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from core.db.database import Database
from core.domain.symbols import InvalidSymbol
from core.market.file_reading import BarFileError
from core.market.files import RejectedRow, import_bars
from core.market.frames import Plausible
from core.market.store import BarStore

T0 = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)
HEADER = "timestamp,open,high,low,close,volume\n"
ROW = "2025-01-02T14:30:00Z,10,11,9,10.5,100\n"


@pytest.fixture
def store(db: Database) -> BarStore:
    return BarStore(db.engine)


@pytest.mark.parametrize(
    ("encoding", "prefix", "named"),
    [
        ("utf-8", b"", "UTF-8"),
        ("utf-8", b"\xef\xbb\xbf", "UTF-8 (BOM)"),
        ("utf-16", b"", "UTF-16 (BOM)"),  # Python's utf-16 writes the BOM
        ("cp1252", b"", "cp1252"),
    ],
)
def test_text_encodings_are_detected_and_named(store: BarStore, tmp_path: Path, encoding, prefix, named):
    body = "Zeit;ignored,open,high,low,close,volume,Börse\n".replace("Zeit;ignored", "timestamp")
    body += "2025-01-02T14:30:00Z,10,11,9,10.5,100,Xetra €\n"
    path = tmp_path / "enc.csv"
    path.write_bytes(prefix + body.encode(encoding))
    report = import_bars(store, path, "ENC")
    assert (report.imported, report.encoding) == (1, named)


def test_a_binary_file_is_not_a_text_csv_file(store: BarStore, tmp_path: Path):
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(BarFileError, match=r"^photo\.csv is not a text CSV file"):
        import_bars(store, path, "BIN")
    assert store.count("BIN", "1Min") == 0


def test_a_truncated_gzip_is_refused_in_one_line(store: BarStore, tmp_path: Path):
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(gzip.compress((HEADER + ROW * 1000).encode())[:200])
    with pytest.raises(BarFileError, match=r"^cut\.csv\.gz is not a complete gzip file"):
        import_bars(store, path, "GZ")


def test_a_gzip_bomb_is_refused_without_allocating_its_expansion(store: BarStore, tmp_path: Path):
    """The issue's bomb: 300 KB that expanded to 2.4 GB. Here 64 MiB of zeros behind a header (some 64 KB on
    disk), with the limit lowered to 4 MiB: refused, and the peak allocation stays near the limit."""
    path = tmp_path / "bomb.csv.gz"
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(HEADER.encode())
        block = b"0" * (1024 * 1024)
        for _ in range(64):
            out.write(block)
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(BarFileError, match=r"bomb\.csv\.gz decompresses to more than 4 MiB"):
            import_bars(store, path, "BOMB", max_bytes=4 * 1024**2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024**2
    assert store.count("BOMB", "1Min") == 0


def test_a_bomb_under_the_size_limit_is_refused_by_its_expansion_ratio(store: BarStore, tmp_path: Path):
    """100 MiB of zeros (some 100 KB gzipped) under the default 2 GiB limit: refused after 64 MiB, at 100 fold."""
    path = tmp_path / "bomb.csv.gz"
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(HEADER.encode())
        block = b"0" * (1024 * 1024)
        for _ in range(100):
            out.write(block)
    tracemalloc.start()
    try:
        with pytest.raises(BarFileError, match=r"bomb\.csv\.gz expands more than 100 fold .* decompression bomb"):
            import_bars(store, path, "BOMB")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 80 * 1024**2


def test_an_oversized_plain_file_and_parquet_are_refused(store: BarStore, tmp_path: Path):
    plain = tmp_path / "big.csv"
    plain.write_text(HEADER + ROW * 100)
    with pytest.raises(BarFileError, match=r"big\.csv is .* over the 1 KiB limit for one import"):
        import_bars(store, plain, "BIG", max_bytes=1024)
    frame = pd.read_csv(plain)
    frame.to_parquet(tmp_path / "big.parquet")
    with pytest.raises(BarFileError, match=r"big\.parquet holds .* GiB of data, over the"):
        import_bars(store, tmp_path / "big.parquet", "BIG", max_bytes=1024)
    assert store.count("BIG", "1Min") == 0


def test_a_year_9999_or_1_rejects_that_row_only(store: BarStore, tmp_path: Path):
    path = tmp_path / "far.csv"
    path.write_text(
        HEADER + ROW + "9999-12-31T00:00:00Z,10,11,9,10.5,100\n0001-01-01 00:00,10,11,9,10.5,100\n"
        "10000-01-01,10,11,9,10.5,100\n"
    )
    report = import_bars(store, path, "FAR")
    assert report.imported == 1
    assert report.rejected_rows == (
        RejectedRow(2, "timestamp out of range"),
        RejectedRow(3, "timestamp out of range"),
        RejectedRow(4, "timestamp out of range"),
    )
    parquet = tmp_path / "far.parquet"
    pd.DataFrame(
        {
            "timestamp": pd.Series([T0, datetime(9999, 1, 1, tzinfo=UTC)], dtype="datetime64[us, UTC]"),
            **{c: [10.0, 10.0] for c in ("open", "high", "low", "close", "volume")},
        }
    ).to_parquet(parquet)
    report = import_bars(store, parquet, "FARP")
    assert (report.imported, report.rejected_rows) == (1, (RejectedRow(2, "timestamp out of range"),))


def test_implausible_prices_and_volumes_are_rejected_per_row_and_the_bounds_can_be_raised(
    store: BarStore, tmp_path: Path
):
    path = tmp_path / "huge.csv"
    path.write_text(
        HEADER
        + ROW
        + "2025-01-02T14:31:00Z,1e308,1e308,1e308,1e308,100\n"
        + "2025-01-02T14:32:00Z,10,11,9,10.5,9e18\n"
        + "2025-01-02T14:33:00Z,2000000,2000000,2000000,2000000,1\n"
        + "2025-01-02T14:34:00Z,10,11,9,10.5,inf\n"
    )
    report = import_bars(store, path, "HUGE")
    assert report.imported == 1
    assert report.rejected_rows == (
        RejectedRow(2, "price above 1e+06 (the plausibility limit)"),
        RejectedRow(3, "volume above 1e+12 (the plausibility limit)"),
        RejectedRow(4, "price above 1e+06 (the plausibility limit)"),
        RejectedRow(5, "volume is missing or not a finite number"),
    )
    raised = import_bars(store, path, "HUGE", plausible=Plausible(max_price=5e6, max_volume=1e19))
    assert (raised.imported, raised.duplicates_skipped) == (2, 1)  # rows 3 and 4 now
    assert raised.rejected_reasons == {
        "price above 5e+06 (the plausibility limit)": 1,
        "volume is missing or not a finite number": 1,
    }


FULL_WIDTH_AAPL = "\uff21\uff21\uff30\uff2c"  # the AAPL typed in full-width letters


@pytest.mark.parametrize("symbol", [FULL_WIDTH_AAPL, "A" * 21, "AA\x00PL", "", "BTC/USD"])
def test_symbols_follow_the_one_symbol_rule(store: BarStore, db: Database, tmp_path: Path, symbol: str):
    path = tmp_path / "ok.csv"
    path.write_text(HEADER + ROW)
    with pytest.raises(InvalidSymbol) as refused:
        import_bars(store, path, symbol)
    assert "\n" not in str(refused.value)
    with db.engine.connect() as conn:  # no ticker row was created
        assert conn.execute(text("SELECT count(*) FROM tickers")).scalar_one() == 0


def test_a_malformed_csv_is_one_line(store: BarStore, tmp_path: Path):
    path = tmp_path / "quote.csv"
    path.write_text(HEADER + '2025-01-02T14:30:00Z,"10,11,9,10.5,100\n' + ROW)
    try:
        report = import_bars(store, path, "Q")
    except BarFileError as exc:
        assert "\n" not in str(exc)
    else:
        assert report.imported + report.rejected + report.duplicates_skipped == report.rows_read
