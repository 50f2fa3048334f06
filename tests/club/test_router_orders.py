"""Virtual orders at the router: cancels, day expiry, and resting orders that never reach the account."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from core.club.desk import ClubDesk
from core.club.router import ClubRouter
from core.domain.clock import utc_now
from core.domain.orders import OrderSide, OrderType, TimeInForce
from core.domain.tickets import OrderTicket
from core.ledger.service import Ledger
from tests.club.conftest import Club, eventually
from tests.ledger.helpers_books import assert_books_balance, user_row

D = Decimal


def limit_buy(qty: str, price: str, tif: TimeInForce = TimeInForce.DAY) -> OrderTicket:
    return OrderTicket("AAPL", OrderSide.BUY, D(qty), OrderType.LIMIT, tif, limit_price=D(price))


def test_a_resting_order_canceled_by_its_trader_releases_its_reservation_and_never_reached_the_account(club: Club):
    a = club.users[0]
    placed = club.ledger.place_order(a, limit_buy("10", "95"))
    assert user_row(club.db, a).reserved_balance == D("950")
    club.ledger.cancel_order(a, placed.id)
    assert club.wait_status(placed.id, "canceled").reserved_amount == 0
    assert user_row(club.db, a).reserved_balance == 0
    assert club.alpaca.account.list_orders(status="all", limit=50) == []
    assert_books_balance(club.db, a)


def test_a_day_order_expires_at_the_close_and_a_gtc_order_keeps_working(club: Club):
    a, b = club.users[:2]
    day = club.ledger.place_order(a, limit_buy("2", "90"))
    gtc = club.ledger.place_order(b, limit_buy("3", "91", TimeInForce.GTC))
    club.router.stop()
    later = ClubRouter(club.db.session_factory, club.street, club.prices, poll_s=0.2,
                       clock=lambda: utc_now() + timedelta(days=5))  # fmt: skip
    club.router = later
    later.start()
    later.wake()
    assert club.wait_status(day.id, "expired").reserved_amount == 0
    later.wait_idle()
    assert club.order(gtc.id).status in ("pending", "accepted")
    assert user_row(club.db, a).reserved_balance == 0 and user_row(club.db, b).reserved_balance == D("273")
    assert_books_balance(club.db, a, b)


def test_a_cancel_asked_while_the_order_is_on_its_way_waits_for_the_street_and_closes_the_rest(club: Club):
    a = club.users[0]
    placed = club.ledger.place_order(a, OrderTicket("AAPL", OrderSide.BUY, D("10")))
    (street,) = club.wait_street_order()
    club.ledger.cancel_order(a, placed.id)
    club.router.wait_idle()
    assert club.order(placed.id).status == "pending_cancel"  # 10 shares are at the broker: nothing to cancel yet
    club.alpaca.fill(street["id"], qty="4", price="100")
    club.alpaca.cancel(street["id"])  # the rest never fills (e.g. the session ended)
    row = club.wait_status(placed.id, "canceled")
    assert row.filled_quantity == 4 and row.reserved_amount == 0
    eventually(lambda: club.steps_open() == 0, what="the step closed")
    club.assert_invariants()


def test_a_street_order_refused_later_refuses_the_traders_market_orders_and_frees_their_reservations(club: Club):
    a, b = club.users[:2]
    club.alpaca.reject_next_orders(1, "halted for news", delay_s=0.3)
    first = club.ledger.place_order(a, OrderTicket("AAPL", OrderSide.BUY, D("3")))
    second = club.ledger.place_order(b, OrderTicket("AAPL", OrderSide.BUY, D("2")))
    for placed in (first, second):
        row = club.wait_status(placed.id, "rejected")
        assert "after accepting it" in (row.error_message or "") and row.reserved_amount == 0
    eventually(lambda: club.steps_open() == 0, what="the step closed")
    club.assert_invariants()


def test_a_street_order_refused_for_the_asset_refuses_the_traders_orders_at_once(club: Club):
    """A club member's app has no asset data of its own (the service holds the keys): the router refuses what the
    account refuses, with its reason, and the reservation comes back."""
    a = club.users[0]
    club.alpaca.add_asset("HALT", tradable=False)
    club.prices.update("HALT", D("10"))
    member = Ledger(club.db.session_factory, ClubDesk(club.db.session_factory, club.router.wake), club.prices)
    placed = member.place_order(a, OrderTicket("HALT", OrderSide.BUY, D("5")))
    row = club.wait_status(placed.id, "rejected")
    assert "not tradable" in (row.error_message or "") and user_row(club.db, a).reserved_balance == 0
    club.assert_invariants()
