"""What an allocation strategy is (seed 002): weighted tickers, a rebalance rhythm and a benchmark.

The spec is validated once, when it is built, so the backtester and a live session can trust it:
every ticker is a plausible symbol, every weight is a positive Decimal and the weights sum to at
most 1 (the rest is held as cash). Weights stay Decimal because they size orders in the ledger's
money; a float weight would round differently from the ledger's own arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import time
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from core.domain.symbols import is_valid_symbol, normalize_symbol

REBALANCE_FREQUENCIES = ("daily", "weekly", "monthly")  # as core.db.models.trading.REBALANCE_FREQUENCIES
DEFAULT_AT = time(15, 55)  # New York: late enough to see the day, early enough for market orders to fill
ONE = Decimal(1)


class AllocationError(ValueError):
    """An allocation spec is invalid; the message is for the trader."""


def _check_symbol(symbol: object, what: str) -> str:
    if not isinstance(symbol, str) or not is_valid_symbol(symbol):
        raise AllocationError(f"{what} {symbol!r} is not a valid ticker (capital letters, digits and '.', up to 10)")
    return symbol


def _check_weight(symbol: str, weight: object) -> Decimal:
    if isinstance(weight, bool) or not isinstance(weight, Decimal | int | str):
        # Floats are refused: 0.1 is not 1/10 in binary, and the sum check must be exact.
        raise AllocationError(f"the weight of {symbol} must be a decimal number written as text, got {weight!r}")
    try:
        value = Decimal(weight)
    except InvalidOperation:
        raise AllocationError(f"the weight of {symbol} is not a number: {weight!r}") from None
    if not value.is_finite() or value <= 0:
        raise AllocationError(f"the weight of {symbol} must be above 0, got {weight}")
    return value


def _check_threshold(value: object) -> Decimal | None:
    if value is None:
        return None
    try:
        if isinstance(value, float | int):
            threshold = Decimal(str(value))
        elif isinstance(value, str | Decimal):
            threshold = Decimal(value)
        else:
            raise TypeError(value)
    except (InvalidOperation, TypeError):
        raise AllocationError(f"the drift threshold must be a number, got {value!r}") from None
    if not 0 < threshold < 1:
        raise AllocationError(f"the drift threshold must be between 0 and 1 (a fraction of equity), got {value}")
    return threshold


@dataclass(frozen=True)
class AllocationSpec:
    """Target weights per ticker, rebalanced ``daily``/``weekly``/``monthly`` at ``at`` (New York time).

    ``drift_threshold`` (a fraction of equity, 0.05 = five percentage points) lets a due rebalance be
    skipped while every holding is within that distance of its target weight: trading a 0.3% drift
    costs fees and buys nothing.
    """

    weights: Mapping[str, Decimal]
    rebalance: str = "monthly"
    at: time = DEFAULT_AT
    benchmark: str = "SPY"
    drift_threshold: Decimal | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.weights, Mapping) or not self.weights:
            raise AllocationError("an allocation needs at least one ticker")
        checked = {_check_symbol(s, "ticker"): _check_weight(s, w) for s, w in self.weights.items()}
        total = sum(checked.values(), Decimal(0))
        if total > ONE:
            raise AllocationError(f"the weights add up to {total}; they may add up to at most 1 (the rest is cash)")
        if self.rebalance not in REBALANCE_FREQUENCIES:
            raise AllocationError(
                f"rebalance must be one of {', '.join(REBALANCE_FREQUENCIES)}, got {self.rebalance!r}"
            )
        if not isinstance(self.at, time) or self.at.tzinfo is not None:
            raise AllocationError(f"the rebalance time must be a plain time of day (New York), got {self.at!r}")
        _check_symbol(self.benchmark, "benchmark")
        threshold = _check_threshold(self.drift_threshold)
        # A read-only copy: the spec is frozen, its weights must be too.
        object.__setattr__(self, "weights", MappingProxyType(checked))
        object.__setattr__(self, "drift_threshold", threshold)

    def __hash__(self) -> int:
        return hash((tuple(self.weights.items()), self.rebalance, self.at, self.benchmark, self.drift_threshold))

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self.weights)

    @property
    def cash_weight(self) -> Decimal:
        """The part of equity the allocation keeps in cash on purpose."""
        return ONE - sum(self.weights.values(), Decimal(0))

    @classmethod
    def from_elements(
        cls,
        elements: Sequence[Mapping[str, Any]],
        *,
        rebalance: str = "monthly",
        at: time = DEFAULT_AT,
        benchmark: str | None = "SPY",
        drift_threshold: Decimal | None = None,
    ) -> AllocationSpec:
        """The spec stored in ``strategies.elements`` (``[{"type": "ticker", "ticker": "SPY", "weight": "0.6"}]``).

        Tickers are upper-cased (a trader typing ``spy`` means SPY); anything but a ticker element is
        refused by name, so a later element kind (groups, conditions) cannot be silently ignored.
        """
        if not isinstance(elements, Sequence) or isinstance(elements, str):
            raise AllocationError("the allocation's elements must be a list")
        weights: dict[str, Decimal] = {}
        for n, element in enumerate(elements, start=1):
            if not isinstance(element, Mapping):
                raise AllocationError(f"element {n} must be an object, got {element!r}")
            kind = element.get("type")
            if kind != "ticker":
                raise AllocationError(f"element {n} is of type {kind!r}; only 'ticker' elements are supported")
            raw = element.get("ticker")
            symbol = normalize_symbol(raw) if isinstance(raw, str) else raw
            symbol = _check_symbol(symbol, f"element {n}'s ticker")
            if symbol in weights:
                raise AllocationError(f"{symbol} appears more than once; give each ticker one weight")
            if "weight" not in element:
                raise AllocationError(f"element {n} ({symbol}) has no weight")
            weights[symbol] = _check_weight(symbol, element["weight"])
        return cls(weights, rebalance, at, benchmark or "SPY", drift_threshold)

    def to_elements(self) -> list[dict[str, str]]:
        """The JSONB shape again (weights as text, so they round-trip exactly)."""
        return [{"type": "ticker", "ticker": s, "weight": str(w)} for s, w in self.weights.items()]
