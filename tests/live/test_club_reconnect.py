"""ClubClient after a trade-stream reconnection: Alpaca does not replay what it sent while the stream was down, so the
leader settles the open orders again, as at election, and tells its reconnect listeners. One club member on the
stand-in, with the real alpaca-py stream, ledger and database."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from core.accounts import AccountService
from core.adapters.alpaca.broker import AlpacaBroker
from core.adapters.alpaca.budgeted_broker import BudgetedBroker
from core.adapters.alpaca.rate_budget import RateBudget
from core.db.advisory import advisory_key
from core.db.database import Database
from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.live.club_client import ClubClient
from tests.alpaca_standin import AlpacaStandIn
from tests.ledger.helpers_alpaca import event_loop_thread
from tests.ledger.helpers_books import assert_books_balance, order_row, position

DEADLINE_S = 15.0
PASSWORD = "Tr4ding-Pass-2026"


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class Heard:
    def __init__(self) -> None:
        self.counts: list[int] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, count: int) -> None:
        with self._lock:
            self.counts.append(count)
            self.threads.add(threading.current_thread().name)


@pytest.fixture
def member(db: Database, alpaca: AlpacaStandIn) -> Iterator[tuple[ClubClient, Ledger]]:
    url = db.engine.url.render_as_string(hide_password=False)
    with event_loop_thread() as loop:
        stream_broker = AlpacaBroker(
            alpaca.key_id, alpaca.secret_key, url_override=alpaca.rest_url, stream_url_override=alpaca.stream_url,
            timeout_s=5.0,
        )  # fmt: skip
        budgeted = BudgetedBroker(
            stream_broker, RateBudget(db.session_factory, service=f"alpaca-{uuid.uuid4().hex[:12]}")
        )
        ledger = Ledger(db.session_factory, budgeted, LastPrices({"AAPL": Decimal("100")}))
        # A long pause between passes: only a reconnection can bring the next settlement before the test ends.
        club = ClubClient(
            db.session_factory, url, stream_broker, ledger, loop,
            stream_key=advisory_key(f"test-club-reconnect-{uuid.uuid4()}"), poll_s=0.2, settle_after_s=60.0,
        )  # fmt: skip
        try:
            yield club, ledger
        finally:
            club.stop()


def test_a_fill_sent_while_the_stream_was_down_is_settled_after_it_reconnects(
    db: Database, accounts: AccountService, alpaca: AlpacaStandIn, member: tuple[ClubClient, Ledger]
) -> None:
    club, ledger = member
    heard = Heard()
    club.add_reconnect_listener(heard)
    alice = accounts.sign_up("alice@example.com", "alice", PASSWORD).id
    club.start()
    wait_until(lambda: club.is_leader and alpaca.listener_count == 1, "the stream")
    wait_until(lambda: heard.counts == [1], "the first connection")
    placed = ledger.place_order(alice, OrderTicket("AAPL", OrderSide.BUY, Decimal("5"), type=OrderType.LIMIT,
                                                   limit_price=Decimal("99")))  # fmt: skip
    assert placed.broker_order_id is not None
    ledger.flush_acceptances()
    wait_until(lambda: club.settled == 0 and order_row(db, placed.id).status == "accepted", "the acceptance")

    alpaca.drop_connections()
    alpaca.fill(placed.broker_order_id, price="99")  # nobody listens: Alpaca will not send it again
    assert alpaca.listener_count == 0

    wait_until(lambda: order_row(db, placed.id).status == "filled", "the settlement after the reconnection")
    assert heard.counts == [1, 2] and heard.threads == {"alpaca-dispatch"}
    assert club.resettlements == 1 and club.settled >= 1
    held = position(db, alice)
    assert held is not None and held.quantity == Decimal("5")
    assert order_row(db, placed.id).reserved_amount == Decimal("0")
    assert_books_balance(db, alice)


def test_a_reconnection_while_not_leading_settles_nothing(member: tuple[ClubClient, Ledger]) -> None:
    club, _ = member
    club._on_stream_connected(2)  # a late hook from a stream this client no longer leads
    assert club.resettlements == 0
