"""One routing step for one symbol, as pure arithmetic: what to cross, what to send, who gets which fill.

The shared account is judged by Alpaca as one account, so the router never lets two traders' orders meet at
the street. Per step and symbol:

* every virtual quantity due now (market orders, and resting orders the fill model already filled, whose
  quantity the real account must *follow*) is split by side;
* the smaller side is crossed internally against the first quantity of the larger side;
* the rest of the larger side goes to the street as ONE order for the net quantity, unless it would take the
  real position through zero: then only the part that closes is sent now, and the rest waits for the next
  step (Alpaca refuses an order that crosses zero: "insufficient qty available for order");
* a net that would open or grow a short is whole shares (Alpaca refuses fractional shorts); a fractional
  remainder waits for more orders.

Priority (time priority, followers first): quantities the traders were already filled with virtually come
first, because the real account owes them; then market orders by the time they were placed, ties broken by
order id. Street fills are allocated in that order, a share at a time, so a partial street fill fills the
earliest orders completely and leaves the latest open: deterministic, and exact to the share.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum

from core.domain.orders import OrderSide

ZERO = Decimal(0)


class DueKind(StrEnum):
    MARKET = "market"  # booked at the step's price when crossed or filled at the street
    FOLLOW = "follow"  # already booked virtually (a resting order the fill model filled): only the account moves


class AllocationKind(StrEnum):
    STREET = "street"  # a market order's share of the street order, booked per street execution
    CROSS = "cross"  # a market order's share crossed internally, booked at the step's price when it is done
    FOLLOW = "follow"  # a follower's share; ``filled`` starts at its crossed part, the street fills the rest


class Purpose(StrEnum):
    NET = "net"  # the whole net went to the street
    CLOSE = "close"  # the net crosses zero: only the closing part went now
    CROSS = "cross"  # nothing for the street: every due quantity was crossed


@dataclass(frozen=True)
class Due:
    """A virtual quantity that should reach the account now."""

    order_id: uuid.UUID
    side: OrderSide
    qty: Decimal
    placed_at: datetime
    kind: DueKind = DueKind.MARKET

    def priority_key(self) -> tuple[int, datetime, str]:
        return (0 if self.kind is DueKind.FOLLOW else 1, self.placed_at, str(self.order_id))


@dataclass(frozen=True)
class Allocation:
    order_id: uuid.UUID
    kind: AllocationKind
    priority: int
    qty: Decimal
    filled: Decimal = ZERO  # a follower's crossed part is settled at once


@dataclass(frozen=True)
class StepPlan:
    symbol: str
    purpose: Purpose
    side: OrderSide | None  # the street order's side (None: nothing to send)
    street_qty: Decimal
    crossed_qty: Decimal
    allocations: tuple[Allocation, ...]

    @property
    def sends(self) -> bool:
        return self.street_qty > 0


def plan_step(symbol: str, dues: list[Due], position: Decimal) -> StepPlan | None:
    """The step for ``symbol`` given what is due and the account's real (signed) position; None if nothing moves."""
    buys = sorted((d for d in dues if d.side is OrderSide.BUY and d.qty > 0), key=Due.priority_key)
    sells = sorted((d for d in dues if d.side is OrderSide.SELL and d.qty > 0), key=Due.priority_key)
    bought, sold = sum((d.qty for d in buys), ZERO), sum((d.qty for d in sells), ZERO)
    crossed = min(bought, sold)
    net = bought - sold
    side = OrderSide.BUY if net > 0 else OrderSide.SELL if net < 0 else None
    street = street_quantity(abs(net), side, position) if side is not None else ZERO
    purpose = Purpose.CROSS if street == 0 else Purpose.CLOSE if street < abs(net) else Purpose.NET
    if crossed == 0 and street == 0:
        return None
    larger, smaller = (buys, sells) if net > 0 else (sells, buys)
    allocations: list[Allocation] = []
    priority = 0
    for due in smaller:  # all of it crossed
        allocations.append(_crossed(due, due.qty, priority))
        priority += 1
    to_cross, to_send = crossed, street
    for due in larger:
        cross_part = min(due.qty, to_cross)
        send_part = min(due.qty - cross_part, to_send)
        to_cross -= cross_part
        to_send -= send_part
        if due.kind is DueKind.FOLLOW:
            if cross_part + send_part > 0:
                allocations.append(
                    Allocation(due.order_id, AllocationKind.FOLLOW, priority, cross_part + send_part, cross_part)
                )
        else:
            if cross_part > 0:
                allocations.append(Allocation(due.order_id, AllocationKind.CROSS, priority, cross_part))
            if send_part > 0:
                allocations.append(Allocation(due.order_id, AllocationKind.STREET, priority, send_part))
        priority += 1
        if to_cross == 0 and to_send == 0:
            break
    return StepPlan(symbol, purpose, side if street > 0 else None, street, crossed, tuple(allocations))


def _crossed(due: Due, qty: Decimal, priority: int) -> Allocation:
    if due.kind is DueKind.FOLLOW:
        return Allocation(due.order_id, AllocationKind.FOLLOW, priority, qty, qty)
    return Allocation(due.order_id, AllocationKind.CROSS, priority, qty)


def street_quantity(net: Decimal, side: OrderSide | None, position: Decimal) -> Decimal:
    """How much of a net ``side`` order of ``net`` may go to the street now, the real position being ``position``.

    Closing never goes past zero in one order; what opens a short is whole shares."""
    if side is None or net <= 0:
        return ZERO
    closing = -position if side is OrderSide.BUY else position  # > 0: this side reduces the position
    if closing > 0:
        return min(net, closing)
    if side is OrderSide.SELL:
        return net.to_integral_value(rounding=ROUND_FLOOR)  # opens or grows a short: whole shares only
    return net


@dataclass(frozen=True)
class Share:
    """One allocation's part of a street execution."""

    order_id: uuid.UUID
    kind: AllocationKind
    qty: Decimal


def allocate(
    allocations: list[tuple[uuid.UUID, AllocationKind, int, Decimal, Decimal]], executed: Decimal
) -> list[Share]:
    """Give ``executed`` street quantity to the street-side allocations ``(order, kind, priority, qty, filled)``
    in priority order, each up to what it still lacks."""
    shares: list[Share] = []
    left = executed
    for order_id, kind, _priority, qty, filled in sorted(allocations, key=lambda a: (a[2], str(a[0]))):
        if left <= 0:
            break
        if kind is AllocationKind.CROSS:
            continue
        take = min(qty - filled, left)
        if take > 0:
            shares.append(Share(order_id, kind, take))
            left -= take
    return shares
