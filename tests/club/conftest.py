"""The club router on the strict Alpaca stand-in: several traders, one shared account, the real alpaca-py client."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.accounts import AccountService
from core.adapters.alpaca.broker import AlpacaBroker
from core.club.desk import ClubDesk
from core.club.router import ClubRouter
from core.db.database import Database
from core.db.models import ClubRouteStep, Order, Position
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from tests.alpaca_standin import AlpacaStandIn
from tests.event_recorder import DEADLINE_S
from tests.ledger.helpers_alpaca import event_loop_thread, make_broker, streaming
from tests.ledger.helpers_books import assert_books_balance

PASSWORD = "Tr4ding-Pass-2026"
D = Decimal


def eventually(check: Callable[[], bool], timeout: float = DEADLINE_S, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass
class Club:
    db: Database
    alpaca: AlpacaStandIn
    street: AlpacaBroker
    prices: LastPrices
    router: ClubRouter
    ledger: Ledger
    users: list[uuid.UUID]

    def new_router(self) -> ClubRouter:
        return ClubRouter(self.db.session_factory, self.street, self.prices, window_s=0.3, poll_s=0.2)

    def open_street_orders(self, symbol: str = "AAPL") -> list[dict]:
        return [o for o in self.alpaca.account.list_orders(status="open", limit=500) if o["symbol"] == symbol]

    def wait_street_order(self, symbol: str = "AAPL", count: int = 1) -> list[dict]:
        eventually(lambda: len(self.open_street_orders(symbol)) >= count, what=f"{count} street order(s) on {symbol}")
        return self.open_street_orders(symbol)

    def steps_open(self) -> int:
        with self.db.session_factory() as s:
            return (
                s.scalar(
                    select(func.count()).select_from(ClubRouteStep).where(ClubRouteStep.status.in_(("planned", "open")))
                )
                or 0
            )

    def order(self, order_id: uuid.UUID) -> Order:
        with self.db.session_factory() as s:
            row = s.get(Order, order_id)
            assert row is not None
            return row

    def wait_status(self, order_id: uuid.UUID, *statuses: str) -> Order:
        eventually(lambda: self.order(order_id).status in statuses, what=f"order {order_id} {statuses}")
        return self.order(order_id)

    def virtual_positions(self) -> dict[str, Decimal]:
        with self.db.session_factory() as s:
            rows = s.execute(select(Position.symbol, func.sum(Position.quantity)).group_by(Position.symbol)).all()
        return {sym: qty for sym, qty in rows if qty != 0}

    def assert_invariants(self) -> None:
        """No account rule tripped, every trader's books balance, and the account holds what the traders hold."""
        self.router.wait_idle()
        assert sum(self.alpaca.rule_rejections().values()) == 0, self.alpaca.rule_rejections()
        assert_books_balance(self.db, *self.users)
        real = {s: q for s, q in self.alpaca.positions().items() if q != 0}
        assert self.virtual_positions() == real


@pytest.fixture
def club(db: Database, accounts: AccountService, alpaca: AlpacaStandIn) -> Iterator[Club]:
    users = [accounts.sign_up(f"t{i}@example.com", f"trader{i}", PASSWORD).id for i in range(4)]
    prices = LastPrices({"AAPL": D("100"), "MSFT": D("400")})
    street = make_broker(alpaca)
    with event_loop_thread() as loop, streaming(street, alpaca, loop):
        router = ClubRouter(db.session_factory, street, prices, window_s=0.3, poll_s=0.2)
        desk = ClubDesk(db.session_factory, router.wake, street)
        ledger = Ledger(db.session_factory, desk, prices)
        router.start()
        club = Club(db, alpaca, street, prices, router, ledger, users)
        try:
            yield club
        finally:
            club.router.stop()
            ledger.flush_acceptances()
