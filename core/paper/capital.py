"""How much of the trader's money a new paper session is given (its book's starting cash).

A session trades only its own book (``core.paper.book``), so the capital decides what its strategy may size from.
Given explicitly it must be a positive amount the account could pay for now (its buying power); the ledger still
checks every order against the whole account, so sessions can never spend more than the account has.

Without one, the default is the trader's *unclaimed* buying power: the account's available cash at start less the
cash the trader's other running sessions still hold uncommitted in their books. That is the largest amount that
is really free: all of it for a first session (as a backtest starts with the whole account), and never money
another session may already size from; two sessions started with defaults therefore never both count the same
dollars. When nothing is unclaimed the start is refused with a sentence saying so, rather than running a session
that could only ever be refused ("not enough cash").
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from core.domain.money import money
from core.paper.book import SessionBook
from core.paper.types import PaperSessionError

ZERO = Decimal(0)


def unclaimed(buying_power: Decimal, running: Iterable[SessionBook]) -> Decimal:
    """The account's available cash less what running sessions' books still hold uncommitted (never below 0)."""
    claimed = sum((max(book.available, ZERO) for book in running), ZERO)
    return max(money(buying_power - claimed), ZERO)


def session_capital(asked: Decimal | None, buying_power: Decimal, running: Iterable[SessionBook]) -> Decimal:
    """The capital a new session gets: ``asked`` when it is valid, else the unclaimed buying power.
    Raises PaperSessionError with a sentence for the trader."""
    if asked is not None:
        if not asked.is_finite() or asked <= 0:
            raise PaperSessionError("A session's capital must be a positive amount.")
        if asked > buying_power:
            raise PaperSessionError(
                f"A capital of ${asked:,.2f} is more than your buying power (${buying_power:,.2f})."
            )
        return money(asked)
    free = unclaimed(buying_power, running)
    if free <= 0:
        raise PaperSessionError(
            "All of your buying power is already held by your running sessions; give this session a capital, "
            "or stop one of them first."
        )
    return free
