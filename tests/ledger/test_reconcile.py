"""Reconciliation reports differences between the virtual books and the real account, and fixes nothing."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from core.db.models import Position
from core.domain.orders import BrokerPosition, OrderSide
from core.domain.tickets import OrderTicket
from core.ledger.reconcile import reconcile

D = Decimal


def test_matching_and_differing_books(db, ledger, broker, make_user):
    a, b = make_user("ann"), make_user("ben")
    for user, qty in ((a, "3"), (b, "4")):
        placed = ledger.place_order(user, OrderTicket("AAPL", OrderSide.BUY, D(qty)))
        broker.fill(placed.client_order_id, qty, "100")

    broker.get_positions = lambda: [BrokerPosition("AAPL", D("7"), D("100"))]
    report = reconcile(db.session_factory, broker)
    assert report.matches and report.lines() == ["OK: 1 symbols, virtual positions match the broker account."]

    # Someone traded the shared account by hand: the broker holds more AAPL and some TSLA nobody owns.
    broker.get_positions = lambda: [BrokerPosition("AAPL", D("9"), D("100")), BrokerPosition("TSLA", D("1"), D("200"))]
    report = reconcile(db.session_factory, broker)
    assert not report.matches
    assert {(d.symbol, d.virtual_qty, d.broker_qty, d.gap) for d in report.differences} == {
        ("AAPL", D("7"), D("9"), D("2")),
        ("TSLA", D("0"), D("1"), D("1")),
    }
    assert "AAPL: users hold 7, broker holds 9 (gap +2)" in "\n".join(report.lines())
    with db.session_factory() as s:  # reported, never "fixed"
        assert sorted(s.scalars(select(Position.quantity))) == [D("3"), D("4")]
