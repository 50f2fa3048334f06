"""The club's shared REST budget: several clients (own engines, own RateBudget) on one database.

The stand-in enforces the account's limit itself (a fixed window answering 429, which
AlpacaBroker raises as RateLimited), so a club that overspends fails loudly here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from core.accounts import AccountService
from core.adapters.alpaca.broker import AlpacaBroker
from core.adapters.alpaca.budgeted_broker import BudgetedBroker
from core.adapters.alpaca.rate_budget import RateBudget
from core.broker.errors import RateLimited
from core.broker.protocol import Broker
from core.db.database import Database
from core.db.engine import make_engine, make_session_factory
from core.db.models import ApiUsageLog
from core.domain.orders import OrderSide
from core.domain.tickets import OrderTicket
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from tests.alpaca_standin import AlpacaStandIn
from tests.ledger.manual_broker import ManualBroker

LIMIT, WINDOW_S = 20, 2.0


@pytest.fixture
def engines(db: Database) -> Iterator[list[Engine]]:
    """Three clients' own engines on the test database (as three processes would have)."""
    url = db.engine.url.render_as_string(hide_password=False)
    made = [make_engine(url, pool_size=4, max_overflow=2) for _ in range(3)]
    yield made
    for engine in made:
        engine.dispose()


def _max_in_any_window(times: list[float], window_s: float) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window_s:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_club_never_exceeds_the_shared_budget(db: Database, engines: list[Engine], alpaca: AlpacaStandIn) -> None:
    alpaca.set_rate_limit(LIMIT, WINDOW_S)
    brokers = [
        BudgetedBroker(
            AlpacaBroker(alpaca.key_id, alpaca.secret_key, url_override=alpaca.rest_url, timeout_s=5.0),
            RateBudget(make_session_factory(engine), limit=LIMIT, window_s=WINDOW_S, headroom=0.9),
        )
        for engine in engines
    ]
    calls_per_thread, threads_per_client = 4, 4  # 48 calls: 18 + 18 + 12 over three windows
    errors: list[BaseException] = []

    def work(broker: BudgetedBroker) -> None:
        for _ in range(calls_per_thread):
            try:
                broker.get_clock()
            except Exception as exc:  # reported by the assertion below
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(b,)) for b in brokers for _ in range(threads_per_client)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - started
    total = calls_per_thread * threads_per_client * len(brokers)

    assert not any(t.is_alive() for t in threads)
    assert errors == []  # in particular no 429 from the stand-in
    assert alpaca.request_count("GET /v2/clock") == total
    assert elapsed >= 2 * WINDOW_S * 0.9  # 48 calls at 18 per window need a third window
    with db.session_factory() as s:
        rows = s.execute(select(ApiUsageLog.created_at, ApiUsageLog.status_code, ApiUsageLog.endpoint)).all()
    assert len(rows) == total
    assert {(r.status_code, r.endpoint) for r in rows} == {(200, "/v2/clock")}
    stamps = [r.created_at.timestamp() for r in rows]
    assert _max_in_any_window(stamps, WINDOW_S) <= int(LIMIT * 0.9)


def test_acquire_waits_for_a_slot_to_free(db: Database) -> None:
    budget = RateBudget(db.session_factory, limit=3, window_s=1.0, headroom=1.0)
    for _ in range(3):
        budget.acquire("/v2/clock", "GET")
    assert budget.used() == 3
    started = time.monotonic()
    budget.acquire("/v2/clock", "GET", timeout=5.0)
    waited = time.monotonic() - started
    assert 0.5 < waited < 2.0


def test_acquire_raises_rate_limited_when_the_wait_is_too_long(db: Database) -> None:
    budget = RateBudget(db.session_factory, service="alpaca-test", limit=2, window_s=30.0, headroom=1.0)
    budget.acquire("/v2/orders", "POST")
    budget.acquire("/v2/orders", "POST")
    started = time.monotonic()
    with pytest.raises(RateLimited, match=r"shared alpaca-test request budget \(2 per 30 s.*Retry later"):
        budget.acquire("/v2/orders", "POST", timeout=0.5)
    assert time.monotonic() - started < 0.5  # the wait is known up front: fail at once
    # Another service's budget is separate.
    RateBudget(db.session_factory, service="other", limit=1, window_s=30.0).acquire("/x", "GET", timeout=0.1)


def test_budgeted_broker_delegates_and_counts_every_rest_call(db: Database, accounts: AccountService) -> None:
    inner = ManualBroker()
    broker = BudgetedBroker(inner, RateBudget(db.session_factory, limit=3, window_s=60.0, headroom=1.0))
    assert isinstance(broker, Broker) and broker.name == inner.name
    ledger = Ledger(db.session_factory, broker, LastPrices({"AAPL": Decimal("100")}))  # handler via the wrapper
    user = accounts.sign_up("ann@example.com", "ann", "Tr4ding-Pass-2026").id
    placed = ledger.place_order(user, OrderTicket("AAPL", OrderSide.BUY, Decimal("2")))
    inner.fill(placed.client_order_id, "2", "100")  # the event reaches the ledger through the inner broker
    assert ledger.portfolio(user).positions[0].qty == Decimal("2")
    with db.session_factory() as s:
        calls = sorted(s.execute(select(ApiUsageLog.method, ApiUsageLog.endpoint, ApiUsageLog.status_code)).all())
    assert calls == [("GET", "/v2/assets/{symbol}", 200), ("POST", "/v2/orders", 200)]

    broker.get_clock()  # the third and last slot
    with pytest.raises(RateLimited):
        BudgetedBroker(inner, RateBudget(db.session_factory, limit=3, window_s=60.0, headroom=1.0),
                       acquire_timeout_s=0.1).submit_order(inner.submitted[0])  # fmt: skip
    assert len(inner.submitted) == 1  # refused before reaching the broker
