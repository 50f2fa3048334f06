"""Every client learns of a change made by another, through PostgreSQL LISTEN/NOTIFY."""

from __future__ import annotations

import threading
from decimal import Decimal

from core.db.notify import NotificationListener
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.ledger.service import NOTIFY_CHANNEL


def test_another_client_hears_orders_and_fills(db, ledger, broker, make_user):
    user = make_user("nina")
    heard: list[str] = []
    got = threading.Event()

    def on_change(payload: str) -> None:
        heard.append(payload)
        got.set()

    listener = NotificationListener(db.engine.url.render_as_string(hide_password=False), NOTIFY_CHANNEL, on_change)
    listener.start()
    try:
        placed = ledger.place_order(user, OrderTicket("AAPL", OrderSide.BUY, Decimal("2")))
        assert got.wait(10)
        got.clear()
        broker.fill(placed.client_order_id, "2", "100")
        assert got.wait(10)
    finally:
        listener.stop()
    assert set(heard) == {str(user)}
    assert len(heard) >= 2
