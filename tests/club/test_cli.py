"""``stratforge-club``: where its keys may come from, and the headless service routing on the stand-in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from core.accounts import AccountService
from core.club.desk import ClubDesk
from core.club.keys import ClubKeysError, club_keys
from core.club.service import wake_by_notify
from core.db.database import Database
from core.db.models import Order
from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from tests.alpaca_standin import AlpacaStandIn
from tests.club.conftest import PASSWORD, eventually

ROOT = Path(__file__).resolve().parents[2]


def test_keys_come_from_the_environment_first():
    keys = club_keys(environ={"STRATFORGE_CLUB_KEY_ID": "id-1", "STRATFORGE_CLUB_SECRET_KEY": "secret-1"})
    assert (keys.key_id, keys.secret, keys.source) == ("id-1", "secret-1", "environment")
    assert "secret-1" not in repr(keys)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_key_file_others_can_read_is_refused_and_one_only_its_owner_reads_is_used(tmp_path: Path):
    path = tmp_path / "club.json"
    path.write_text(json.dumps({"key_id": "file-id", "secret_key": "file-secret"}))
    path.chmod(0o644)
    with pytest.raises(ClubKeysError, match="chmod 600"):
        club_keys(path, environ={})
    path.chmod(0o600)
    keys = club_keys(path, environ={})
    assert (keys.key_id, keys.secret, keys.source) == ("file-id", "file-secret", "file")


def test_a_malformed_key_file_says_what_it_should_hold(tmp_path: Path):
    path = tmp_path / "club.json"
    path.write_text("key_id=abc")
    path.chmod(0o600)
    with pytest.raises(ClubKeysError, match="key_id"):
        club_keys(path, environ={})


def test_without_keys_the_service_refuses_to_start_and_says_where_keys_go(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATFORGE_CLUB_")}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    done = subprocess.run(
        [sys.executable, "-m", "core.cli.club", "--database-url", "postgresql://nobody@127.0.0.1:1/none"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "STRATFORGE_CLUB_KEY_ID" in done.stderr


def test_the_headless_service_routes_a_traders_order_and_stops_on_sigterm(
    db: Database, accounts: AccountService, alpaca: AlpacaStandIn
):
    user = accounts.sign_up("cli@example.com", "clitrader", PASSWORD).id
    url = db.engine.url.render_as_string(hide_password=False)
    env = dict(os.environ)
    env.update({
        "STRATFORGE_CLUB_KEY_ID": alpaca.key_id, "STRATFORGE_CLUB_SECRET_KEY": alpaca.secret_key,
        "STRATFORGE_ALPACA_URL": alpaca.rest_url, "STRATFORGE_ALPACA_STREAM_URL": alpaca.stream_url,
        "STRATFORGE_ALPACA_DATA_STREAM_URL": alpaca.data_stream_url, "NO_PROXY": "127.0.0.1,localhost",
    })  # fmt: skip
    service = subprocess.Popen(
        [sys.executable, "-m", "core.cli.club", "--database-url", url, "--window-ms", "20", "--poll-s", "0.2",
         "--wants-every-s", "0.3"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert alpaca.wait_for_listeners(1, 30), "the service never opened the trade stream"
        ledger = Ledger(db.session_factory, ClubDesk(db.session_factory, wake_by_notify(db.session_factory)),
                        LastPrices({"AAPL": Decimal("100")}))  # fmt: skip
        placed = ledger.place_order(user, OrderTicket("AAPL", OrderSide.BUY, Decimal("7")))
        eventually(lambda: len(alpaca.account.list_orders(status="open", limit=10)) == 1, timeout=20,
                   what="the service's street order")  # fmt: skip
        (street,) = alpaca.account.list_orders(status="open", limit=10)
        assert street["client_order_id"].startswith("club-") and Decimal(street["qty"]) == 7
        alpaca.fill(street["id"], price="100.25")

        def filled() -> bool:
            with db.session_factory() as s:
                row = s.get(Order, placed.id)
                return row is not None and row.status == "filled"

        eventually(filled, timeout=20, what="the fill booked by the service")

        # A resting order fills from the service's own data stream: the bar reaches its limit.
        limit = ledger.place_order(
            user, OrderTicket("AAPL", OrderSide.SELL, Decimal("3"), OrderType.LIMIT, limit_price=Decimal("101"))
        )
        assert alpaca.wait_for_bar_subscribers("AAPL", 1, 20), "the service never asked for the order's bars"
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        alpaca.publish_bar(
            "AAPL", {"timestamp": minute, "open": 100.5, "high": 101.4, "low": 100.2, "close": 101.1, "volume": 1200}
        )

        def limit_filled() -> bool:
            with db.session_factory() as s:
                row = s.get(Order, limit.id)
                return row is not None and row.status == "filled" and row.filled_avg_price == Decimal("101")

        eventually(limit_filled, timeout=20, what="the limit sell filled at its limit from the bar")
        eventually(lambda: len(alpaca.account.list_orders(status="open", limit=10)) == 1, timeout=20,
                   what="the account following the resting fill")  # fmt: skip
        (follow,) = alpaca.account.list_orders(status="open", limit=10)
        assert follow["side"] == "sell" and Decimal(follow["qty"]) == 3
        service.send_signal(signal.SIGTERM)
        assert service.wait(30) == 0
    finally:
        if service.poll() is None:
            service.kill()
            service.wait(10)
        output = service.stdout.read() if service.stdout else ""
        print(output)
