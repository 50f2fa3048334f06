"""The explicit, ordered chain of risk rules the ledger runs for every order."""

from __future__ import annotations

from collections.abc import Sequence

from core.risk.context import RiskContext
from core.risk.rules import (
    DailyLossLimit,
    DuplicateOrder,
    MaxDrawdown,
    MaxOpenOrders,
    MaxOrderValue,
    MaxPositionSize,
    MaxRiskPerTrade,
    OrderPrices,
    Rejection,
    RiskRule,
    ShortSale,
    SufficientFunds,
    SymbolAndQuantity,
)


class RiskChain:
    """Runs rules in order and stops at the first rejection (the reason the trader sees)."""

    def __init__(self, rules: Sequence[RiskRule]) -> None:
        self.rules = tuple(rules)

    def check(self, ctx: RiskContext) -> Rejection | None:
        for rule in self.rules:
            rejection = rule.check(ctx)
            if rejection is not None:
                return rejection
        return None


def default_chain() -> RiskChain:
    """Validity first (a malformed order is reported as such), then money, then the user's limits."""
    return RiskChain(
        [
            SymbolAndQuantity(),
            OrderPrices(),
            ShortSale(),
            SufficientFunds(),
            MaxOrderValue(),
            MaxPositionSize(),
            MaxOpenOrders(),
            DailyLossLimit(),
            MaxDrawdown(),
            MaxRiskPerTrade(),
            DuplicateOrder(),
        ]
    )
