"""The workstation of a club member without the account's keys: the club service holds them.

A trader's app on the club's shared database needs no Alpaca keys once the club routes: orders are virtual until
the club service (``stratforge-club``, or a member's app that holds the keys) nets and sends them, and bars come
through the database from whichever process streams them (SharedBarFeed, listening only). The status bar says
whether a router is running at all: without one, orders wait, reserved, until one starts.

When the app logs in as the trader's own role (migration 0012: ``sf_uid()`` names its user), that role cannot
write orders or money: orders and cancels become requests the club service answers (RequestedOrders), and the
ledger here only reads the account. Logged in with the club's shared owner credentials (before 0012, or a club
that has not handed out roles), the ledger places directly, as before.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from core.adapters.alpaca.shared_bar_feed import SharedBarFeed
from core.club.desk import ClubDesk
from core.club.order_requests import RequestedOrders
from core.club.service import SERVICE_KEY, wake_by_notify
from core.db.club_roles import connected_as_member
from core.db.raw import engine_of
from core.ledger.prices import LastPrices
from core.ledger.service import Ledger
from core.ledger.stored_prices import StoredCloses
from core.live.workstation import ALPACA_PAPER, Workstation
from core.market.store import BarStore

log = logging.getLogger(__name__)

ROUTER_CHECK_S = 5.0
# A bigint advisory lock shows in pg_locks as two 32-bit halves (classid, objid) with objsubid 1.
_ROUTER_RUNNING = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
    "AND classid::bigint = :high AND objid::bigint = :low)"
)


class RouterWatch:
    """Whether some process holds the club router's lock, checked off the GUI thread every few seconds."""

    def __init__(self, session_factory: sessionmaker[Session], key: int = SERVICE_KEY, every_s: float = ROUTER_CHECK_S):
        self._sessions = session_factory
        unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
        self._params = {"high": unsigned >> 32, "low": unsigned & 0xFFFF_FFFF}
        self._every_s = every_s
        self.running: bool | None = None  # None: not checked yet
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="club-router-watch", daemon=True)

    def check(self) -> bool:
        with self._sessions() as s:
            self.running = bool(s.scalar(_ROUTER_RUNNING, self._params))
        return self.running

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)

    def _run(self) -> None:
        while True:
            try:
                self.check()
            except Exception as exc:  # the database is briefly away: keep the last answer
                log.debug("router check failed: %s", exc)
            if self._stop.wait(self._every_s):
                return


def club_member(
    store: BarStore, session_factory: sessionmaker[Session], db_url: str, loop: asyncio.AbstractEventLoop
) -> Workstation:
    prices = LastPrices(stored=StoredCloses(engine_of(session_factory)))  # the last stored close until live data
    ledger = Ledger(session_factory, ClubDesk(session_factory, wake_by_notify(session_factory)), prices)
    member = connected_as_member(engine_of(session_factory))  # a member's own role: its orders become requests
    requests = RequestedOrders(session_factory, listen_url=db_url) if member else None
    bars = SharedBarFeed(engine_of(session_factory), db_url, store, loop, None, stream_key=0, name="member-bars")
    router = RouterWatch(session_factory)

    async def subscribe(added: frozenset[str], removed: frozenset[str]) -> None:
        if added:
            await ws.in_worker(bars.want, added)
        if removed:
            await ws.in_worker(bars.unwant, removed)

    def describe(w: Workstation) -> tuple[str, bool, str, bool]:
        last = f", last bar {w.last_bar_at:%H:%M} UTC" if w.last_bar_at else ""
        feed = f"Feed: the club's data stream{last}"
        if router.running is None:
            return feed, True, "Broker: the club's router — checking…", True
        if router.running:
            return feed, True, "Broker: Alpaca paper through the club's router", True
        return feed, True, "Broker: no club router is running — orders wait until one starts", False

    closers: list[Callable[[], object]] = [router.stop, bars.stop]
    starters: list[Callable[[], object]] = [bars.start, router.start]
    if requests is not None:
        closers.append(requests.stop)
        starters.append(requests.start)
    ws = Workstation(
        ALPACA_PAPER, store, bars, ledger, prices, subscribe=subscribe, describe=describe, feed=bars,
        closers=closers, starters=starters, session_factory=session_factory, orders=requests,
        settles=requests is None,
    )  # fmt: skip
    return ws
