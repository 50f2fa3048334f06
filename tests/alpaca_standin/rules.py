"""Alpaca's account-wide order rules, as the strict stand-in enforces them (ALPACA_PROTOCOL.md, last section).

Alpaca judges each new order against the whole account: its position in the symbol and every
order still working there, whoever placed them. Each rule below is a small function that
answers ``None`` (the order may go) or a ``Refusal`` carrying Alpaca's HTTP status, error code
and message; ``check`` runs them in one visible chain and the first refusal wins.

Choices where Alpaca's documentation is silent, made here once:
- Order of the chain: price validation (sub-penny) first, as a malformed request; then whether a
  short may be opened at all; then crossing zero; then opposite-side open orders; then wash trades.
  An order tripping several rules is refused with the first one's message.
- "Working" orders are those that could execute now: new, accepted, pending_new, partially_filled.
  A ``held`` bracket leg cannot execute until its parent fills, so it reserves nothing and blocks
  nothing (the stand-in turns legs ``new`` when their parent fills, which is when they start to
  hold the position's quantity, as Alpaca's "available: 0" after a filled bracket shows).
- Bracket legs are exits of the bracket's own position: they never count as orders that would
  open, and they are exempt from the wash-trade rule (resting legs and a new bracket alike). The two
  legs of one bracket are one-cancels-other, so together they hold the larger of their quantities.
- A bracket's parent opens a position like any order, so the opposite-side rule applies to it.
- Messages Alpaca's public threads show verbatim: "potential wash trade detected. use complex orders",
  "cannot open a long buy while a short sell order is open", "invalid limit_price 11.055. sub-penny
  increment does not fulfill minimum pricing criteria" (alpaca-trade-api-csharp #497, 422),
  "fractional orders are not allowed to short" (alpaca-trade-api-python #405; its status is not shown,
  403/40310000 is assumed like the other account refusals), "asset X cannot be sold short" (quoted in
  a third-party Alpaca client's docs; 403/40310000 assumed). Hard-to-borrow assets get the same message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

WORKING_STATUSES = frozenset({"new", "accepted", "pending_new", "partially_filled"})
ALWAYS_CROSSING_TYPES = frozenset({"market", "stop"})  # they take any price, so they can meet any opposite order
RULES = (
    "sub_penny",
    "short_not_allowed",
    "fractional_short",
    "crossing_zero",
    "opposite_side",
    "wash_trade",
    "buying_power",
)

PENNY = Decimal("0.01")
HUNDREDTH_OF_A_PENNY = Decimal("0.0001")


class RestingOrder(Protocol):
    """What the rules read of an order already at the account (``StandInOrder`` has these)."""

    side: str
    qty: Decimal
    filled_qty: Decimal
    type: str
    order_class: str
    limit_price: Decimal | None
    status: str
    parent_id: str | None


@dataclass(frozen=True)
class NewOrder:
    """The order being judged; ``prices`` names each price it carries as Alpaca's message would."""

    symbol: str
    side: str
    qty: Decimal
    type: str
    order_class: str
    limit_price: Decimal | None
    prices: tuple[tuple[str, Decimal], ...] = ()
    is_leg: bool = False  # a bracket leg being replaced: an exit of its bracket, only its prices are judged


@dataclass(frozen=True)
class Refusal:
    rule: str
    status: int
    code: int
    message: str


@dataclass(frozen=True)
class Asset:
    symbol: str
    shortable: bool
    easy_to_borrow: bool


def check(order: NewOrder, position: Decimal, resting: Sequence[RestingOrder], asset: Asset) -> Refusal | None:
    """The first rule ``order`` breaks, given the signed ``position`` and the symbol's open orders (oldest first)."""
    refusal = sub_penny(order)
    if refusal is not None or order.is_leg:
        return refusal
    return (
        short_allowed(order, position, asset)
        or crossing_zero(order, position, resting)
        or opposite_side(order, position, resting)
        or wash_trade(order, resting)
    )


def sub_penny(order: NewOrder) -> Refusal | None:
    """At or above $1 a price moves in pennies; below $1 in hundredths of a penny."""
    for name, price in order.prices:
        step = PENNY if price >= 1 else HUNDREDTH_OF_A_PENNY
        if price != price.quantize(step):
            message = f"invalid {name} {number(price)}. sub-penny increment does not fulfill minimum pricing criteria"
            return Refusal("sub_penny", 422, 42210000, message)
    return None


