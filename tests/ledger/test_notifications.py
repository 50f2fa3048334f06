"""Every client learns of a change made by another, through PostgreSQL LISTEN/NOTIFY."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

from core.db.notify import NotificationListener
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.ledger.service import ledger_channel


def test_another_client_hears_orders_and_fills(db, ledger, broker, make_user):
    user = make_user("nina")
    heard: list[str] = []
    got = threading.Event()

    def on_change(payload: str) -> None:
        heard.append(payload)
        got.set()

    url = db.engine.url.render_as_string(hide_password=False)
    listener = NotificationListener(url, ledger_channel(user), on_change)
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


def test_each_user_hears_only_their_own_books_change(db, ledger, broker, make_user):
    """One channel per user: in a club any role may LISTEN on any channel, so a shared one would tell every
    member whose books changed and when."""
    ann, ben = make_user("ann"), make_user("ben")
    url = db.engine.url.render_as_string(hide_password=False)
    heard: dict[str, list[str]] = {"ann": [], "ben": [], "everyone": []}
    got_ann = threading.Event()

    def hear(who: str):
        def on(payload: str) -> None:
            heard[who].append(payload)
            if who == "ann":
                got_ann.set()

        return on

    listeners = [
        NotificationListener(url, ledger_channel(ann), hear("ann")),
        NotificationListener(url, ledger_channel(ben), hear("ben")),
        NotificationListener(url, "stratforge_ledger", hear("everyone")),  # the old shared channel stays silent
    ]
    for listener in listeners:
        listener.start()
    try:
        ledger.place_order(ann, OrderTicket("AAPL", OrderSide.BUY, Decimal("1")))
        assert got_ann.wait(10)
        time.sleep(0.3)  # time for a stray notification to arrive
    finally:
        for listener in listeners:
            listener.stop()
    assert set(heard["ann"]) == {str(ann)} and heard["ben"] == [] and heard["everyone"] == []
