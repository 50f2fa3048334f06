"""The rebalance decision: from prices, positions and cash to the orders that restore the target weights.

Pure (no clock, no broker, no bars) so the backtester and a live paper session make the same decision
from the same book. Both hand it Decimal closes, Decimal shares and Decimal cash, and get back market
orders: sells first, then buys.

The buys must pass the ledger's funds check when they are placed, and the ledger reserves a market
buy at the last price plus its collar (3%) plus the fee estimate. So the buys are sized to fit the
cash the book has plus what the sells free, and the sells are counted at the collar *below* their
close: a sell that gaps down (within the collar) cannot leave the buys unpaid, so cash stays at or
above zero whenever fills stay within the collar of the decision's closes. When the buys do not fit
(a fully invested target always needs the collar's headroom), every buy gets the same share of the
budget and the plan says it was trimmed; :meth:`Rebalancer.top_up` then buys the rest from the cash
actually left once the orders have filled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal

from core.backtest.allocation_schedule import RebalanceSchedule
from core.backtest.allocation_spec import AllocationSpec
from core.broker.fill_costs import CommissionModel, ZeroCommission
from core.domain.money import MARKET_COLLAR
from core.domain.orders import OrderSide
from core.market.calendar import TradingCalendar

ZERO = Decimal(0)
FRACTION_STEP = Decimal("0.000000001")  # Alpaca's (and the risk chain's) nine places


@dataclass(frozen=True)
class RebalanceOrder:
    """One market order of a rebalance."""

    symbol: str
    side: OrderSide
    qty: Decimal


@dataclass(frozen=True)
class RebalancePlan:
    orders: tuple[RebalanceOrder, ...]
    trimmed: bool = False  # the buys were cut to fit the cash: a top-up can buy the rest after the fills


@dataclass(frozen=True)
class Decision:
    """A due rebalance: its orders, or why it trades nothing."""

    session: date
    plan: RebalancePlan
    skipped: bool = False  # every holding was inside the drift band

    @property
    def orders(self) -> tuple[RebalanceOrder, ...]:
        return self.plan.orders


def _shares(amount: Decimal, price: Decimal, fractional: bool) -> Decimal:
    if amount <= 0 or price <= 0:
        return ZERO
    raw = amount / price
    return raw.quantize(FRACTION_STEP, ROUND_FLOOR) if fractional else raw.to_integral_value(ROUND_FLOOR)


def _held(positions: Mapping[str, Decimal]) -> dict[str, Decimal]:
    return {s: q for s, q in positions.items() if q != 0}


def _check_prices(symbols: set[str], closes: Mapping[str, Decimal]) -> None:
    missing = sorted(s for s in symbols if not (closes.get(s) is not None and closes[s] > 0))
    if missing:
        raise ValueError(f"no price for {', '.join(missing)}: a rebalance needs the last close of every symbol")


def book_equity(closes: Mapping[str, Decimal], positions: Mapping[str, Decimal], cash: Decimal) -> Decimal:
    """Cash plus every holding at its close."""
    return cash + sum((q * closes[s] for s, q in _held(positions).items()), ZERO)


def current_weights(
    closes: Mapping[str, Decimal], positions: Mapping[str, Decimal], cash: Decimal
) -> dict[str, Decimal]:
    """Each holding's share of the book's equity (empty when the book is worth nothing)."""
    equity = book_equity(closes, positions, cash)
    if equity <= 0:
        return {}
    return {s: q * closes[s] / equity for s, q in _held(positions).items()}


def within_drift(
    weights: Mapping[str, Decimal], closes: Mapping[str, Decimal], positions: Mapping[str, Decimal], cash: Decimal,
    threshold: Decimal,
) -> bool:  # fmt: skip
    """Whether every target and every holding is within ``threshold`` of its target weight."""
    now = current_weights(closes, positions, cash)
    if not now:
        return False
    return all(abs(now.get(s, ZERO) - weights.get(s, ZERO)) <= threshold for s in {*weights, *now})


def _reservation(qty: Decimal, price: Decimal, commission: CommissionModel) -> Decimal:
    """What the ledger holds back for a market buy (core.domain.money.reservation, with its fee estimate)."""
    return qty * price * (1 + MARKET_COLLAR) + commission.fee(price, qty)


def _affordable(budget: Decimal, price: Decimal, commission: CommissionModel, fractional: bool) -> Decimal:
    """The most shares whose reservation fits ``budget`` (the fee, monotone in the size, is taken off once)."""
    collared = price * (1 + MARKET_COLLAR)
    first = _shares(budget, collared, fractional)
    if first <= 0:
        return ZERO
    return _shares(budget - commission.fee(price, first), collared, fractional)


def plan_rebalance(
    weights: Mapping[str, Decimal], closes: Mapping[str, Decimal], positions: Mapping[str, Decimal], cash: Decimal,
    *, fractional: bool = False, commission: CommissionModel | None = None, sells: bool = True,
) -> RebalancePlan:  # fmt: skip
    """The orders that move the book to ``weights`` of its equity at ``closes`` (``sells=False``: buys only).

    Symbols held but not in ``weights`` are sold entirely. Quantities are whole shares (rounded down)
    unless ``fractional``.
    """
    fees = commission or ZeroCommission()
    held = _held(positions)
    if any(q < 0 for q in held.values()):
        raise ValueError("the book holds a short position; allocations only hold long positions")
    _check_prices({*weights, *held}, closes)
    equity = book_equity(closes, held, cash)
    delta = {}
    for symbol in sorted({*weights, *held}):
        target = _shares(equity * weights.get(symbol, ZERO), closes[symbol], fractional)
        delta[symbol] = target - held.get(symbol, ZERO)
    sold = [RebalanceOrder(s, OrderSide.SELL, -d) for s, d in delta.items() if d < 0] if sells else []
    freed = sum(
        (o.qty * closes[o.symbol] * (1 - MARKET_COLLAR) - fees.fee(closes[o.symbol], o.qty) for o in sold), ZERO
    )
    budget = cash + freed
    wanted = {s: d for s, d in delta.items() if d > 0}
    needed = sum((_reservation(q, closes[s], fees) for s, q in wanted.items()), ZERO)
    trimmed = needed > budget
    bought = []
    for symbol, qty in wanted.items():
        if trimmed:
            share = budget * _reservation(qty, closes[symbol], fees) / needed if budget > 0 else ZERO
            qty = min(qty, _affordable(share, closes[symbol], fees, fractional))
        if qty > 0:
            bought.append(RebalanceOrder(symbol, OrderSide.BUY, qty))
    return RebalancePlan((*sold, *bought), trimmed)


class Rebalancer:
    """An allocation's decisions, for the backtester and for a live session alike.

    Stateless between calls: the caller keeps the session of the last rebalance (a live session has
    it in ``trading_sessions.last_rebalance_at``) and passes it back in.
    """

    def __init__(
        self, spec: AllocationSpec, *, calendar: TradingCalendar | None = None, fractional: bool = False,
        commission: CommissionModel | None = None,
    ) -> None:  # fmt: skip
        self.spec = spec
        self.schedule = RebalanceSchedule(spec.rebalance, spec.at, calendar)
        self.fractional = fractional
        self.commission = commission or ZeroCommission()

    def decide(
        self, session: date, now: datetime, last: date | None, closes: Mapping[str, Decimal],
        positions: Mapping[str, Decimal], cash: Decimal,
    ) -> Decision | None:  # fmt: skip
        """The rebalance due at ``now`` in ``session``, or None if none is due.

        A due rebalance inside the drift band is returned as ``skipped`` (no orders): it still uses up
        the period, or the next session would ask again.
        """
        if not self.schedule.due(session, now, last):
            return None
        weights = self.spec.weights
        threshold = self.spec.drift_threshold
        if threshold is not None and within_drift(weights, closes, positions, cash, threshold):
            return Decision(session, RebalancePlan(()), skipped=True)
        return Decision(session, self.plan(closes, positions, cash))

    def plan(self, closes: Mapping[str, Decimal], positions: Mapping[str, Decimal], cash: Decimal) -> RebalancePlan:
        """The orders to reach the target weights now, whatever the schedule says."""
        return plan_rebalance(
            self.spec.weights, closes, positions, cash, fractional=self.fractional, commission=self.commission
        )

    def top_up(self, closes: Mapping[str, Decimal], positions: Mapping[str, Decimal], cash: Decimal) -> RebalancePlan:
        """After a trimmed rebalance has filled: buys only, from the cash left, toward the targets."""
        return plan_rebalance(
            self.spec.weights, closes, positions, cash, fractional=self.fractional, commission=self.commission,
            sells=False,
        )  # fmt: skip
