"""`stratforge backtest` and `stratforge batch` on a real database: stored bars in, stored results out."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import func, select

from app.entry import main as stratforge
from core.cli.backtest import PASSWORD_ENV, USER_ENV
from core.db.models import BacktestResult, BatchJob, BatchJobRun, StrategyProbeResult, StrategyVersion
from core.market.store import BarStore
from core.strategy.library import StrategyDraft, save_strategy
from tests.backtest.test_sandboxed_backtest import CROSS, SIGNALS
from tests.market.test_store import minutes

PASSWORD = "Correct-Horse-2026"
T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
RANGE = ["--start", "2025-03-03", "--end", "2025-03-10"]


@pytest.fixture
def env(db, accounts, monkeypatch, tmp_path):
    accounts.sign_up("quant@example.com", "quant", PASSWORD)
    monkeypatch.setenv(USER_ENV, "quant")
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    store = BarStore(db.engine)
    store.insert("ACME", "1Min", minutes(3_000, start=T0, seed=4), source="csv_import")
    store.close()
    (tmp_path / "cross.py").write_text(CROSS)
    (tmp_path / "signals.py").write_text(SIGNALS)
    return tmp_path, db.engine.url.render_as_string(hide_password=False)


def count(db, model, *where) -> int:
    with db.session_factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_backtest_prints_metrics_and_stores_the_result(db, env, capsys):
    folder, url = env
    code = stratforge(["backtest", str(folder / "cross.py"), "acme", *RANGE, "--param", "fast=5",
                       "--commission-per-share", "0.005", "--database-url", url])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Cross on ACME 1Min, 3,000 bars, per_bar path" in out and '"fast": 5' in out
    assert "total_return" in out and "stored as backtest result" in out
    with db.session_factory() as s:
        row = s.scalars(select(BacktestResult)).one()
        assert row.parameters == {"fast": 5, "slow": 30} and row.symbols == ["ACME"]
        assert row.strategy_snapshot["source"] == CROSS
        assert row.strategy_snapshot["fill_model"]["commission"].startswith("PerShareCommission")
        assert len(row.equity_curve) > 100 and row.metrics["bar_count"] == 3_000


def test_a_saved_strategy_runs_by_name_and_the_result_points_at_it(db, env, accounts, capsys):
    _, url = env
    user = accounts.log_in("quant", PASSWORD).user.id
    saved = save_strategy(db.session_factory, user, StrategyDraft("My cross", CROSS))
    assert stratforge(["backtest", "My cross", "ACME", *RANGE, "--database-url", url]) == 0
    assert "My cross on ACME" in capsys.readouterr().out
    with db.session_factory() as s:
        result = s.scalars(select(BacktestResult)).one()
        version = s.scalars(select(StrategyVersion)).one()
        assert (result.strategy_id, result.strategy_version_id) == (saved.id, version.id)


def test_batch_runs_every_assignment_and_prints_the_best(db, env, capsys):
    folder, url = env
    code = stratforge(["batch", str(folder / "signals.py"), "ACME", *RANGE, "--var", "fast=4,8,12",
                       "--var", "slow=30,60", "--workers", "2", "--top", "3", "--database-url", url])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "6 runs" in out and "status finished: 6 of 6 runs, 0 failed" in out
    with db.session_factory() as s:
        job = s.scalars(select(BatchJob)).one()
        best = max(s.scalars(select(BatchJobRun)), key=lambda r: (r.metrics["total_return"], -r.run_index))
    assert count(db, BatchJobRun, BatchJobRun.batch_job_id == job.id) == 6
    ranked = [line for line in out.splitlines() if line.strip().startswith("#")]
    assert len(ranked) == 3 and ranked[0].split()[0] == f"#{best.run_index}"


def test_probes_run_per_day_resume_and_print_a_leaderboard(db, env, capsys):
    _, url = env
    args = ["probes", "acme", "--start", "2025-03-03", "--end", "2025-03-08", "--probe", "sma_cross_10_30",
            "--probe", "roc_10", "--run-id", "cli-run", "--database-url", url]  # fmt: skip
    assert stratforge(args) == 0
    out = capsys.readouterr().out
    where = StrategyProbeResult.run_id == "cli-run"
    assert count(db, StrategyProbeResult, where) == 6  # 2 probes x the 3 sessions the stored minutes cover
    assert "3 days run, 0 already stored, 6 results" in out
    assert "sma_cross_10_30" in out and "roc_10" in out
    assert stratforge(args) == 0  # the same run id again: everything is already stored
    assert "0 days run, 3 already stored, 0 results" in capsys.readouterr().out
    assert count(db, StrategyProbeResult, where) == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backtest", "missing.py", "ACME", *RANGE], "cannot read missing.py"),
        (["backtest", "NoSuchSaved", "ACME", *RANGE], "neither a .py file nor one of your saved code strategies"),
        (["backtest", "{cross}", "ZZZ", *RANGE], "no 1Min bars stored for ZZZ"),
        (["backtest", "{cross}", "ACME", *RANGE, "--param", "fast=1"], "fast"),
        (["backtest", "{cross}", "ACME", *RANGE, "--class", "Nope"], "no strategy class 'Nope'"),
        (["batch", "{cross}", "ACME", *RANGE, "--var", "fast=5,5"], "lists a value twice"),
        (["batch", "{cross}", "ACME", *RANGE, "--list", "fast=nope"], "no variable list named 'nope'"),
        (["batch", "--resume", "00000000-0000-0000-0000-000000000000"], "you have no batch"),
        (["probes", "ACME", *RANGE, "--probe", "astrology"], "no probe named 'astrology'"),
    ],
)
def test_bad_input_is_a_clear_message_and_exit_status_2(db, env, capsys, args, message):
    folder, url = env
    code = stratforge([a.replace("{cross}", str(folder / "cross.py")) for a in args] + ["--database-url", url])
    err = capsys.readouterr().err
    assert code == 2 and message in err
    assert count(db, BacktestResult) == 0 and count(db, BatchJobRun) == 0


def test_a_wrong_password_is_refused(db, env, capsys, monkeypatch):
    folder, url = env
    monkeypatch.setenv(PASSWORD_ENV, "not-it")
    assert stratforge(["backtest", str(folder / "cross.py"), "ACME", *RANGE, "--database-url", url]) == 2
    assert "Wrong password" in capsys.readouterr().err


def test_minutes_fixture_is_what_the_cli_reads(db, env):
    """The stored bars are the test's: 3,000 minutes from the first open (guards the range used above)."""
    store = BarStore(db.engine)
    try:
        arrays = store.load("ACME", "1Min", datetime(2025, 3, 3, tzinfo=UTC), datetime(2025, 3, 10, tzinfo=UTC))
    finally:
        store.close()
    assert len(arrays.t) == 3_000 and arrays.t[0] == T0.timestamp() and np.all(np.diff(arrays.t) > 0)
