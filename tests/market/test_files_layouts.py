"""Bar imports take the files people have (pandas, yfinance, Alpaca, epoch times) and say what they chose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from core.db.database import Database
from core.market.file_reading import BarFileError
from core.market.files import import_bars
from core.market.store import BarStore

T0 = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)
MINUTES = [T0 + timedelta(minutes=k) for k in range(3)]


@pytest.fixture
def store(db: Database) -> BarStore:
    return BarStore(db.engine)


def write(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


def stored_times(store: BarStore, symbol: str, timeframe: str = "1Min") -> list[datetime]:
    return [ts.to_pydatetime() for ts in store.load_frame(symbol, timeframe)["timestamp"]]


def ohlcv_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Open": [10.0, 10.5, 11.0],
            "High": [11.0, 11.5, 12.0],
            "Low": [9.5, 10.0, 10.5],
            "Close": [10.5, 11.0, 11.5],
            "Volume": [100, 200, 300],
        },
        index=pd.DatetimeIndex(MINUTES),
    )


def test_a_pandas_to_csv_with_an_unnamed_index_is_read_and_the_choice_reported(store: BarStore, tmp_path: Path):
    """The issue's first refusal: ``lacks column(s) timestamp (found: Unnamed: 0, Open, ...)``."""
    path = tmp_path / "frame.csv"
    ohlcv_frame().to_csv(path)
    report = import_bars(store, path, "AAPL")
    assert (report.imported, report.rejected) == (3, 0)
    assert report.layout == "pandas index column"
    assert report.mapping == {
        "Unnamed: 0": "timestamp",
        "Open": "open",
        "High": "high",
        "Low": "low",
        "Close": "close",
        "Volume": "volume",
    }
    assert report.mapping_line().startswith("columns: Unnamed: 0 -> timestamp, Open -> open, ")
    assert report.timestamps == "ISO text with a zone: converted to UTC"
    assert stored_times(store, "AAPL") == MINUTES


def test_a_named_pandas_index_and_an_adj_close_column(store: BarStore, tmp_path: Path):
    frame = ohlcv_frame().rename_axis("Datetime")
    frame.insert(4, "Adj Close", [10.4, 10.9, 11.4])
    path = tmp_path / "yf_old.csv"
    frame.to_csv(path)
    report = import_bars(store, path, "AAPL")
    assert report.imported == 3
    assert report.mapping["Datetime"] == "timestamp" and report.mapping["Close"] == "close"
    assert report.notes == ("Adj Close ignored (Close used)",)
    assert store.load_frame("AAPL", "1Min")["close"].tolist() == [10.5, 11.0, 11.5]


def test_yfinance_three_header_rows(store: BarStore, tmp_path: Path):
    """What ``yf.download("AAPL", interval="1m").to_csv()`` writes since yfinance 0.2.51."""
    path = write(
        tmp_path / "AAPL.csv",
        "Price,Close,High,Low,Open,Volume\n"
        "Ticker,AAPL,AAPL,AAPL,AAPL,AAPL\n"
        "Datetime,,,,,\n"
        "2025-01-02 14:30:00+00:00,10.5,11.0,9.5,10.0,100\n"
        "2025-01-02 14:31:00+00:00,11.0,11.5,10.0,10.5,200\n",
    )
    report = import_bars(store, path, "AAPL")
    assert (report.imported, report.layout) == (2, "yfinance (3 header rows)")
    assert report.mapping == {"Datetime": "timestamp", "Open": "open", "High": "high", "Low": "low",
                              "Close": "close", "Volume": "volume"}  # fmt: skip
    assert report.rejected_rows == ()
    assert stored_times(store, "AAPL") == MINUTES[:2]


def test_yfinance_several_tickers_take_the_columns_of_the_symbol_asked_for(store: BarStore, tmp_path: Path):
    path = write(
        tmp_path / "two.csv",
        "Price,Close,Close,High,High,Low,Low,Open,Open,Volume,Volume\n"
        "Ticker,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT\n"
        "Date,,,,,,,,,,\n"
        "2025-01-02,10.5,400,11,410,9.5,390,10,395,100,50\n",
    )
    report = import_bars(store, path, "MSFT", "1Day")
    assert report.imported == 1
    assert report.mapping["Close [MSFT]"] == "close"
    assert "the MSFT columns used" in report.notes
    assert store.load_frame("MSFT", "1Day")["close"].tolist() == [400.0]
    with pytest.raises(BarFileError, match=r"two\.csv holds bars of AAPL, MSFT, not IBM"):
        import_bars(store, path, "IBM", "1Day")


@pytest.mark.parametrize("index", ["unnamed", "Datetime", "alpaca-py"])
def test_parquet_files_pandas_writes(store: BarStore, tmp_path: Path, index: str):
    """pandas keeps an unnamed index as ``__index_level_0__`` (last), a named one by its name; alpaca-py's
    ``df.to_parquet()`` writes its (symbol, timestamp) MultiIndex as two columns."""
    frame = ohlcv_frame()
    if index == "Datetime":
        frame = frame.rename_axis("Datetime")
    elif index == "alpaca-py":
        frame = frame.rename(columns=str.lower).rename_axis("timestamp").reset_index().assign(symbol="AAPL")
        frame = frame.set_index(["symbol", "timestamp"])
    path = tmp_path / "frame.parquet"
    frame.to_parquet(path)
    report = import_bars(store, path, "AAPL")
    assert (report.imported, report.rejected, report.encoding) == (3, 0, "Parquet")
    assert report.timestamps == "date/time values, zone UTC: converted to UTC"
    assert stored_times(store, "AAPL") == MINUTES


