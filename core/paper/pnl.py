"""A session's own profit, from its fills alone (the account it trades is shared with the trader's other
activity, so the account's equity change is not the session's doing).

P&L = what the session's sells brought in - what its buys cost - fees + the shares it still holds at the last
price (at their average cost when no price is known, so an unknown price never shows as a loss).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from core.domain.money import money

ZERO = Decimal(0)


@dataclass(frozen=True)
class FillTotals:
    """One symbol's fills of one session, summed."""

    bought_qty: Decimal = ZERO
    bought_value: Decimal = ZERO
    sold_qty: Decimal = ZERO
    sold_value: Decimal = ZERO
    fees: Decimal = ZERO

    @property
    def held(self) -> Decimal:
        return self.bought_qty - self.sold_qty


def session_pnl(totals: Mapping[str, FillTotals], prices: Mapping[str, Decimal]) -> Decimal:
    pnl = ZERO
    for symbol, t in totals.items():
        pnl += t.sold_value - t.bought_value - t.fees
        if t.held:
            price = prices.get(symbol)
            if price is None:
                price = t.bought_value / t.bought_qty if t.bought_qty else ZERO
            pnl += t.held * price
    return money(pnl)
