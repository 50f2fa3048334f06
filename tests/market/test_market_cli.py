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
