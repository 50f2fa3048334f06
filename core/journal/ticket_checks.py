"""The order ticket's behavioural checks: the ledger's view of the trader, judged by the journal's rules.

The ticket asks before it sends: ``evaluate`` turns what was typed into a proposed order priced as the ledger
will judge it (its limit or stop, else the last price), reads the trader's portfolio from the ledger and runs the
pre-trade checks. ``record`` stores what the trader did about the nudges. Both block on the database, so the GUI
calls them on a worker thread. The checks advise; the ledger's risk rules decide: nothing here can stop an order
the ledger would accept, and a check that cannot run (no price known yet) never holds an order back.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session, sessionmaker

from core.domain.tickets import OrderTicket
from core.journal.check_records import record_pre_trade_response
from core.journal.check_types import PreTradeEvaluation, ProposedOrder
from core.journal.pre_trade_service import evaluate_order
from core.ledger.service import Ledger


class TicketChecks:
    """Pre-trade checks for one ledger's orders (composed by the application, passed to the ticket)."""

    def __init__(self, session_factory: sessionmaker[Session], ledger: Ledger) -> None:
        self._sessions = session_factory
        self._ledger = ledger

    def evaluate(self, user_id: uuid.UUID, ticket: OrderTicket) -> PreTradeEvaluation:
        """Every applicable check of ``ticket`` (blocking). Raises InvalidJournalInput when no price is known
        for a market order's symbol yet (the ticket then sends without checks, saying so)."""
        proposal = ProposedOrder.from_ticket(ticket, self._ledger.last_price(ticket.symbol))
        return evaluate_order(self._sessions, user_id, proposal, self._ledger.portfolio(user_id))

    def record(
        self, user_id: uuid.UUID, evaluation: PreTradeEvaluation, action: str, order_id: uuid.UUID | None = None
    ) -> tuple[uuid.UUID, ...]:
        """Store the trader's answer (proceeded, modified, cancelled) to ``evaluation`` (blocking)."""
        return record_pre_trade_response(self._sessions, user_id, evaluation, action, order_id=order_id)