def test_alpaca_short_names_and_alpaca_py_frames_with_a_symbol_column(store: BarStore, tmp_path: Path):
    short = write(
        tmp_path / "alpaca.csv",
        "t,o,h,l,c,v,n,vw\n2025-01-02T14:30:00Z,10,11,9,10.5,100,7,10.2\n",
    )
    report = import_bars(store, short, "SPY")
    assert (report.imported, report.layout) == (1, "Alpaca bars (t,o,h,l,c,v)")
    assert report.mapping == {"t": "timestamp", "o": "open", "h": "high", "l": "low", "c": "close",
                              "v": "volume", "n": "trade_count", "vw": "vwap"}  # fmt: skip

    multi = write(
        tmp_path / "alpaca_py.csv",
        "symbol,timestamp,open,high,low,close,volume,trade_count,vwap\n"
        "AAPL,2025-01-02 14:30:00+00:00,10,11,9,10.5,100,7,10.2\n"
        "MSFT,2025-01-02 14:30:00+00:00,400,401,399,400,50,3,400\n"
        "AAPL,2025-01-02 14:31:00+00:00,10.5,11.5,10,11,200,8,10.9\n",
    )
    report = import_bars(store, multi, "AAPL")
    assert (report.rows_read, report.imported, report.other_symbol_rows, report.rejected) == (3, 2, 1, 0)
    assert "1 rows of other symbols left out" in report.summary()
    assert stored_times(store, "AAPL") == MINUTES[:2]
    with pytest.raises(BarFileError, match="holds bars of AAPL, MSFT, not IBM"):
        import_bars(store, multi, "IBM")
    assert store.count("IBM", "1Min") == 0


@pytest.mark.parametrize(
    ("values", "how"),
    [
        ([1735828200, 1735828260], "epoch seconds (UTC)"),
        ([1735828200000, 1735828260000], "epoch milliseconds (UTC)"),
        ([1735828200.0, 1735828260.5], "epoch seconds (UTC)"),
    ],
)
def test_epoch_times_are_told_apart_by_their_size(store: BarStore, tmp_path: Path, values: list, how: str):
    body = "time,open,high,low,close,volume\n" + "".join(f"{v},10,11,9,10,1\n" for v in values)
    report = import_bars(store, write(tmp_path / "e.csv", body), "EP")
    assert (report.imported, report.timestamps) == (2, how)
    assert stored_times(store, "EP")[0] == T0


def test_numbers_that_are_no_epoch_time_are_refused_with_the_flag_to_pass(store: BarStore, tmp_path: Path):
    path = write(tmp_path / "rows.csv", "time,open,high,low,close,volume\n1,10,11,9,10,1\n2,10,11,9,10,1\n")
    with pytest.raises(BarFileError, match=r"rows\.csv: the timestamp column holds numbers .* pass --epoch s\|ms"):
        import_bars(store, path, "EP")
    assert store.count("EP", "1Min") == 0
    told = import_bars(store, path, "EP", epoch="s")  # said explicitly: the first seconds of 1970
    assert (told.imported, told.timestamps) == (2, "epoch seconds (UTC)")


def test_a_pandas_range_index_is_not_read_as_times(store: BarStore, tmp_path: Path):
    path = tmp_path / "range.csv"
    ohlcv_frame().reset_index(drop=True).to_csv(path)
    with pytest.raises(BarFileError, match=r"the unnamed index column holds numbers \(a pandas row index\?\)"):
        import_bars(store, path, "RI")


def test_an_unrecognised_layout_names_the_columns_and_the_flags(store: BarStore, tmp_path: Path):
    path = write(tmp_path / "odd.csv", "When,Open,High,Low,Last,Volume\n2025-01-02T14:30:00Z,10,11,9,10.5,100\n")
    with pytest.raises(BarFileError) as refused:
        import_bars(store, path, "ODD")
    assert str(refused.value) == (
        "odd.csv: cannot tell which column is the timestamp, close (found: When, Open, High, Low, Last, Volume);"
        " name them, e.g. --column timestamp=When --column close=Last"
    )
    report = import_bars(store, path, "ODD", mapping={"timestamp": "When", "close": "Last"})
    assert report.imported == 1
    assert report.mapping == {"When": "timestamp", "Open": "open", "High": "high", "Low": "low",
                              "Last": "close", "Volume": "volume"}  # fmt: skip
    assert "When -> timestamp (as given)" in report.notes


def test_a_wrong_explicit_mapping_is_refused(store: BarStore, tmp_path: Path):
    path = write(tmp_path / "odd.csv", "When,Open,High,Low,Last,Volume\n2025-01-02T14:30:00Z,10,11,9,10.5,100\n")
    with pytest.raises(BarFileError, match=r"odd\.csv has no column 'Then'"):
        import_bars(store, path, "ODD", mapping={"timestamp": "Then", "close": "Last"})
    with pytest.raises(BarFileError, match="unknown bar field 'price'"):
        import_bars(store, path, "ODD", mapping={"price": "Last"})
    assert store.count("ODD", "1Min") == 0
