"""The club service: the one process that holds the shared account, streams its trade updates and routes.

Several may run (the headless ``stratforge-club`` on a small server, a trader's app that holds the keys); one is
active. Election is the trade stream's advisory lock (Alpaca allows one trade-updates stream per account, and the
router must see the street's events, so the stream holder and the router are the same process). A crashed
holder's database connection dies with it, PostgreSQL releases the lock, and a standby wins at its next poll
(``poll_s``, 1 s): it re-settles every unfinished routing step over REST before it routes anything new.

While active:
- ``street`` (an AlpacaBroker, behind the club's request budget when given one) streams trade updates to the
  router; every (re)connection of that stream triggers a re-settlement (Alpaca does not replay missed events);
- traders' apps say "a virtual order changed" with NOTIFY on ``stratforge_club``; the service LISTENs and wakes
  the router (its own desk wakes it directly);
- traders whose apps log in as their own role (migration 0012) cannot write orders: they file ``order_requests``,
  which the service's intake (core.club.order_intake) places through a ledger on the router's desk and answers;
  it LISTENs on ``stratforge_order_requests``, polls every ``intake_poll_s`` in case a NOTIFY was missed, and
  first finishes what a dead predecessor had claimed (at every election and re-settlement);
- closed bars reach ``on_bar`` from whichever feed the caller wires (the service's own data stream, or the app's).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from core.adapters.alpaca.broker import AlpacaBroker
from core.adapters.alpaca.stream_health import StreamStatus
from core.adapters.alpaca.stream_leadership import StreamLeadership
from core.broker.protocol import Broker
from core.club.desk import ClubDesk
from core.club.order_intake import INTAKE_POLL_S, OrderIntake
from core.club.router import ROUTER_CHANNEL, ClubRouter
from core.db.advisory import advisory_key
from core.db.models import Order
from core.db.notify import NotificationListener
from core.domain.bars import NormalizedBar
from core.domain.orders import OPEN_LEDGER_STATUSES
from core.ledger.prices import PriceSource
from core.ledger.service import Ledger

log = logging.getLogger(__name__)

# The key an older StratForge's stream holder used: an old client and a new service never both stream.
SERVICE_KEY = advisory_key("stratforge.stream.alpaca.trade_updates")
DIRECT_PENDING_GRACE = timedelta(seconds=30)


class ClubService:
    """Competes for the club's account; while it holds it, streams, routes and books."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        db_url: str,
        stream_broker: AlpacaBroker,
        prices: PriceSource,
        loop: asyncio.AbstractEventLoop,
        *,
        ledger_prices: PriceSource | None = None,
        street: Broker | None = None,
        key: int = SERVICE_KEY,
        poll_s: float = 1.0,
        window_s: float = 0.05,
        router_poll_s: float = 1.0,
        intake_poll_s: float = INTAKE_POLL_S,
        name: str = "club-service",
    ) -> None:
        self._sessions = session_factory
        self._url = db_url
        self._stream_broker = stream_broker
        self._street: Broker = street or stream_broker  # e.g. a BudgetedBroker over the same account
        self._prices = prices  # live prices only: the router never crosses traders' orders at last night's close
        # What the intake's ledger values a trader's request at: the last stored close until the feed prices the
        # symbol (as the trader's own ticket showed it), so a first order is not refused for want of a live bar.
        self._ledger_prices = ledger_prices or prices
        self._loop = loop
        self._window_s = window_s
        self._router_poll_s = router_poll_s
        self._intake_poll_s = intake_poll_s
        self.name = name
        self._lock = threading.Lock()
        self.router: ClubRouter | None = None
        self.intake: OrderIntake | None = None
        self._intake_ledger: Ledger | None = None
        self._listener: NotificationListener | None = None
        self._stream: concurrent.futures.Future[None] | None = None
        self.elections = 0
        self.leadership = StreamLeadership(
            db_url, key=key, on_elected=self._on_elected, on_demoted=self._on_demoted, poll_s=poll_s, name=name
        )
        stream_broker.add_connection_listener(self._on_stream_connected)

    @property
    def stream_status(self) -> StreamStatus | None:
        """The trade stream's trouble (a refused connection), while this process holds it; None: nothing to show."""
        status = self._stream_broker.stream_status
        return status if self.is_active and not status.ok else None

    @property
    def is_active(self) -> bool:
        return self.leadership.is_leader and self.router is not None

    def start(self) -> None:
        self.leadership.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.leadership.stop(timeout)
        self._on_demoted()

    def kill(self) -> None:
        """Tests: behave like a service whose process died mid-step: nothing more is routed or booked by it, its
        stream closes, and its lock goes with its database connection."""
        with self._lock:
            router, intake = self.router, self.intake
        if router is not None:
            router.halt()
        if intake is not None:
            intake.halt()
        self.leadership.kill()
        self._on_demoted()

    def wake(self) -> None:
        router = self.router
        if router is not None:
            router.wake()

    def on_bar(self, symbol: str, bar: NormalizedBar) -> None:
        router = self.router
        if router is not None:
            router.on_bar(symbol, bar)

    # ----- leadership callbacks (the leadership thread) --------------------------------------
    def _on_elected(self) -> None:
        with self._lock:
            if self.router is not None:
                return
            self.elections += 1
            log.info("%s: elected; re-settling, then routing", self.name)
            router = ClubRouter(
                self._sessions, self._street, self._prices, window_s=self._window_s, poll_s=self._router_poll_s
            )
            self.router = router
            router.start()  # its first work item is a re-settlement of every unfinished step
            # on_reconnect: work announced while the connection was down was never heard; the router looks again.
            listener = NotificationListener(self._url, ROUTER_CHANNEL, lambda _payload: router.wake(),
                                            on_reconnect=router.wake)  # fmt: skip
            listener.start()
            self._listener = listener
            self._start_intake(router)
            self._stream = self._stream_broker.start_stream(self._loop)
            threading.Thread(target=self._settle_direct_orders, name=f"{self.name}-legacy", daemon=True).start()

    def _start_intake(self, router: ClubRouter) -> None:
        """The traders' requests are placed by a ledger on the router's desk (assets checked with the street),
        so a requested order is routed exactly as one a trader's own ledger placed."""
        ledger = Ledger(self._sessions, ClubDesk(self._sessions, router.wake, self._street), self._ledger_prices)
        intake = OrderIntake(self._sessions, ledger, listen_url=self._url, poll_s=self._intake_poll_s,
                             name=f"{self.name}-intake")  # fmt: skip
        intake.start()
        self.intake, self._intake_ledger = intake, ledger

    def _on_demoted(self) -> None:
        with self._lock:
            router, self.router = self.router, None
            listener, self._listener = self._listener, None
            stream, self._stream = self._stream, None
            intake, self.intake = self.intake, None
            intake_ledger, self._intake_ledger = self._intake_ledger, None
        for stopping in (listener, intake):
            if stopping is not None:
                stopping.stop()
        if intake_ledger is not None and intake is not None and not intake.halted:
            intake_ledger.flush_acceptances()
        if stream is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._stream_broker.stop_stream(), self._loop).result(10)
            except Exception as exc:  # a loop already closed at shutdown: nothing left to stop
                log.debug("%s: stopping the stream: %s", self.name, exc)
            self._stream_broker.wait_for_dispatch(5.0)
        if router is not None:
            router.stop()
            log.info("%s: no longer the club's router", self.name)

    def _settle_direct_orders(self) -> None:
        """Orders an older StratForge sent to the account one by one (``broker = 'alpaca'``) are still settled by
        client order id, as that version's stream holder did, until none is open."""
        ledger = Ledger(self._sessions, self._street, self._ledger_prices, subscribe=False)
        with self._sessions() as s:
            users = list(s.scalars(
                select(Order.user_id).where(
                    Order.broker == self._stream_broker.name, Order.status.in_(OPEN_LEDGER_STATUSES)
                ).distinct()
            ))  # fmt: skip
        for user_id in users:
            if self.router is None:
                return
            try:
                ledger.settle_user(user_id, pending_grace=DIRECT_PENDING_GRACE)
            except Exception as exc:  # the next election or reconnect tries again
                log.warning("%s: settling %s's direct orders failed: %s", self.name, user_id, exc)

    def _on_stream_connected(self, count: int) -> None:
        """Every (re)connection: events sent while nobody listened are lost; read the unfinished steps back."""
        router = self.router
        if router is not None:
            if count > 1:
                log.info("%s: trade stream reconnected (%d); re-settling", self.name, count)
            router.resettle()
            intake = self.intake
            if intake is not None:
                intake.resettle()
            if count > 1:
                threading.Thread(target=self._settle_direct_orders, name=f"{self.name}-legacy", daemon=True).start()


def wake_by_notify(session_factory: sessionmaker[Session]) -> Callable[[], None]:
    """For a trader's app that does not route: tell the club service a virtual order changed."""

    def wake() -> None:
        with session_factory() as s:
            s.execute(text("SELECT pg_notify(:channel, '')"), {"channel": ROUTER_CHANNEL})
            s.commit()

    return wake
