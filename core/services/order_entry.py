"""Placing a manual order: the trader's own rules advise, the ledger decides, and the answer is remembered.

This is the order ticket's workflow without the ticket, so the GUI and any command line run the same steps:

1. ``check``: the behavioural pre-trade checks (``core.journal.ticket_checks``) judge the order. A failed
   warning or critical check means the trader is asked first (``CheckOutcome.ask``); info-level nudges and
   checks that cannot run (no price known yet) never hold an order back.
2. ``send``: the ledger places the order (its risk rules have the last word); when the order had been checked,
   the trader's answer ("proceeded") is recorded with the checks and the order id. The ledger is reached through
   an ``OrderDesk``: the Ledger itself, or in a club a trader's ``RequestedOrders`` (the club service runs the same
   ledger for the trader and answers with the same refusals).
3. ``answer``: the trader declined ("cancelled") or changed the order ("modified"); recorded, nothing sent.

Every method blocks on the database (and ``send`` on the broker), so the GUI calls them on a worker thread.
They return plain values and never raise for a refusal the trader should read: the view shows what comes back.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from core.db.trouble import trader_message
from core.domain.money import money, reservation
from core.domain.orders import OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.journal.check_types import CANCELLED, CRITICAL, INFO, MODIFIED, PROCEEDED, PreTradeEvaluation
from core.journal.errors import JournalError
from core.journal.ticket_checks import TicketChecks
from core.ledger.errors import LedgerError, OrderRejected
from core.ledger.prices import PriceQuote
from core.ledger.service import Ledger
from core.ledger.views import OrderDesk, PlacedOrder

log = logging.getLogger(__name__)


class PreTradeChecks(Protocol):
    """What the workflow needs of the checks (``TicketChecks`` is the real one; tests may pass another)."""

    def evaluate(self, user_id: uuid.UUID, ticket: OrderTicket) -> PreTradeEvaluation: ...

    def record(
        self, user_id: uuid.UUID, evaluation: PreTradeEvaluation, action: str, order_id: uuid.UUID | None = None
    ) -> tuple[uuid.UUID, ...]: ...


def pre_trade_checks(session_factory: sessionmaker[Session], ledger: Ledger) -> PreTradeChecks:
    """The journal's checks for ``ledger``'s orders, composed here so the app need not know the module."""
    return TicketChecks(session_factory, ledger)


@dataclass(frozen=True)
class Nudge:
    """One failed check as the trader reads it: its severity (info, warn, critical) and its sentence."""

    severity: str
    text: str


@dataclass(frozen=True)
class CheckOutcome:
    """What Submit leads to. ``ask``: show ``nudges`` and wait for "Send anyway" / "Don't send" (then pass
    ``evaluation`` to ``send`` or ``answer``). Otherwise send at once; ``skipped`` says why the checks did not
    run, ``info`` holds the info-level nudges shown while sending. ``evaluation`` is None when nothing ran."""

    ticket: OrderTicket
    evaluation: PreTradeEvaluation | None
    ask: bool = False
    nudges: tuple[Nudge, ...] = ()
    info: tuple[str, ...] = ()
    skipped: str | None = None


@dataclass(frozen=True)
class SendOutcome:
    """The ledger's verdict. ``placed`` when it accepted the order, else ``error`` in words for the trader
    (a risk rule's own reason when ``rejected``). ``recorded`` is False only when storing the trader's answer
    failed (logged; the order itself is unaffected) or there was nothing to record."""

    placed: PlacedOrder | None
    error: str | None = None
    rejected: bool = False
    recorded: bool = False


def describe(ticket: OrderTicket) -> str:
    """``buy 10 AAPL limit 95``: the order as the trader would say it."""
    price = ticket.limit_price if ticket.type is OrderType.LIMIT else ticket.stop_price
    words = [ticket.side.value, f"{ticket.qty.normalize():f}", ticket.symbol, ticket.type.value]
    if price is not None:
        words.append(f"{price.normalize():f}")
    tp, sl = ticket.take_profit_price, ticket.stop_loss_price
    if tp is not None and sl is not None:
        words.append(f"with take-profit {tp.normalize():f} and stop-loss {sl.normalize():f}")
    return " ".join(words)


@dataclass(frozen=True)
class TicketFacts:
    """What the order ticket shows before Submit, read in one call (``Portfolio.ticket_facts``): the symbol's
    price (live, or the last stored close until live data arrives), the trader's buying power (cash not held by
    open orders, less what open shorts hold) and their position in the symbol (a sell beyond it opens a short)."""

    symbol: str
    quote: PriceQuote | None
    buying_power: Decimal
    position_qty: Decimal = Decimal(0)


class TicketFactsSource(Protocol):
    """Where the order ticket reads its facts (``core.services.portfolio.Portfolio``); blocking."""

    def ticket_facts(self, user_id: uuid.UUID, symbol: str) -> TicketFacts: ...


@dataclass(frozen=True)
class OrderEstimate:
    """The order in money before it is sent. ``price``: what it is valued at (its limit or stop price where it has
    one, else the last price); ``amount``: quantity x price, a buy's estimated cost or a sell's proceeds;
    ``held``: what placing it holds against buying power (a market or stop buy's collar included, a short sale's
    initial margin, nothing for a sell that only closes); ``buying_power_after``: buying power less ``held``.
    None where the price is unknown."""

    price: Decimal | None
    amount: Decimal | None
    held: Decimal | None
    buying_power_after: Decimal | None


def estimate_order(ticket: OrderTicket, facts: TicketFacts) -> OrderEstimate:
    """Value ``ticket`` as the ledger will (``core.domain.money``: the same reference price and reservation), so
    the buying power shown after the order is what the ledger checks it against. An estimate: the ledger decides
    at Submit, at the price it knows then."""
    last = facts.quote.price if facts.quote is not None and facts.quote.symbol == ticket.symbol else None
    if ticket.type is OrderType.LIMIT:
        price = ticket.limit_price
    elif ticket.type is OrderType.STOP:
        price = ticket.stop_price
    else:
        price = last
    if price is None:
        return OrderEstimate(None, None, None, None)
    short = Decimal(0)
    if ticket.side is OrderSide.SELL:  # the part beyond the long opens a short (open sells not counted here)
        short = max(ticket.qty - max(facts.position_qty, Decimal(0)), Decimal(0))
    held = reservation(ticket, price, short_qty=short)
    return OrderEstimate(price, money(ticket.qty * price), held, facts.buying_power - held)


class OrderEntry:
    """The manual-order workflow over one ledger (``orders``: how orders reach it), with the behavioural checks
    when ``checks`` is given."""

    def __init__(self, orders: OrderDesk, checks: PreTradeChecks | None = None) -> None:
        self._orders = orders
        self._checks = checks

    @property
    def checks_enabled(self) -> bool:
        return self._checks is not None

    def check(self, user_id: uuid.UUID, ticket: OrderTicket) -> CheckOutcome:
        """Ask the checks about ``ticket`` (blocking). A check that cannot run lets the order through, saying so:
        the checks advise, the ledger's risk rules decide."""
        if self._checks is None:
            return CheckOutcome(ticket, None)
        try:
            evaluation = self._checks.evaluate(user_id, ticket)
        except JournalError as exc:
            return CheckOutcome(ticket, None, skipped=f"Trading-rule checks skipped: {exc}")
        except Exception as exc:
            log.exception("the pre-trade checks failed")
            return CheckOutcome(
                ticket, None,
                skipped=f"Trading-rule checks could not run ({type(exc).__name__}); the order goes to the ledger.",
            )  # fmt: skip
        blocking = [r for r in evaluation.failed if r.severity != INFO]
        if not blocking:
            return CheckOutcome(ticket, evaluation, info=evaluation.nudges)
        ordered = sorted(evaluation.failed, key=lambda r: r.severity != CRITICAL)  # critical first, stable
        nudges = tuple(Nudge(r.severity, r.nudge_text or r.check_type) for r in ordered)
        return CheckOutcome(ticket, evaluation, ask=True, nudges=nudges)

    def send(
        self, user_id: uuid.UUID, ticket: OrderTicket, evaluation: PreTradeEvaluation | None = None
    ) -> SendOutcome:
        """Place ``ticket`` through the ledger (blocking); with ``evaluation`` (the order was checked, or the
        trader chose "Send anyway") record "proceeded" with the order's id. A risk rule's refusal is recorded
        too (the trader did proceed); an order that never reached the rules is not."""
        try:
            placed = self._orders.place_order(user_id, ticket)
        except OrderRejected as exc:
            recorded = self._record(user_id, evaluation, PROCEEDED)
            return SendOutcome(None, exc.reason, rejected=True, recorded=recorded)
        except LedgerError as exc:
            return SendOutcome(None, str(exc))
        except Exception as exc:
            log.exception("placing an order failed")
            return SendOutcome(None, f"The order could not be placed: {trader_message(exc)}")
        return SendOutcome(placed, recorded=self._record(user_id, evaluation, PROCEEDED, placed.id))

    def answer(self, user_id: uuid.UUID, evaluation: PreTradeEvaluation, action: str) -> bool:
        """Record that the trader did not send the checked order: "cancelled" (Don't send) or "modified"
        (they changed it; the changed order is checked again). Returns whether it was stored."""
        if action not in (CANCELLED, MODIFIED):
            raise ValueError(f"an unsent order's answer is {CANCELLED!r} or {MODIFIED!r}, not {action!r}")
        return self._record(user_id, evaluation, action)

    def submit(self, user_id: uuid.UUID, ticket: OrderTicket, *, send_anyway: bool = False) -> SendOutcome:
        """The whole workflow in one blocking call, for callers that know the answer in advance (a command
        line's ``--send-anyway``): checks, then the ledger; a warned-about order not sent anyway is recorded as
        cancelled and comes back with the nudges as its error."""
        outcome = self.check(user_id, ticket)
        if outcome.ask and not send_anyway:
            assert outcome.evaluation is not None
            recorded = self.answer(user_id, outcome.evaluation, CANCELLED)
            return SendOutcome(None, " ".join(n.text for n in outcome.nudges), recorded=recorded)
        return self.send(user_id, ticket, outcome.evaluation)

    def _record(
        self,
        user_id: uuid.UUID,
        evaluation: PreTradeEvaluation | None,
        action: str,
        order_id: uuid.UUID | None = None,
    ) -> bool:
        if self._checks is None or evaluation is None:
            return False
        try:
            self._checks.record(user_id, evaluation, action, order_id)
        except Exception:
            log.exception("recording the trader's answer to the pre-trade checks failed")
            return False
        return True
