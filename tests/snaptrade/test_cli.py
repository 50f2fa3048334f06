"""``stratforge brokerage``: the panel's workflow from a terminal, signed in as in the app, against the stand-in."""

from __future__ import annotations

import pytest

from core.accounts.snaptrade_keys import CLIENT_ID_ENV, CONSUMER_KEY_ENV, HOST_ENV
from core.cli import brokerage as cli
from core.config import DATABASE_URL_ENV
from tests.snaptrade.conftest import PASSWORD
from tests.snaptrade.standin import CLIENT_ID, CONSUMER_KEY, activity, position


@pytest.fixture
def signed_in(db, standin, make_user, monkeypatch):
    """The environment a trader's shell would have: the database, who they are, SnapTrade's key and host."""
    make_user("ann")
    for name, value in {
        DATABASE_URL_ENV: db.engine.url.render_as_string(hide_password=False),
        "STRATFORGE_USER": "ann",
        "STRATFORGE_PASSWORD": PASSWORD,
        CLIENT_ID_ENV: CLIENT_ID,
        CONSUMER_KEY_ENV: CONSUMER_KEY,
        HOST_ENV: standin.host,
    }.items():
        monkeypatch.setenv(name, value)


def test_connect_then_sync_twice_then_status(signed_in, standin, capsys):
    assert cli.main(["connect"]) == 0
    assert capsys.readouterr().out.startswith("https://app.snaptrade.com/")
    (snap,) = standin.users.values()
    account = standin.account_of(standin.connect_brokerage(snap.user_id))
    account.activities = [activity("BUY", activity_id="t-1"), activity("INTEREST", symbol=None, units=0, price=0)]
    account.positions = [position("AAPL", "10", "190.1", "187.5")]

    assert cli.main(["sync"]) == 0
    assert capsys.readouterr().out.startswith("1 new fill, 0 already synced; 1 non-trade activity skipped")
    assert cli.main(["sync", "--full"]) == 0
    assert capsys.readouterr().out.startswith("0 new fills, 1 already synced")
    assert [r.query.get("startDate") for r in standin.requests_to(f"/accounts/{account.id}/activities")] == [None, None]
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "linked through SnapTrade" in out and "Questrade" in out and "AAPL" in out


def test_a_refusal_is_one_line_and_nothing_done(signed_in, capsys):
    assert cli.main(["sync"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stratforge brokerage sync: SnapTrade is not linked yet") and err.count("\n") == 1
