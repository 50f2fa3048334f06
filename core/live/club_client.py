"""ClubClient: one running client's part in sharing one Alpaca account with the rest of the club.

Wiring (the caller builds the pieces, this only connects them):
- ``ledger`` is a Ledger over a BudgetedBroker over ``stream_broker`` (an AlpacaBroker), so its
  REST calls draw from the club's budget and its ``apply_event`` is registered on the
  AlpacaBroker's trade-updates handlers.
- StreamLeadership decides which client streams: elected -> ``start_stream(loop)``;
  demoted/stopped -> ``stop_stream()`` and wait until received events reached the ledger.
  Non-leaders never open the stream, so the account has exactly one listener (Alpaca's rule).
- Settlement (decision): only the leader settles, and it settles every user with open
  orders on this broker, not just its own users. Events sent while nobody was listening
  (the handover gap, a stream reconnect) are lost by the stream; the new leader recovers
  them with ``ledger.settle_user`` (REST by client order id). It settles right after the
  election and again ``settle_after_s`` later, once its stream is surely listening, so a
  fill sent between the first pass and the stream's subscription is not lost either.
  ``settle_user`` closes an order the broker does not know while it is still "pending";
  run by another client that would reject an order whose placement is in flight, so users
  with a pending order younger than ``pending_grace_s`` are skipped and retried later.
- Reconnections: alpaca-py reconnects the stream by itself and Alpaca does not replay what it
  sent meanwhile (a limit order filled during a 2 s drop stayed ``accepted``, its reservation
  held, until the app closed). So after every reconnection the leader settles again, exactly
  as at election (only users with open orders, only their open orders); a pass already
  running makes one more pass instead of a second thread. ``add_reconnect_listener`` hands
  the same signal to others (the order router re-settles its own orders).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.adapters.alpaca.broker import AlpacaBroker
from core.adapters.alpaca.stream_health import StreamStatus
from core.adapters.alpaca.stream_leadership import StreamLeadership
from core.broker.errors import BrokerError
from core.db.advisory import advisory_key
from core.db.models import Order
from core.domain.clock import utc_now
from core.domain.orders import OPEN_LEDGER_STATUSES
from core.ledger.service import Ledger

log = logging.getLogger(__name__)

TRADE_STREAM_KEY = advisory_key("stratforge.stream.alpaca.trade_updates")
PAUSE_STEP_S = 0.1  # how soon a settle thread waiting between passes notices a reconnection's request


class ClubClient:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        db_url: str,
        stream_broker: AlpacaBroker,
        ledger: Ledger,
        loop: asyncio.AbstractEventLoop,
        *,
        stream_key: int = TRADE_STREAM_KEY,
        poll_s: float = 1.0,
        settle_after_s: float = 2.0,
        pending_grace_s: float = 30.0,
        stream_stop_timeout_s: float = 5.0,
        clock: Callable[[], datetime] = utc_now,
        name: str = "club",
    ) -> None:
        self._sessions = session_factory
        self._stream_broker = stream_broker
        self.ledger = ledger
        self._loop = loop
        self._settle_after_s = settle_after_s
        self._pending_grace = timedelta(seconds=pending_grace_s)
        self._stop_timeout = stream_stop_timeout_s
        self._now = clock
        self.name = name
        self._settle_stop = threading.Event()
        self._settle_thread: threading.Thread | None = None
        self._settle_lock = threading.Lock()
        self._settle_again = False  # a reconnection came while a pass was running: one more pass
        self._settling_until: threading.Event | None = None  # the stop event of the running settle thread
        self.settled = 0  # orders changed by this client's settlement passes (for logs and tests)
        self.resettlements = 0  # settlements started by a stream reconnection (for logs and tests)
        self._reconnect_listeners: list[Callable[[int], None]] = []
        self.leadership = StreamLeadership(
            db_url, key=stream_key, on_elected=self._on_elected, on_demoted=self._on_demoted, poll_s=poll_s, name=name
        )
        stream_broker.add_connection_listener(self._on_stream_connected)

    def add_reconnect_listener(self, listener: Callable[[int], None]) -> None:
        """``listener(count)`` after each connection of this client's trade stream, on the stream's dispatch thread
        (events received before it already handed out): count 1 is the first connection after being elected, more
        is a reconnection, after which orders may have changed unseen. Keep it short or hand the work to a thread:
        later events wait behind it."""
        self._reconnect_listeners.append(listener)

    @property
    def stream_status(self) -> StreamStatus | None:
        """The trade stream's trouble, if any, while this client holds it (None: nothing to show)."""
        status = self._stream_broker.stream_status
        return status if self.is_leader and not status.ok else None

    @property
    def is_leader(self) -> bool:
        return self.leadership.is_leader

    def start(self) -> None:
        self.leadership.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Leave the club cleanly: stop streaming (if leading) and release leadership."""
        self.leadership.stop(timeout)

    def crash(self) -> None:
        """Tests: behave like a client whose process died; nothing more is booked by this client."""
        self._stream_broker.remove_event_handler(self.ledger.apply_event)
        self._settle_stop.set()
        self.leadership.kill()
        asyncio.run_coroutine_threadsafe(self._stream_broker.stop_stream(self._stop_timeout), self._loop)

    # ---- leadership callbacks (leadership thread) ----

    def _on_elected(self) -> None:
        log.info("%s: leading the trade-updates stream", self.name)
        future = self._stream_broker.start_stream(self._loop)
        future.add_done_callback(self._stream_ended)
        self._settle_stop = threading.Event()
        self._start_settling()

    def _on_stream_connected(self, count: int) -> None:
        """Dispatch thread: after a reconnection, settle what the stream may have missed (not on this thread:
        later events would wait behind the REST calls)."""
        if count > 1 and self.is_leader and not self._settle_stop.is_set():
            log.info("%s: trade stream reconnected (connection %d); settling open orders", self.name, count)
            self.resettlements += 1
            self._start_settling()
        for listener in list(self._reconnect_listeners):
            try:
                listener(count)
            except Exception:
                log.exception("%s: reconnect listener %r failed", self.name, listener)

    def _start_settling(self) -> None:
        with self._settle_lock:
            stop = self._settle_stop
            running = self._settle_thread
            if running is not None and running.is_alive() and self._settling_until is stop:
                self._settle_again = True
                return
            self._settle_again = False
            self._settling_until = stop
            self._settle_thread = threading.Thread(
                target=self._settle_loop, args=(stop,), name=f"{self.name}-settle", daemon=True
            )
            self._settle_thread.start()

    def _on_demoted(self) -> None:
        log.info("%s: no longer leading the trade-updates stream", self.name)
        self._settle_stop.set()
        stopping = asyncio.run_coroutine_threadsafe(self._stream_broker.stop_stream(self._stop_timeout), self._loop)
        try:
            stopping.result(self._stop_timeout + 1)
        except Exception as exc:  # a stuck loop must not wedge leadership; the next leader settles
            log.warning("%s: stream did not stop cleanly: %s", self.name, exc)
        self._stream_broker.wait_for_dispatch(self._stop_timeout)
        settling = self._settle_thread
        if settling is not None:
            settling.join(self._stop_timeout)

    def _stream_ended(self, future: concurrent.futures.Future[None]) -> None:
        exc = None if future.cancelled() else future.exception()
        if exc is not None:
            log.error("%s: trade-updates stream failed: %s", self.name, exc)

    # ---- settlement (settle thread) ----

    def _settle_loop(self, stop: threading.Event) -> None:
        """Pass at once, pass after ``settle_after_s``, then retry only the users skipped so far; all of it again
        when a reconnection asked for it meanwhile."""
        while not stop.is_set():
            self.settle_all(stop=stop)
            retry: set[uuid.UUID] | None = None
            while not self._pause(stop, self._settle_after_s) and not self._settle_again:
                retry = set(self.settle_all(only=retry, stop=stop))
                if not retry:
                    break
            with self._settle_lock:
                if not self._settle_again or self._settling_until is not stop:
                    return
                self._settle_again = False

    def _pause(self, stop: threading.Event, seconds: float) -> bool:
        """Wait ``seconds``, or less when a reconnection asks for a pass; True when stopping."""
        deadline = time.monotonic() + seconds
        while not stop.is_set() and not self._settle_again:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            stop.wait(min(left, PAUSE_STEP_S))
        return stop.is_set()

    def settle_all(self, only: set[uuid.UUID] | None = None, stop: threading.Event | None = None) -> list[uuid.UUID]:
        """Settle every user (or those in ``only``) with open orders on this broker; returns those skipped."""
        young = self._now() - self._pending_grace
        with self._sessions() as s:
            users = list(
                s.scalars(
                    select(Order.user_id)
                    .where(Order.status.in_(OPEN_LEDGER_STATUSES), Order.broker == self._stream_broker.name)
                    .distinct()
                )
            )
            busy = set(
                s.scalars(select(Order.user_id).where(Order.status == "pending", Order.created_at > young).distinct())
            )
        skipped = []
        for user_id in users:
            if stop is not None and stop.is_set():
                break
            if only is not None and user_id not in only:
                continue
            if user_id in busy:
                skipped.append(user_id)
                continue
            try:
                self.settled += self.ledger.settle_user(user_id)
            except BrokerError as exc:
                log.warning("%s: could not settle user %s now: %s", self.name, user_id, exc)
                skipped.append(user_id)
        return skipped
