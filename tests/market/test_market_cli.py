"""stratforge-market on the test database: import, export and fetch, with clear errors and exit codes."""

from __future__ import annotations

from datetime import date

import pytest

from core.cli import market as cli
from core.config import DATABASE_URL_ENV
from core.market.store import BarStore
from tests.market.test_history import session_minutes


@pytest.fixture
def shared_db(db, monkeypatch):
    monkeypatch.setenv(DATABASE_URL_ENV, db.engine.url.render_as_string(hide_password=False))
    return db


def test_import_reports_and_exits_1_when_rows_were_rejected(shared_db, tmp_path, capsys):
    path = tmp_path / "bars.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2025-07-01 13:30:00,10,11,9,10.5,100\n"
        "2025-07-01 13:31:00,10,9,11,10.5,100\n"  # high below low
    )
    assert cli.main(["import", str(path), "aapl"]) == 1
    out = capsys.readouterr().out
    assert "AAPL 1Min from bars.csv: 1 imported" in out and "row 2: high is below low" in out
    assert BarStore(shared_db.engine).count("AAPL", "1Min") == 1


def test_export_then_fetch_a_range_already_there(shared_db, tmp_path, capsys, alpaca, monkeypatch):
    BarStore(shared_db.engine).insert("MSFT", "1Min", session_minutes([date(2025, 7, 1)]), source="alpaca")
    out_file = tmp_path / "msft.parquet"
    assert cli.main(["export", str(out_file), "MSFT", "--start", "2025-07-01T14:00:00+00:00"]) == 0
    assert "360 MSFT 1Min bars written" in capsys.readouterr().out  # 14:00-20:00 UTC of a 13:30-20:00 session

    monkeypatch.setenv("APCA_API_KEY_ID", alpaca.key_id)
    monkeypatch.setenv("APCA_API_SECRET_KEY", alpaca.secret_key)
    alpaca.add_bars("MSFT", "1Min", session_minutes([date(2025, 7, 2)], seed=3))
    argv = ["fetch", "MSFT", "2025-07-02", "2025-07-03", "--alpaca-data-url", alpaca.rest_url]
    assert cli.main(argv) == 0
    assert "390 bars stored for the range; 1 request range(s), 390 bars fetched, 390 new" in capsys.readouterr().out


def test_bad_input_is_a_message_not_a_traceback(shared_db, tmp_path, capsys, monkeypatch):
    assert cli.main(["import", str(tmp_path / "missing.csv"), "AAPL"]) == 2
    assert "stratforge-market:" in capsys.readouterr().err
    assert cli.main(["export", str(tmp_path / "x.xlsx"), "AAPL"]) == 2
    assert "use .csv" in capsys.readouterr().err
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    with pytest.raises(SystemExit):
        cli.main(["fetch", "AAPL", "2025-07-01", "2025-07-02"])
    assert "no Alpaca keys" in capsys.readouterr().err


def test_prune_dry_run_then_for_real(shared_db, capsys):
    store = BarStore(shared_db.engine)
    store.insert("IBM", "1Min", session_minutes([date(2025, 7, 1), date(2025, 7, 2)]), source="alpaca")
    assert cli.main(["prune", "--keep-days", "0", "--dry-run"]) == 0
    assert "Nothing was written" in capsys.readouterr().out
    assert store.count("IBM", "1Min") == 780
    assert cli.main(["prune", "--keep-days", "0", "--downsample", "1Day"]) == 0
    assert "deleted 780 1-minute bars" in capsys.readouterr().out
    assert (store.count("IBM", "1Min"), store.count("IBM", "1Day")) == (0, 2)
    assert cli.main(["prune", "--keep-days", "-1"]) == 2
    assert "stratforge-market:" in capsys.readouterr().err


