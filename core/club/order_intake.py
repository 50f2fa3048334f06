"""The club service's side of the order path: take the traders' requests, place or cancel, answer.

A trader's role files ``order_requests`` rows (core.club.order_requests); this runs in the elected club service
as the club's role, which alone may write orders and money. One thread takes the waiting requests oldest first,
one at a time:

1. claim: ``FOR UPDATE SKIP LOCKED``, status 'processing', committed before anything else happens;
2. the ticket is rebuilt from the row (a malformed one is a rejection with the ticket's own message) and goes
   through the same ``Ledger.place_order`` as solo mode, for the request's own user, with ``request_id`` (the
   ledger refuses session, signal and strategy ids of another user); a cancel is ``Ledger.cancel_order``;
3. answer: 'accepted' with the order's id, or 'rejected' with the reason the trader reads, in one transaction
   with a ``trade_logs`` row whenever the order exists (the audit trail: who asked what, what was answered) and
   a NOTIFY on the user's own ledger channel (the waiting trader reads its answer at once).

Crash safety: a request found 'processing' when the intake starts was claimed by a service that died. If its
order exists (``orders.request_id``) it is answered accepted; otherwise it is placed again, and the unique
``orders.request_id`` makes a second placement impossible even if the dead service's transaction lands late (that
IntegrityError is answered accepted, with the order that won).
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.club.order_requests import ORDER_REQUESTS_CHANNEL, ticket_from_json
from core.db.notify import NotificationListener
from core.db.raw import engine_of, raw_connection
from core.domain.tickets import InvalidTicket, OrderTicket
from core.ledger.errors import LedgerError, OrderRejected
from core.ledger.service import ledger_channel
from core.ledger.views import PlacedOrder

log = logging.getLogger(__name__)

INTAKE_POLL_S = 1.0  # the NOTIFY is a hint: a missed one costs at most this long
RETRY_AFTER_ERROR_S = 1.0
CANCELED_ALREADY = ("canceled", "pending_cancel")

_CLAIM = """
UPDATE order_requests SET status = 'processing'
WHERE id = (
    SELECT id FROM order_requests WHERE status = 'requested' ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
)
RETURNING id, user_id, kind, ticket, session_id, signal_id, strategy_id, order_id
"""
_UNFINISHED = """
SELECT id, user_id, kind, ticket, session_id, signal_id, strategy_id, order_id
FROM order_requests WHERE status = 'processing' ORDER BY created_at, id
"""
_ORDER_OF_REQUEST = "SELECT id FROM orders WHERE request_id = %s"
_ORDER_STATUS = "SELECT status FROM orders WHERE id = %s AND user_id = %s"
# The answer, its audit row and the trader's wake-up in one statement (one round trip, one commit). The audit row
# is written only for an order of the request's own user (a cancel naming someone else's order logs nothing under
# it); nothing at all when the request was answered already (by a predecessor that was only presumed dead).
_ANSWER = """
WITH answered AS (
    UPDATE order_requests
       SET status = %(status)s, order_id = coalesce(%(order_id)s, order_id), reason = %(reason)s, answered_at = now()
     WHERE id = %(id)s AND status = 'processing'
    RETURNING user_id
), logged AS (
    INSERT INTO trade_logs (order_id, user_id, log_level, message, data)
    SELECT o.id, o.user_id, %(level)s, %(message)s, %(data)s
      FROM orders o JOIN answered a ON a.user_id = o.user_id
     WHERE o.id = %(log_order)s
)
SELECT pg_notify(%(channel)s, user_id::text) FROM answered
"""


class RequestLedger(Protocol):
    """What the intake needs of the Ledger: placement that records the request it serves, and cancelling."""

    def place_order(
        self,
        user_id: uuid.UUID,
        ticket: OrderTicket,
        *,
        session_id: uuid.UUID | None = None,
        signal_id: uuid.UUID | None = None,
        strategy_id: uuid.UUID | None = None,
        request_id: uuid.UUID | None = None,
    ) -> PlacedOrder: ...

    def cancel_order(self, user_id: uuid.UUID, order_id: uuid.UUID) -> None: ...


@dataclass(frozen=True)
class Request:
    id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    ticket: Any
    session_id: uuid.UUID | None
    signal_id: uuid.UUID | None
    strategy_id: uuid.UUID | None
    order_id: uuid.UUID | None


@dataclass(frozen=True)
class Answer:
    status: str  # 'accepted' | 'rejected'
    order_id: uuid.UUID | None = None
    reason: str | None = None


class Halted(Exception):
    """The intake was halted (tests: its process died) while it worked on a request."""


class OrderIntake:
    """Answers the traders' order requests; ``start()`` a thread, ``wake()`` on NOTIFY, ``stop()``.

    With ``listen_url`` it LISTENs on ``stratforge_order_requests`` itself (the insert trigger's NOTIFY: a request
    is taken within milliseconds instead of at the next ``poll_s``). ``process()`` runs one pass on the caller's
    thread (the thread's loop calls it)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        ledger: RequestLedger,
        *,
        listen_url: str | None = None,
        poll_s: float = INTAKE_POLL_S,
        name: str = "order-intake",
    ) -> None:
        self._engine = engine_of(session_factory)
        self._ledger = ledger
        self._poll_s = poll_s
        self.name = name
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._halted = threading.Event()
        self._recover = True  # the first pass finishes what a dead predecessor claimed
        self._passes = threading.Condition()
        self._asked = 0  # wake-ups asked for
        self._served = 0  # the wake-ups a finished pass had seen when it began
        self._thread: threading.Thread | None = None
        self._listener = (
            # on_reconnect: requests filed while the connection was down were never heard; a pass finds them.
            NotificationListener(listen_url, ORDER_REQUESTS_CHANNEL, lambda _id: self.wake(), on_reconnect=self.wake)
            if listen_url
            else None
        )
        self.answered = 0

    # ----- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._listener is not None:
            self._listener.start()  # before the first pass: a request filed meanwhile is seen by one or the other
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._ask()

    def _ask(self) -> int:
        with self._passes:
            self._asked += 1
            asked = self._asked
        self._wake.set()
        return asked

    def resettle(self) -> None:
        """Look at unfinished ('processing') requests again at the next pass, then take new ones."""
        self._recover = True
        self.wake()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._listener is not None:
            self._listener.stop(timeout)
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def halted(self) -> bool:
        return self._halted.is_set()

    def halt(self) -> None:
        """Tests: behave like a process that died: from now on nothing more is written, whatever it was doing."""
        self._halted.set()
        self.stop(0)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Whether every request filed before this call was answered within ``timeout`` (tests, the benchmark)."""
        asked = self._ask()
        with self._passes:
            return self._passes.wait_for(lambda: self._served >= asked, timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            with self._passes:
                asked = self._asked
            try:
                self.process()
            except Halted:
                return
            except Exception:
                if self._halted.is_set():
                    return
                log.exception("%s: a pass failed; trying again", self.name)
                self._recover = True
                self._stopping.wait(RETRY_AFTER_ERROR_S)
                continue
            with self._passes:
                self._served = asked
                self._passes.notify_all()
            self._wake.wait(self._poll_s)

    # ----- one pass ----------------------------------------------------------------------------
    def process(self) -> int:
        """Answer every waiting request (unfinished ones first after a start or an error); how many."""
        done = 0
        if self._recover:
            for unfinished in self._unfinished():
                self._handle(unfinished, recovering=True)
                done += 1
            self._recover = False
        while not self._stopping.is_set():
            request = self._claim()
            if request is None:
                break
            self._handle(request, recovering=False)
            done += 1
        return done

    def _unfinished(self) -> list[Request]:
        with raw_connection(self._engine, autocommit=True) as conn:
            return [Request(*row) for row in conn.execute(_UNFINISHED).fetchall()]

    def _claim(self) -> Request | None:
        """Committed without waiting for the disk: a claim lost with a crashed server leaves the request
        'requested', and it is simply claimed again (the placement's own commit is durable, and its unique
        request_id refuses a second one). bench.order_requests: a flushed commit here cost 2.9 ms of the 10 ms."""
        self._check_alive()
        with raw_connection(self._engine) as conn:
            conn.execute("SET LOCAL synchronous_commit = off")
            row = conn.execute(_CLAIM).fetchone()
            conn.commit()
        return None if row is None else Request(*row)

    def _handle(self, request: Request, *, recovering: bool) -> None:
        if recovering:
            existing = self._order_of(request.id) if request.kind == "place" else None
            if existing is not None:  # placed by the service that died before it could answer
                log.info("%s: request %s was placed before a restart; answering", self.name, request.id)
                self._answer(request, Answer("accepted", existing))
                return
        answer = self._place(request) if request.kind == "place" else self._cancel(request, recovering=recovering)
        self._answer(request, answer)

    def _place(self, request: Request) -> Answer:
        try:
            ticket = ticket_from_json(request.ticket)
        except (InvalidTicket, ValueError, TypeError) as exc:
            return Answer("rejected", reason=f"The order is malformed: {exc}.")
        try:
            placed = self._ledger.place_order(
                request.user_id, ticket, session_id=request.session_id, signal_id=request.signal_id,
                strategy_id=request.strategy_id, request_id=request.id,
            )  # fmt: skip
        except OrderRejected as exc:
            self._check_alive()
            return self._unless_placed(request, Answer("rejected", reason=exc.reason))
        except LedgerError as exc:
            self._check_alive()
            return self._unless_placed(request, Answer("rejected", reason=str(exc)))
        except (SAIntegrityError, psycopg.IntegrityError):
            # The unique request_id: the order was placed already (a predecessor's late commit), never twice.
            self._check_alive()
            return self._unless_placed(
                request, Answer("rejected", reason="The order names a session, signal or strategy that does not exist.")
            )
        except Exception as exc:
            self._check_alive()
            if _connection_lost(exc):
                raise  # the database is away: the request stays 'processing' and is recovered at the next pass
            log.exception("%s: placing request %s failed", self.name, request.id)
            return self._unless_placed(
                request,
                Answer("rejected", reason=f"The club service could not place the order ({type(exc).__name__})."),
            )
        self._check_alive()
        return Answer("accepted", placed.id, placed.message)

    def _unless_placed(self, request: Request, refusal: Answer) -> Answer:
        """A refusal, unless an order for the request exists after all (placed, then an error): then accepted."""
        existing = self._order_of(request.id)
        return refusal if existing is None else Answer("accepted", existing)

    def _cancel(self, request: Request, *, recovering: bool) -> Answer:
        if request.order_id is None:
            return Answer("rejected", reason="The cancel request names no order.")
        try:
            self._ledger.cancel_order(request.user_id, request.order_id)
        except LedgerError as exc:
            self._check_alive()
            if recovering and self._status_of(request) in CANCELED_ALREADY:
                return Answer("accepted")  # cancelled by the service that died before it could answer
            return Answer("rejected", reason=str(exc))
        except Exception as exc:
            self._check_alive()
            if _connection_lost(exc):
                raise
            log.exception("%s: cancelling for request %s failed", self.name, request.id)
            return Answer("rejected", reason=f"The club service could not cancel the order ({type(exc).__name__}).")
        self._check_alive()
        return Answer("accepted")

    # ----- reading and answering ---------------------------------------------------------------
    def _order_of(self, request_id: uuid.UUID) -> uuid.UUID | None:
        with raw_connection(self._engine, autocommit=True) as conn:
            row = conn.execute(_ORDER_OF_REQUEST, (request_id,)).fetchone()
        return None if row is None else row[0]

    def _status_of(self, request: Request) -> str | None:
        with raw_connection(self._engine, autocommit=True) as conn:
            row = conn.execute(_ORDER_STATUS, (request.order_id, request.user_id)).fetchone()
        return None if row is None else row[0]

    def _answer(self, request: Request, answer: Answer) -> None:
        """The answer, its audit row (when the order exists) and the trader's wake-up, in one transaction."""
        self._check_alive()
        order_id = answer.order_id if request.kind == "place" else request.order_id
        level = "INFO" if answer.status == "accepted" else "WARNING"
        data = {
            "request_id": str(request.id), "kind": request.kind, "ticket": request.ticket,
            "session_id": _text(request.session_id), "signal_id": _text(request.signal_id),
            "strategy_id": _text(request.strategy_id), "answer": answer.status, "reason": answer.reason,
        }  # fmt: skip
        params = {
            "status": answer.status, "order_id": answer.order_id, "reason": answer.reason, "id": request.id,
            "level": level, "message": _log_message(request, answer), "data": Jsonb(data), "log_order": order_id,
            "channel": ledger_channel(request.user_id),
        }  # fmt: skip
        with raw_connection(self._engine, autocommit=True) as conn:
            if conn.execute(_ANSWER, params).fetchone() is None:
                return
        self.answered += 1
        log.info("%s: request %s (%s) %s%s", self.name, request.id, request.kind, answer.status,
                 f": {answer.reason}" if answer.reason and answer.status == "rejected" else "")  # fmt: skip

    def _check_alive(self) -> None:
        if self._halted.is_set():
            raise Halted()


def _log_message(request: Request, answer: Answer) -> str:
    if request.kind == "place":
        ticket = request.ticket if isinstance(request.ticket, dict) else {}
        what = " ".join(str(ticket.get(k)) for k in ("side", "qty", "symbol", "type") if ticket.get(k) is not None)
        return f"Order placed at the trader's request ({what})."
    if answer.status == "accepted":
        return "Cancel requested by the trader: accepted."
    return f"Cancel requested by the trader: refused ({answer.reason})."


def _connection_lost(exc: BaseException) -> bool:
    if isinstance(exc, psycopg.OperationalError):
        return True
    return isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or isinstance(exc.orig, psycopg.OperationalError)
    )


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)
