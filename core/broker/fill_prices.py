"""Price arithmetic shared by the fill model: ticks, rounding and keeping a price inside a bar.

Bars arrive as floats; fills must be Decimal on a real tick, and never outside the bar that produced
them. These helpers are the only place where floats become money.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from core.domain.orders import OrderSide

PENNY = Decimal("0.01")
SUB_PENNY = Decimal("0.0001")
ONE = Decimal("1")


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """Exact-looking Decimal of a float: ``repr`` gives the shortest string that round-trips, so
    100.1 becomes Decimal('100.1') rather than 100.099999999999994315658113919198513031005859375."""
    if value.__class__ is float:  # the common case, a bar's price: no further checks
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        return value
    # float() first: numpy's float64 is a float whose repr is 'np.float64(...)'.
    return Decimal(repr(float(value))) if isinstance(value, float) else Decimal(value)


def tick_size(price: Decimal) -> Decimal:
    """Alpaca's minimum increment: $0.01 at or above $1, $0.0001 below $1."""
    return PENNY if price >= ONE else SUB_PENNY


def is_on_tick(price: Decimal) -> bool:
    """True if ``price`` is a whole number of ticks (Alpaca rejects sub-penny prices at or above $1)."""
    return price == price.quantize(tick_size(price))


def round_to_tick(price: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    return price.quantize(PENNY if price >= ONE else SUB_PENNY, rounding)


def round_against(price: Decimal, side: OrderSide) -> Decimal:
    """Round to a tick in the direction that hurts the trader (buy up, sell down): a simulator that
    rounds in the trader's favour flatters every strategy a little on every trade."""
    # tick_size and round_to_tick written out: every fill of a backtest comes through here
    return price.quantize(PENNY if price >= ONE else SUB_PENNY, ROUND_CEILING if side is _BUY else ROUND_FLOOR)


_BUY = OrderSide.BUY


def clamp_to_bar(price: Decimal, low: Decimal, high: Decimal) -> Decimal:
    """Move ``price`` into the bar's [low, high], staying on a tick.

    The bounds are rounded inwards (low up, high down) so the result is both on a tick and inside
    the range. If the range holds no tick at all (e.g. low == high == 10.005), the nearest tick to
    the price is returned: the only case where a fill can sit up to half a tick outside the bar.
    """
    lo = round_to_tick(low, ROUND_CEILING)
    hi = round_to_tick(high, ROUND_FLOOR)
    if lo > hi:
        return round_to_tick(min(max(price, low), high))
    return min(max(price, lo), hi)