def test_regimes_are_fitted_stored_and_the_model_kept(shared_db, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("STRATFORGE_DATA_DIR", str(tmp_path))
    days = [date(2025, 6, d) for d in (2, 3, 4, 5, 6)]
    BarStore(shared_db.engine).insert("SPY", "1Min", session_minutes(days, extended=True), source="alpaca")
    assert cli.main(["regimes", "SPY", "--states", "2"]) == 0
    out = capsys.readouterr().out
    assert "SPY 1Min: 4,800 bars, model hmm2-f1-" in out and "state 0:" in out
    assert len(list((tmp_path / "models").glob("hmm2-f1-*.json"))) == 1
    assert cli.main(["regimes", "NONE"]) == 2
    assert "No stored NONE 1Min bars" in capsys.readouterr().err


def test_a_bad_symbol_or_timeframe_is_refused_before_any_work_and_a_share_class_has_one_spelling(
    shared_db, tmp_path, capsys
):
    path = tmp_path / "bars.csv"
    path.write_text("timestamp,open,high,low,close,volume\n2025-07-01 13:30:00,10,11,9,10.5,100\n")
    for argv, said in (
        (["import", str(path), "bad sym"], "'bad sym' is not a valid symbol"),
        (["import", str(path), "AAPL", "--timeframe", "2Hour"], "unknown timeframe '2Hour'"),
    ):
        with pytest.raises(SystemExit) as exited:
            cli.main(argv)
        assert exited.value.code == 2
        assert said in capsys.readouterr().err
    assert BarStore(shared_db.engine).count("AAPL", "1Min") == 0  # nothing was written

    assert cli.main(["import", str(path), "brk-b"]) == 0
    assert "BRK.B 1Min from bars.csv: 1 imported" in capsys.readouterr().out
    assert BarStore(shared_db.engine).count("BRK.B", "1Min") == 1


def test_import_prints_the_layout_it_chose_and_the_conflicts(shared_db, tmp_path, capsys):
    path = tmp_path / "frame.csv"
    path.write_text(
        ",Open,High,Low,Close,Volume\n"  # a pandas to_csv of a frame with an unnamed DatetimeIndex
        "2025-07-01 13:30:00+00:00,10,11,9,10.5,100\n"
        "2025-07-01 13:31:00+00:00,10,11,9,10.5,100\n"
        "2025-07-01 13:31:00+00:00,20,21,19,20.5,100\n",  # conflicts with the row before
    )
    assert cli.main(["import", str(path), "AAPL"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("AAPL 1Min from frame.csv: 1 imported, 0 duplicates skipped, 2 rejected")
    assert out[1] == "  read as: pandas index column; UTF-8; times: ISO text with a zone: converted to UTC"
    assert out[2] == (
        "  columns: Unnamed: 0 -> timestamp, Open -> open, High -> high, Low -> low, Close -> close, Volume -> volume"
    )
    assert "  row 2: conflicting values for a repeated timestamp" in out
    assert (
        "  row 3 (2025-07-01 13:31:00Z): o=20 h=21 l=19 c=20.5 v=100 conflicts with row 2: o=10 h=11 l=9"
        in "\n".join(out)
    )


def test_a_layout_it_cannot_tell_is_refused_with_the_flags_then_imported_with_them(shared_db, tmp_path, capsys):
    path = tmp_path / "odd.csv"
    path.write_text("When,Open,High,Low,Last,Volume\n1751376600000,10,11,9,10.5,100\n")
    assert cli.main(["import", str(path), "AAPL"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--column timestamp=When --column close=Last" in err
    argv = ["import", str(path), "AAPL", "--column", "timestamp=When", "--column", "close=Last", "--epoch", "ms"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "1 imported" in out and "times: epoch milliseconds (UTC)" in out
    assert BarStore(shared_db.engine).count("AAPL", "1Min") == 1


def test_bad_files_symbols_and_bounds_are_one_line_each(shared_db, tmp_path, capsys):
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"PK\x03\x04\x00\x00binary")
    assert cli.main(["import", str(binary), "AAPL"]) == 2
    assert capsys.readouterr().err == ("stratforge-market: x.csv is not a text CSV file (it holds binary data)\n")
    with pytest.raises(SystemExit) as refused:
        cli.main(["import", str(binary), "\uff21\uff21\uff30\uff2c"])
    assert refused.value.code == 2 and "is not a valid symbol" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["import", str(binary), "AAPL", "--column", "price=Last"])
    assert "unknown bar field 'price'" in capsys.readouterr().err

    big = tmp_path / "big.csv"
    big.write_text("timestamp,open,high,low,close,volume\n2025-07-01T13:30:00Z,2000000,2000000,2000000,2000000,1\n")
    assert cli.main(["import", str(big), "BRK.A"]) == 1
    assert "row 1: price above 1e+06 (the plausibility limit)" in capsys.readouterr().out
    assert cli.main(["import", str(big), "BRK.A", "--max-price", "5e6"]) == 0
    assert cli.main(["import", str(big), "BRK.A", "--max-price", "-1"]) == 2
    assert capsys.readouterr().err.endswith("the price and volume limits must be finite numbers > 0\n")