def short_allowed(order: NewOrder, position: Decimal, asset: Asset) -> Refusal | None:
    """A sell with no long to close opens (or adds to) a short: easy-to-borrow assets and whole shares only."""
    if order.side != "sell" or position > 0:
        return None
    if not (asset.shortable and asset.easy_to_borrow):
        return Refusal("short_not_allowed", 403, 40310000, f"asset {asset.symbol} cannot be sold short")
    if order.qty != order.qty.to_integral_value():
        return Refusal("fractional_short", 403, 40310000, "fractional orders are not allowed to short")
    return None


def crossing_zero(order: NewOrder, position: Decimal, resting: Sequence[RestingOrder]) -> Refusal | None:
    """An order that closes may close at most what the position has left after the orders already closing it."""
    capacity = closing_capacity(order.side, position)
    if capacity == 0:
        return None  # nothing to close on this side: the order opens, or adds to, a position
    available = max(capacity - reserved(order.side, resting), Decimal(0))
    if order.qty <= available:
        return None
    message = f"insufficient qty available for order (requested: {number(order.qty)}, available: {number(available)})"
    return Refusal("crossing_zero", 403, 40310000, message)


def opposite_side(order: NewOrder, position: Decimal, resting: Sequence[RestingOrder]) -> Refusal | None:
    """One account cannot be long and short a symbol, so two opening orders on opposite sides cannot both rest."""
    if closing_capacity(order.side, position) > 0:
        return None  # crossing_zero let it through, so it only closes
    other = "sell" if order.side == "buy" else "buy"
    capacity = closing_capacity(other, position) - _legs_reserved(other, resting)
    for o in resting:
        if o.side != other or o.status not in WORKING_STATUSES or o.parent_id is not None:
            continue
        left = o.qty - o.filled_qty
        if left > capacity:
            message = (
                "cannot open a long buy while a short sell order is open"
                if order.side == "buy"
                else "cannot open a short sell while a long buy order is open"
            )
            return Refusal("opposite_side", 403, 40310000, message)
        capacity -= left
    return None


def wash_trade(order: NewOrder, resting: Sequence[RestingOrder]) -> Refusal | None:
    """A simple order that could trade against the account's own resting opposite order."""
    if _exempt(order.order_class, order.type, None):
        return None
    for o in resting:
        if o.side == order.side or o.status not in WORKING_STATUSES or _exempt(o.order_class, o.type, o.parent_id):
            continue
        if _could_meet(order.side, order.type, order.limit_price, o.type, o.limit_price):
            return Refusal("wash_trade", 403, 40310000, "potential wash trade detected. use complex orders")
    return None


def closing_capacity(side: str, position: Decimal) -> Decimal:
    """How much an order on ``side`` could close: a sell closes a long, a buy covers a short."""
    return max(position, Decimal(0)) if side == "sell" else max(-position, Decimal(0))


def reserved(side: str, resting: Iterable[RestingOrder]) -> Decimal:
    """Quantity the working orders on ``side`` hold (a bracket's two one-cancels-other legs hold it once)."""
    resting = list(resting)
    plain = sum(
        (o.qty - o.filled_qty for o in resting if _holds(o, side) and o.parent_id is None),
        Decimal(0),
    )
    return plain + _legs_reserved(side, resting)


def _legs_reserved(side: str, resting: Iterable[RestingOrder]) -> Decimal:
    by_bracket: dict[str, Decimal] = {}
    for o in resting:
        if _holds(o, side) and o.parent_id is not None:
            by_bracket[o.parent_id] = max(by_bracket.get(o.parent_id, Decimal(0)), o.qty - o.filled_qty)
    return sum(by_bracket.values(), Decimal(0))


def _holds(o: RestingOrder, side: str) -> bool:
    return o.side == side and o.status in WORKING_STATUSES


def _exempt(order_class: str, order_type: str, parent_id: str | None) -> bool:
    """Bracket, OCO and OTO orders (and their legs) and trailing stops: Alpaca's wash-trade exemptions."""
    return order_class not in ("simple", "") or parent_id is not None or order_type == "trailing_stop"


def _could_meet(
    side: str, order_type: str, limit: Decimal | None, other_type: str, other_limit: Decimal | None
) -> bool:
    if order_type in ALWAYS_CROSSING_TYPES or other_type in ALWAYS_CROSSING_TYPES:
        return True
    if limit is None or other_limit is None:
        return True  # a limit order without a price is malformed; judge it as able to trade at any price
    buy_limit, sell_limit = (limit, other_limit) if side == "buy" else (other_limit, limit)
    return buy_limit >= sell_limit


def number(value: Decimal) -> str:
    """A quantity or price as Alpaca prints it in messages: no exponent, no trailing zeros."""
    return format(value.normalize(), "f")
