"""Reconciliation: do the virtual books add up to the real shared account?

The sum of every user's virtual position per symbol is compared with the
broker's positions. Differences are reported for a human to investigate;
nothing is ever adjusted automatically (a silent fix would hide the bug or
the outside trade that caused it).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.broker.protocol import Broker
from core.db.models import Position


@dataclass(frozen=True)
class Difference:
    symbol: str
    virtual_qty: Decimal  # sum over all users
    broker_qty: Decimal

    @property
    def gap(self) -> Decimal:
        return self.broker_qty - self.virtual_qty


@dataclass(frozen=True)
class ReconciliationReport:
    symbols_checked: int
    differences: tuple[Difference, ...]

    @property
    def matches(self) -> bool:
        return not self.differences

    def lines(self) -> list[str]:
        if self.matches:
            return [f"OK: {self.symbols_checked} symbols, virtual positions match the broker account."]
        out = [f"{len(self.differences)} of {self.symbols_checked} symbols differ:"]
        for d in self.differences:
            out.append(
                f"  {d.symbol}: users hold {d.virtual_qty.normalize()}, broker holds {d.broker_qty.normalize()} "
                f"(gap {d.gap.normalize():+})"
            )
        return out


def reconcile(session_factory: sessionmaker[Session], broker: Broker) -> ReconciliationReport:
    """Compare summed virtual positions with the broker's; read-only on both sides."""
    with session_factory() as s:
        virtual = dict(
            s.execute(
                select(Position.symbol, func.sum(Position.quantity))
                .where(Position.quantity != 0)
                .group_by(Position.symbol)
            ).all()
        )
    real = {p.symbol: p.qty for p in broker.get_positions() if p.qty != 0}
    symbols = sorted(set(virtual) | set(real))
    diffs = tuple(
        Difference(sym, virtual.get(sym, Decimal(0)), real.get(sym, Decimal(0)))
        for sym in symbols
        if virtual.get(sym, Decimal(0)) != real.get(sym, Decimal(0))
    )
    return ReconciliationReport(len(symbols), diffs)
