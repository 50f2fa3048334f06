"""`stratforge-admin reconcile` against the Alpaca stand-in and the test database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.adapters.alpaca.broker import AlpacaBroker
from core.cli.admin import main
from core.db.models import Position
from core.domain.orders import OrderRequest, OrderSide


@pytest.fixture(autouse=True)
def alpaca_keys(alpaca, monkeypatch):
    monkeypatch.setenv("APCA_API_KEY_ID", alpaca.key_id)
    monkeypatch.setenv("APCA_API_SECRET_KEY", alpaca.secret_key)


def test_reconcile_reports_and_exits_by_outcome(db, make_user, alpaca, capsys):
    url = db.engine.url.render_as_string(hide_password=False)
    broker = AlpacaBroker(alpaca.key_id, alpaca.secret_key, url_override=alpaca.rest_url)
    order = broker.submit_order(OrderRequest("club-1", "AAPL", OrderSide.BUY, Decimal("5")))
    alpaca.fill(order.id, "5", "100")
    user = make_user("zoe")
    with db.session_factory() as s:
        s.add(Position(user_id=user, symbol="AAPL", quantity=Decimal("5"), cost_basis=Decimal("500"), status="OPEN"))
        s.commit()

    assert main(["reconcile", "--database-url", url, "--alpaca-url", alpaca.rest_url]) == 0
    assert "virtual positions match" in capsys.readouterr().out

    extra = broker.submit_order(OrderRequest("club-2", "MSFT", OrderSide.BUY, Decimal("2")))
    alpaca.fill(extra.id, "2", "400")
    assert main(["reconcile", "--database-url", url, "--alpaca-url", alpaca.rest_url]) == 1
    assert "MSFT: users hold 0, broker holds 2 (gap +2)" in capsys.readouterr().out


def test_unreachable_broker_is_a_clear_error(db, alpaca, capsys, monkeypatch):
    url = db.engine.url.render_as_string(hide_password=False)
    assert main(["reconcile", "--database-url", url, "--alpaca-url", "http://127.0.0.1:1"]) == 2
    assert "the broker did not answer" in capsys.readouterr().err
