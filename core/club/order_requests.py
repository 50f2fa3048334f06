"""The trader's side of the club's order path: file a request, wait for the club service's answer.

In a club a trader's PostgreSQL role cannot write orders or money (row-level security, migration 0012): the only
way it trades is an ``order_requests`` row, which the club service (``core.club.order_intake``, as the club's
role) takes, runs through the same ``Ledger.place_order`` as solo mode (risk chain, reservation) for that
trader only, and answers. ``RequestedOrders`` wraps the round trip so that its callers (the order ticket,
the portfolio's cancel, the paper sessions) cannot tell it from the Ledger: the same two methods
(``OrderDesk``), the same ``PlacedOrder``, the same ``OrderRejected`` with the rule's reason.

Why requests and not SECURITY DEFINER functions: the risk chain, the asset check and the submission to the
router are Python (core.risk, core.ledger); a database function would be a second implementation of them that
could drift from solo mode's. The price is one more hop (bench.order_requests measures it).

The answer is read back by polling the row (``POLL_S``) and, when a URL is given, sooner on the ledger's NOTIFY,
which the intake sends with the user's id once it has answered. A request nobody took within ``deadline_s`` is
withdrawn (``sf_withdraw_order_request``), so a late service can never place an order the trader was told
failed; one already taken is waited for a while longer (``grace_s``), since it may be placed.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy.orm import Session, sessionmaker

from core.db.notify import NotificationListener
from core.db.raw import engine_of, raw_connection
from core.domain.tickets import InvalidTicket, OrderTicket
from core.ledger.errors import LedgerError, OrderRejected
from core.ledger.service import ledger_channel
from core.ledger.views import PlacedOrder

log = logging.getLogger(__name__)

ORDER_REQUESTS_CHANNEL = "stratforge_order_requests"  # migration 0012: every insert NOTIFYs here, without the id
ANSWER_DEADLINE_S = 10.0
# Once the service has taken a request it may be placing it (the ledger retries a refused submit for up to 10 s):
# the trader waits this much longer before giving up on the answer (never on the order).
PROCESSING_GRACE_S = 30.0
POLL_S = 0.02
ANSWERED = ("accepted", "rejected", "withdrawn")
REJECTED_BY_CLUB = "club"  # OrderRejected.rule when the reason came back on a request (the rule's code stays there)

TICKET_FIELDS = (
    "symbol", "side", "qty", "type", "time_in_force", "limit_price", "stop_price", "take_profit_price",
    "stop_loss_price",
)  # fmt: skip


class RequestNotAnswered(LedgerError):
    """The club service did not answer in time; the message says whether anything may have been placed."""


def ticket_json(ticket: OrderTicket) -> dict[str, str | None]:
    """The ticket as the request row keeps it: attribute names, amounts as decimal strings, enums as values."""
    out: dict[str, str | None] = {}
    for name in TICKET_FIELDS:
        value = getattr(ticket, name)
        out[name] = None if value is None else str(value)
    return out


def ticket_from_json(data: object) -> OrderTicket:
    """The ticket a request carries, validated as any ticket is (InvalidTicket names the wrong field)."""
    if not isinstance(data, dict):
        raise InvalidTicket("the request carries no order ticket")
    missing = [name for name in ("symbol", "side", "qty") if data.get(name) is None]
    if missing:
        raise InvalidTicket(f"the request's ticket has no {', '.join(missing)}")
    return OrderTicket(**{name: data[name] for name in TICKET_FIELDS if data.get(name) is not None})


@dataclass(frozen=True)
class _Answer:
    status: str
    reason: str | None
    order_id: uuid.UUID | None
    client_order_id: str | None
    order_status: str | None
    reserved: Decimal | None
    broker_order_id: str | None


_INSERT = (
    "INSERT INTO order_requests (user_id, kind, ticket, session_id, signal_id, strategy_id, order_id) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
_READ = (
    "SELECT r.status, r.reason, r.order_id, o.client_order_id, o.status, o.reserved_amount, o.broker_order_id "
    "FROM order_requests r LEFT JOIN orders o ON o.id = r.order_id WHERE r.id = %s"
)


class RequestedOrders:
    """``OrderDesk`` for a trader's role: each call files a request and blocks until the club service answers.

    ``start()`` listens for the answers' NOTIFY when a URL was given (without it, or before it, answers are
    polled every ``poll_s``); ``stop()`` ends the listener. Thread-safe: every call uses its own pooled
    connection."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        listen_url: str | None = None,
        deadline_s: float = ANSWER_DEADLINE_S,
        grace_s: float = PROCESSING_GRACE_S,
        poll_s: float = POLL_S,
    ) -> None:
        self._engine = engine_of(session_factory)
        self._deadline_s = deadline_s
        self._grace_s = grace_s
        self._poll_s = poll_s
        self._answers = threading.Condition()
        self._generation = 0  # bumped by every NOTIFY, so a wake-up between a read and the wait is not lost
        self._listen_url = listen_url
        self._listener: NotificationListener | None = None

    def start(self) -> None:
        """Listen on the logged-in member's own ledger channel (the answers NOTIFY there)."""
        if self._listen_url is None:
            return
        with raw_connection(self._engine, autocommit=True) as conn:
            row = conn.execute("SELECT sf_uid()").fetchone()
        if row is None or row[0] is None:
            return  # not a member's role: answers are polled
        # on_reconnect: an answer that came while the connection was down was never heard; waiters look again.
        self._listener = NotificationListener(self._listen_url, ledger_channel(row[0]), self._on_notify, poll_s=0.5,
                                              on_reconnect=lambda: self._on_notify(""))  # fmt: skip
        self._listener.start()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()

    @property
    def heard(self) -> int:
        """How many NOTIFYs on the member's own ledger channel have woken the waits so far."""
        with self._answers:
            return self._generation

    # ----- OrderDesk ---------------------------------------------------------------------------
    def place_order(
        self,
        user_id: uuid.UUID,
        ticket: OrderTicket,
        *,
        session_id: uuid.UUID | None = None,
        signal_id: uuid.UUID | None = None,
        strategy_id: uuid.UUID | None = None,
    ) -> PlacedOrder:
        """File the order and wait; OrderRejected with the club service's reason when it was refused."""
        request_id = self._file(user_id, "place", ticket_json(ticket), session_id, signal_id, strategy_id, None)
        answer = self._wait(request_id, "placed")
        if answer.status != "accepted":
            raise OrderRejected(answer.reason or "The club service refused the order.", REJECTED_BY_CLUB)
        if answer.order_id is None or answer.client_order_id is None:
            raise LedgerError("The club service accepted the order but its record cannot be read.")
        return PlacedOrder(
            answer.order_id, answer.client_order_id, answer.order_status or "pending", answer.reserved or Decimal(0),
            answer.broker_order_id, message=answer.reason,
        )  # fmt: skip

    def cancel_order(self, user_id: uuid.UUID, order_id: uuid.UUID) -> None:
        """Ask the club service to cancel; LedgerError with its reason when it could not."""
        request_id = self._file(user_id, "cancel", None, None, None, None, order_id)
        answer = self._wait(request_id, "canceled")
        if answer.status != "accepted":
            raise LedgerError(answer.reason or "The club service could not cancel the order.")

    # ----- the round trip ----------------------------------------------------------------------
    def _file(
        self,
        user_id: uuid.UUID,
        kind: str,
        ticket: dict[str, str | None] | None,
        session_id: uuid.UUID | None,
        signal_id: uuid.UUID | None,
        strategy_id: uuid.UUID | None,
        order_id: uuid.UUID | None,
    ) -> uuid.UUID:
        """INSERT the request as the trader's role. The user id is sent too: the row's default is the role's own
        user (``sf_uid()``), and row-level security refuses any other, so a wrong id fails loudly here."""
        params = (user_id, kind, None if ticket is None else Jsonb(ticket), session_id, signal_id, strategy_id,
                  order_id)  # fmt: skip
        try:
            with raw_connection(self._engine) as conn:
                # Not flushed to disk before the answer: a request lost with a crashed server was never placed
                # (the placement's durable commit flushes the request's insert with it, WAL being sequential).
                # bench.order_requests: the flush was 3.3 ms of a 10 ms round trip.
                conn.execute("SET LOCAL synchronous_commit = off")
                row = conn.execute(_INSERT, params).fetchone()
                conn.commit()
        except psycopg.errors.InsufficientPrivilege as exc:
            raise LedgerError("This login may not trade for that account.") from exc
        assert row is not None
        request_id: uuid.UUID = row[0]
        return request_id

    def _wait(self, request_id: uuid.UUID, verb: str) -> _Answer:
        answer = self._poll_until(request_id, time.monotonic() + self._deadline_s)
        if answer is None and self._withdraw(request_id):
            answer = _Answer("withdrawn", None, None, None, None, None, None)
        if answer is not None:
            if answer.status != "withdrawn":
                return answer
            raise RequestNotAnswered(f"The club service did not answer in {self._deadline_s:g} s; nothing was {verb}.")
        # Taken (or answered) just now: the service is working on it, and it may be placed.
        answer = self._poll_until(request_id, time.monotonic() + self._grace_s)
        if answer is not None:
            return answer
        waited = self._deadline_s + self._grace_s
        raise RequestNotAnswered(
            f"The club service took the request but has not answered in {waited:g} s; look at the open orders "
            "before trying again."
        )

    def _poll_until(self, request_id: uuid.UUID, deadline: float) -> _Answer | None:
        while True:
            with self._answers:
                seen = self._generation
            answer = self._read(request_id)
            if answer.status in ANSWERED:
                return answer
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with self._answers:
                if self._generation == seen:
                    self._answers.wait(min(self._poll_s, remaining))

    def _read(self, request_id: uuid.UUID) -> _Answer:
        with raw_connection(self._engine, autocommit=True) as conn:
            row: tuple[Any, ...] | None = conn.execute(_READ, (request_id,)).fetchone()
        if row is None:
            raise LedgerError("The order request has disappeared.")
        return _Answer(*row)

    def _withdraw(self, request_id: uuid.UUID) -> bool:
        with raw_connection(self._engine, autocommit=True) as conn:
            row = conn.execute("SELECT sf_withdraw_order_request(%s)", (request_id,)).fetchone()
        return bool(row and row[0])

    def _on_notify(self, _payload: str) -> None:
        with self._answers:
            self._generation += 1
            self._answers.notify_all()
