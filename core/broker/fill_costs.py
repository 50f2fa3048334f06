"""Slippage and commission models used by the fill model.

Slippage moves the *price* (it is not a fee), because a strategy that trades at a worse price also
sizes, stops and reports differently; modelling it as commission would hide that. All models are
small frozen dataclasses so a backtest can store exactly which assumptions it ran under.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from core.domain.orders import OrderSide

CENT = Decimal("0.01")
NO_FEE = Decimal("0.00")  # Decimals are immutable: one shared zero fee
_BPS = Decimal("10000")
_PERCENT = Decimal("100")


class SlippageModel(Protocol):
    def apply(self, price: Decimal, side: OrderSide) -> Decimal:
        """The price after slippage; always worse for the trader (or equal)."""
        ...


class CommissionModel(Protocol):
    def fee(self, price: Decimal, qty: Decimal) -> Decimal:
        """Fee for one execution, in dollars, rounded to cents."""
        ...


@dataclass(frozen=True)
class NoSlippage:
    def apply(self, price: Decimal, side: OrderSide) -> Decimal:
        return price


@dataclass(frozen=True)
class FixedSlippage:
    """A fixed amount per share (e.g. Decimal('0.02')): buys pay more, sells receive less."""

    per_share: Decimal

    def __post_init__(self) -> None:
        if self.per_share < 0:
            raise ValueError(f"slippage per share must be >= 0, got {self.per_share}")

    def apply(self, price: Decimal, side: OrderSide) -> Decimal:
        return price + self.per_share if side is OrderSide.BUY else price - self.per_share


@dataclass(frozen=True)
class BpsSlippage:
    """Basis points of the price (5 = 0.05%): scales with the price, unlike FixedSlippage."""

    bps: Decimal

    def __post_init__(self) -> None:
        if self.bps < 0:
            raise ValueError(f"slippage bps must be >= 0, got {self.bps}")

    def apply(self, price: Decimal, side: OrderSide) -> Decimal:
        move = price * self.bps / _BPS
        return price + move if side is OrderSide.BUY else price - move


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ZeroCommission:
    """Alpaca's default for US equities."""

    def fee(self, price: Decimal, qty: Decimal) -> Decimal:
        return NO_FEE


@dataclass(frozen=True)
class PerShareCommission:
    """``per_share`` times the quantity, but at least ``minimum`` per execution (IB-style).

    The minimum applies to each execution, not each order: a simplification that makes partial
    fills slightly more expensive than at most real brokers.
    """

    per_share: Decimal
    minimum: Decimal = Decimal("0")

    def __post_init__(self) -> None:
        if self.per_share < 0 or self.minimum < 0:
            raise ValueError("commission per share and minimum must be >= 0")

    def fee(self, price: Decimal, qty: Decimal) -> Decimal:
        return _cents(max(self.per_share * qty, self.minimum))


@dataclass(frozen=True)
class PercentCommission:
    """A percentage of the execution's notional (``percent=Decimal('0.1')`` is 0.1%)."""

    percent: Decimal

    def __post_init__(self) -> None:
        if self.percent < 0:
            raise ValueError(f"commission percent must be >= 0, got {self.percent}")

    def fee(self, price: Decimal, qty: Decimal) -> Decimal:
        return _cents(price * qty * self.percent / _PERCENT)
