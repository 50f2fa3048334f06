"""Order-request benchmark: what the club's request path costs a trader over placing through the ledger directly.

In a club a trader's role cannot write orders (migration 0012): it files an ``order_requests`` row and waits for
the club service's intake to place it with the same ``Ledger.place_order`` and answer
(core.club.order_requests, core.club.order_intake). Here one trader, logged in as its own role, places limit
orders one at a time through ``RequestedOrders`` (its answer heard by LISTEN, polled every 20 ms otherwise) while
an intake runs as the club's role; the same ledger then places the same orders directly, alternating with the
requests so both see the same minutes of a machine whose speed drifts. Latency is from the call to its return.

    python -m bench.order_requests [--quick] [--url postgresql://...] [--orders 300]

Metrics: ``order_request_latency_p50_ms``, ``order_request_latency_p99_ms``, ``direct_place_latency_p50_ms``
and ``order_request_vs_direct_p50`` (their ratio). The server must let the benchmark create roles (a superuser's
URL, as the tests use); without --url (or STRATFORGE_TEST_DATABASE_URL) an embedded PostgreSQL is started.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass
from decimal import Decimal

from bench.common import admin_server, cpu_reference_ms, drop_database, emit, percentile, scratch_url

ROLE_PASSWORD = "Bench-Role-Pass-2026"
PRICE = Decimal("100")
WARM_UP = 5


@dataclass(frozen=True)
class Result:
    requested_ms: list[float]  # sorted
    direct_ms: list[float]  # sorted
    unanswered: int

    @property
    def request_p50_ms(self) -> float:
        return percentile(self.requested_ms, 0.5)

    @property
    def request_p99_ms(self) -> float:
        return percentile(self.requested_ms, 0.99)

    @property
    def direct_p50_ms(self) -> float:
        return percentile(self.direct_ms, 0.5)


def run(admin_url: str, orders: int) -> Result:
    """``orders`` requested and ``orders`` direct placements on a scratch database of ``admin_url``'s server."""
    url = scratch_url(admin_url)
    try:
        return _run(url, orders)
    finally:
        drop_database(admin_url, url)


def _run(url: str, orders: int) -> Result:
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    from core.accounts import AccountService
    from core.club.desk import ClubDesk
    from core.club.order_intake import OrderIntake
    from core.club.order_requests import RequestedOrders
    from core.db import migrate
    from core.db.club_roles import group_role, scram_verifier, trader_role
    from core.db.engine import make_engine, make_session_factory
    from core.db.models import RiskSettings
    from core.db.notify import libpq_url
    from core.domain.orders import OrderSide, OrderType, TimeInForce
    from core.domain.tickets import OrderTicket
    from core.ledger.prices import LastPrices
    from core.ledger.service import Ledger

    owner = make_engine(url, pool_size=2, max_overflow=2)
    migrate.upgrade(owner)
    owner_sessions = make_session_factory(owner)
    accounts = AccountService(owner_sessions)
    trader_id = accounts.sign_up("requests@example.com", "requests", "Bench-Pass-2026x").id
    direct_id = accounts.sign_up("direct@example.com", "direct", "Bench-Pass-2026x").id
    with owner_sessions() as s:  # the benchmark repeats one order on purpose: no duplicate guard, room for all
        s.query(RiskSettings).update({RiskSettings.duplicate_window_seconds: 0, RiskSettings.max_open_orders: 100_000})
        s.commit()
    database = make_url(url).database
    assert database is not None
    club_role, trader = group_role(database, "club"), trader_role(database, "requests")
    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=10) as su:
        su.execute("SELECT sf_admin_grant_login(%s, %s)", (trader_id, scram_verifier(su, ROLE_PASSWORD, trader)))
        su.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(club_role), sql.Literal(ROLE_PASSWORD)))

    def as_role(role: str) -> str:
        return make_url(url).set(username=role, password=ROLE_PASSWORD).render_as_string(hide_password=False)

    club_engine = make_engine(as_role(club_role), pool_size=4, max_overflow=4)
    trader_engine = make_engine(as_role(trader), pool_size=2, max_overflow=2)
    club_sessions, trader_sessions = make_session_factory(club_engine), make_session_factory(trader_engine)
    prices = LastPrices({"AAPL": PRICE})
    # The club service's ledger on the router's desk; no router: the orders rest, virtual, which is all placing needs.
    ledger = Ledger(club_sessions, ClubDesk(club_sessions, lambda: None), prices)
    intake = OrderIntake(club_sessions, ledger, listen_url=as_role(club_role), name="bench-intake")
    requests = RequestedOrders(trader_sessions, listen_url=as_role(trader))
    ticket = OrderTicket("AAPL", OrderSide.BUY, Decimal(1), OrderType.LIMIT, TimeInForce.GTC, limit_price=Decimal(50))
    requested: list[float] = []
    direct: list[float] = []
    unanswered = 0
    intake.start()
    requests.start()
    try:
        for i in range(WARM_UP + orders):
            started = time.perf_counter()
            try:
                requests.place_order(trader_id, ticket)
            except Exception:
                unanswered += 1
                continue
            middle = time.perf_counter()
            ledger.place_order(direct_id, ticket)
            ended = time.perf_counter()
            if i >= WARM_UP:
                requested.append((middle - started) * 1e3)
                direct.append((ended - middle) * 1e3)
    finally:
        requests.stop()
        intake.stop()
        ledger.flush_acceptances()
        for engine in (club_engine, trader_engine, owner):
            engine.dispose()
    return Result(sorted(requested), sorted(direct), unanswered)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--url", default=os.environ.get("STRATFORGE_TEST_DATABASE_URL"))
    parser.add_argument("--orders", type=int, default=None, help="orders each way (default 300, quick 50)")
    args = parser.parse_args()
    orders = args.orders or (50 if args.quick else 300)

    emit("cpu_reference_ms", cpu_reference_ms(), "ms", measures="this machine's speed now (bench.common)")
    with admin_server(args.url, "sf-bench-requests-") as admin:
        result = run(admin, orders)
    emit("order_request_latency_p50_ms", result.request_p50_ms, "ms", orders=len(result.requested_ms),
         unanswered=result.unanswered, mean_ms=round(statistics.fmean(result.requested_ms), 3))  # fmt: skip
    emit("order_request_latency_p99_ms", result.request_p99_ms, "ms")
    emit("direct_place_latency_p50_ms", result.direct_p50_ms, "ms", orders=len(result.direct_ms))
    emit(
        "order_request_vs_direct_p50", result.request_p50_ms / result.direct_p50_ms, "ratio",
        measures="a trader's request answered by the club service's intake over Ledger.place_order called directly",
    )  # fmt: skip


if __name__ == "__main__":
    main()
