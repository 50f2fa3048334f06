"""`stratforge backtest` in a club: given the club's (applicant) address, the member signs in as their own database
role (PostgreSQL checks the password) and the run is stored under them, through row-level security."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from app.entry import main as stratforge
from core.cli.backtest import PASSWORD_ENV, USER_ENV
from core.db.engine import make_engine
from core.market.store import BarStore
from tests.accounts.conftest_scram import ScramClub
from tests.backtest.test_cli import RANGE, T0
from tests.backtest.test_sandboxed_backtest import CROSS
from tests.market.test_store import minutes

PASSWORD = "Member-Pass-2026x"


def test_a_members_backtest_signs_in_as_their_role_and_stores_under_them(
    scram_club: ScramClub, monkeypatch: pytest.MonkeyPatch, tmp_path, capsys
) -> None:
    username = f"quant{uuid.uuid4().hex[:6]}"
    member = scram_club.add_member(username, PASSWORD)
    engine = make_engine(scram_club.superuser_url, pool_size=1, max_overflow=0)
    store = BarStore(engine)
    symbol = f"C{uuid.uuid4().hex[:4].upper()}"
    store.insert(symbol, "1Min", minutes(3_000, start=T0, seed=4), source="csv_import")
    store.close()
    engine.dispose()
    (tmp_path / "cross.py").write_text(CROSS)
    monkeypatch.setenv(USER_ENV, username)

    monkeypatch.setenv(PASSWORD_ENV, "not-the-password-1")
    code = stratforge(
        ["backtest", str(tmp_path / "cross.py"), symbol, *RANGE, "--database-url", scram_club.applicant_url]
    )
    assert code == 2 and "Wrong password or unknown user." in capsys.readouterr().err

    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    code = stratforge(
        ["backtest", str(tmp_path / "cross.py"), symbol, *RANGE, "--database-url", scram_club.applicant_url]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "stored as backtest result" in out
    with psycopg.connect(scram_club.superuser_url.replace("+psycopg", ""), connect_timeout=10) as conn:
        owners = conn.execute("SELECT user_id FROM backtest_results WHERE %s = ANY(symbols)", (symbol,)).fetchall()
    assert owners == [(member.id,)]
