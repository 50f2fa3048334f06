"""The invariant under load: 20 users, many threads, long and short, fills duplicated and delivered from other
threads."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from sqlalchemy import select

from core.db.models import Order, PositionHistory
from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.ledger.errors import OrderRejected
from core.ledger.invariant import check_all

D = Decimal
SYMBOLS = ("AAPL", "MSFT")


def test_twenty_users_trading_long_and_short_at_once_keep_their_books_exact(db, ledger, broker, make_user):
    """A sell beyond what a user holds goes short (or flips a long to a short), a buy covers first: every
    mix of them, booked concurrently, leaves the books exact."""
    users = [make_user(f"user{i:02d}", duplicate_window_seconds=0, max_open_orders=50) for i in range(20)]
    events_lock = threading.Lock()
    delivered: list = []
    rejected = 0

    def trader(seed: int) -> None:
        nonlocal rejected
        rng = random.Random(seed)
        for _ in range(15):
            user = rng.choice(users)
            side = rng.choice((OrderSide.BUY, OrderSide.BUY, OrderSide.SELL))
            qty = D(rng.randint(1, 20))
            kind = rng.choice((OrderType.MARKET, OrderType.LIMIT))
            limit = D(rng.randint(95, 105)) if kind is OrderType.LIMIT else None
            try:
                placed = ledger.place_order(user, OrderTicket(rng.choice(SYMBOLS), side, qty, kind, limit_price=limit))
            except OrderRejected:
                with events_lock:
                    rejected += 1
                continue
            outcome = rng.random()
            price = D(rng.randint(9500, 10500)) / 100
            if outcome < 0.5:
                event = broker.fill(placed.client_order_id, qty, price, fee="0.35")
            elif outcome < 0.8:
                # Half of a buy (fractional shares included); whole shares of a sell, which may be a short sale.
                part = qty / 2 if side is OrderSide.BUY else D(int(qty) // 2)
                if part:
                    broker.fill(placed.client_order_id, part, price)
                event = broker.cancel(placed.client_order_id)
            else:
                event = broker.reject(placed.client_order_id, "rejected after acceptance")
            with events_lock:
                delivered.append(event)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(trader, range(8)))

    # Every event again, from several threads and in shuffled order: nothing may change.
    replay = delivered[:]
    random.Random(99).shuffle(replay)
    with ThreadPoolExecutor(max_workers=4) as pool:
        changed = list(pool.map(ledger.apply_event, replay))
    assert not any(changed)

    with db.session_factory() as s:
        reports = check_all(s)
        statuses = set(s.scalars(select(Order.status)))
        went_short = s.scalar(select(PositionHistory.id).where(PositionHistory.quantity_after < 0).limit(1))
    assert len(reports) == 20
    assert [r for r in reports if not r.holds] == []
    assert statuses <= {"filled", "canceled", "rejected"}
    assert went_short is not None
    assert len(delivered) > 60 and rejected < len(delivered)
