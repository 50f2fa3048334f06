"""The fill model: given one working order and one bar, does the order fill, at what price and size?

Pure functions of their inputs (no clock, no I/O, no broker state) so the simulated broker and the
backtester share them unchanged and a backtest's fills are exactly the fills a simulated session
would have had on the same bars.

The caller owns *which* bars an order sees: an order placed while bar N is the latest closed bar
must first be evaluated on bar N+1. Evaluating it on bar N would fill at prices the strategy had
already seen (look-ahead), which is the most common way backtests lie.

Rules, all pessimistic where the bar does not tell us what happened inside it:

* Market: the bar's open, plus slippage against the trader.
* Limit buy: the open if the open is at or below the limit (a gap in our favour), else the limit if
  the low reached it; sells mirror this with the high. No slippage: a limit is a price guarantee.
* Stop buy: triggers when high >= stop and fills at max(open, stop) (a gap through the stop fills at
  the worse open), plus slippage; sells mirror with low <= stop at min(open, stop). A stop that
  triggered but could not fill completely (volume cap) behaves as a market order afterwards.
* Stop-limit: triggers like a stop and then is a limit order. On the trigger bar we cannot know
  whether the price came back to the limit *after* the trigger, so it fills on that bar only if the
  trigger price itself is within the limit (at the trigger price); otherwise it waits, as a plain
  limit order, for the following bars.
* Every price is rounded to a tick against the trader (buy up, sell down), never beyond a limit, and
  finally clamped into the bar's [low, high]: a fill outside the bar that produced it is impossible,
  so the clamp wins even over slippage (large slippage on a narrow bar is capped at the bar's edge).
* Optional volume participation cap: at most ``max_volume_fraction`` of the bar's volume (whole
  shares, rounded down) fills per bar; the rest stays working. Off by default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import NamedTuple, Protocol

from core.broker.fill_costs import CommissionModel, NoSlippage, SlippageModel, ZeroCommission
from core.broker.fill_prices import clamp_to_bar, round_against, to_decimal
from core.domain.orders import OrderSide, OrderType


class BarLike(Protocol):
    """What the fill model reads from a bar; ``NormalizedBar`` satisfies it."""

    @property
    def open(self) -> float: ...

    @property
    def high(self) -> float: ...

    @property
    def low(self) -> float: ...

    @property
    def close(self) -> float: ...

    @property
    def volume(self) -> float: ...


class _WorkingOrderFields(NamedTuple):
    side: OrderSide
    type: OrderType
    qty: Decimal
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    stop_triggered: bool = False  # set by the caller once a FillDecision reported triggered=True


class WorkingOrder(_WorkingOrderFields):
    """The part of an order the fill model needs. ``qty`` is the quantity still to fill.

    Immutable and checked when built. A tuple rather than a frozen dataclass: a backtest builds one per order,
    and a frozen dataclass's field-by-field ``object.__setattr__`` made that a third of placing an order."""

    __slots__ = ()

    def __new__(
        cls, side: OrderSide, type: OrderType, qty: Decimal, limit_price: Decimal | None = None,
        stop_price: Decimal | None = None, stop_triggered: bool = False,
    ) -> WorkingOrder:  # fmt: skip
        if not qty > 0:
            raise ValueError(f"working quantity must be > 0, got {qty}")
        if limit_price is None and type in _NEEDS_LIMIT:
            raise ValueError(f"a {type} order needs a limit price")
        if stop_price is None and type in _NEEDS_STOP:
            raise ValueError(f"a {type} order needs a stop price")
        return tuple.__new__(cls, (side, type, qty, limit_price, stop_price, stop_triggered))


_NEEDS_LIMIT = frozenset((OrderType.LIMIT, OrderType.STOP_LIMIT))
_NEEDS_STOP = frozenset((OrderType.STOP, OrderType.STOP_LIMIT))


class FillDecision(NamedTuple):
    """What happened to one order on one bar (a NamedTuple: a backtest makes one per fill, and a frozen dataclass
    costs three times as much to build).

    ``qty`` may be 0 when a stop-limit triggered but could not fill on its trigger bar (the caller
    must remember ``triggered``); then ``price`` is None and ``fee`` is 0.
    """

    price: Decimal | None
    qty: Decimal
    fee: Decimal
    triggered: bool = False  # stops: the stop is (now) triggered

    @property
    def filled(self) -> bool:
        return self.qty > 0


@dataclass(frozen=True)
class FillModel:
    """Fill settings plus the evaluation functions; construct once per broker or backtest."""

    slippage: SlippageModel = field(default_factory=NoSlippage)
    commission: CommissionModel = field(default_factory=ZeroCommission)
    max_volume_fraction: Decimal | None = None  # e.g. Decimal("0.1"): at most 10% of bar volume

    def __post_init__(self) -> None:
        if self.max_volume_fraction is not None and not 0 < self.max_volume_fraction <= 1:
            raise ValueError(f"max_volume_fraction must be in (0, 1], got {self.max_volume_fraction}")

    def evaluate(self, order: WorkingOrder, bar: BarLike) -> FillDecision | None:
        """The fill (or stop trigger) of ``order`` on ``bar``; None if nothing happens on this bar."""
        kind = order.type
        if kind is _MARKET or (kind is _STOP and order.stop_triggered):
            # Only the open is needed: finalize_price converts the range only for a price at the bar's edge.
            raw = self.slippage.apply(to_decimal(bar.open), order.side)
            return self._fill(order, bar, raw, None, order.stop_triggered, None, None)
        # Each bar price becomes a Decimal once, here, and is passed on (a backtest evaluates an order per trade).
        o, h, lo = to_decimal(bar.open), to_decimal(bar.high), to_decimal(bar.low)
        buy = order.side is _BUY
        if kind is _LIMIT or (kind is _STOP_LIMIT and order.stop_triggered):
            price = _limit_price(buy, order.limit_price, o, h, lo)  # type: ignore[arg-type]
            if price is None:
                return None
            return self._fill(order, bar, price, order.limit_price, order.stop_triggered, lo, h)
        trigger = _stop_trigger_price(buy, order.stop_price, o, h, lo)  # type: ignore[arg-type]
        if trigger is None:
            return None
        if kind is _STOP:
            return self._fill(order, bar, self.slippage.apply(trigger, order.side), None, True, lo, h)
        limit = order.limit_price
        assert limit is not None
        if (buy and trigger <= limit) or (not buy and trigger >= limit):
            return self._fill(order, bar, trigger, limit, True, lo, h)
        return _TRIGGERED_ONLY

    def fillable_qty(self, wanted: Decimal, bar: BarLike) -> Decimal:
        """``wanted`` limited by the volume participation cap (whole shares, rounded down)."""
        if self.max_volume_fraction is None:
            return wanted
        cap = (to_decimal(bar.volume) * self.max_volume_fraction).to_integral_value(rounding=ROUND_FLOOR)
        return min(wanted, cap)

    def _fill(
        self, order: WorkingOrder, bar: BarLike, raw_price: Decimal, limit: Decimal | None, triggered: bool,
        low: Decimal | None, high: Decimal | None,
    ) -> FillDecision | None:  # fmt: skip
        price = finalize_price(raw_price, order.side, bar, limit, low, high)
        qty = order.qty if self.max_volume_fraction is None else self.fillable_qty(order.qty, bar)
        if qty <= _NONE:
            # Volume cap leaves nothing this bar: a stop still counts as triggered.
            return _TRIGGERED_ONLY if triggered else None
        # tuple.__new__ with the fields in order, as FillDecision._make does: half the cost of calling the type
        return _tuple(FillDecision, (price, qty, self.commission.fee(price, qty), triggered))


def finalize_price(
    price: Decimal, side: OrderSide, bar: BarLike, limit: Decimal | None = None,
    low: Decimal | None = None, high: Decimal | None = None,
) -> Decimal:  # fmt: skip
    """Round against the trader, never beyond ``limit``, and clamp into the bar's range (which wins).
    ``low``/``high``: the bar's range as Decimals, when the caller has them already."""
    rounded = round_against(price, side)
    if limit is None:
        # On a tick and inside the bar: the clamp would return it unchanged (the inward-rounded bounds are the
        # nearest ticks inside the bar, so a tick in [low, high] lies between them). The usual case, no rounding.
        # For float bars, strictly inside as floats settles it without converting the bounds: float() of a
        # Decimal is correctly rounded, hence monotonic, and each bound is the Decimal whose float is the bar's.
        bar_low, bar_high = bar.low, bar.high
        if bar_low.__class__ is float and bar_high.__class__ is float and bar_low < float(rounded) < bar_high:
            return rounded
    else:
        rounded = min(rounded, limit) if side is _BUY else max(rounded, limit)
    low = to_decimal(bar.low) if low is None else low
    high = to_decimal(bar.high) if high is None else high
    if limit is None and low <= rounded <= high:
        return rounded
    return clamp_to_bar(rounded, low, high)


_MARKET, _LIMIT, _STOP, _STOP_LIMIT = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT
_BUY = OrderSide.BUY
_NONE = Decimal(0)
_tuple = tuple.__new__
_TRIGGERED_ONLY = FillDecision(price=None, qty=Decimal("0"), fee=Decimal("0.00"), triggered=True)


def _limit_price(buy: bool, limit: Decimal, o: Decimal, h: Decimal, lo: Decimal) -> Decimal | None:
    if buy:
        return o if o <= limit else (limit if lo <= limit else None)
    return o if o >= limit else (limit if h >= limit else None)


def _stop_trigger_price(buy: bool, stop: Decimal, o: Decimal, h: Decimal, lo: Decimal) -> Decimal | None:
    if buy:
        return max(o, stop) if h >= stop else None
    return min(o, stop) if lo <= stop else None


class BracketLeg(StrEnum):
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"


@dataclass(frozen=True)
class BracketExit:
    """Which exit of a bracket fired on a bar, and its fill (or, for a stop-limit stop-loss, trigger)."""

    leg: BracketLeg
    decision: FillDecision


def evaluate_bracket_exit(
    model: FillModel, take_profit: WorkingOrder, stop_loss: WorkingOrder, bar: BarLike
) -> BracketExit | None:
    """Decide which of a position's two exits fills on ``bar``; at most one ever does (OCO).

    ``take_profit`` is a LIMIT and ``stop_loss`` a STOP or STOP_LIMIT, both on the closing side.
    If the open already crosses one of them, that one fills (at the open). If both are inside the
    bar's range, the bar cannot tell us which came first, so the stop-loss is assumed first: the
    pessimistic order. Assuming the favourable order is the classic way backtests flatter brackets.
    A stop-limit stop-loss that triggers but cannot fill does not stop the take-profit filling.
    """
    if take_profit.type is not OrderType.LIMIT or stop_loss.type not in (OrderType.STOP, OrderType.STOP_LIMIT):
        raise ValueError("a bracket exit needs a LIMIT take-profit and a STOP or STOP_LIMIT stop-loss")
    if take_profit.side is not stop_loss.side:
        raise ValueError("both bracket exits must be on the same (closing) side")
    tp = model.evaluate(take_profit, bar)
    sl = model.evaluate(stop_loss, bar)
    tp_filled = tp is not None and tp.filled
    sl_filled = sl is not None and sl.filled
    if tp_filled and sl_filled:
        o = to_decimal(bar.open)
        sell = take_profit.side is OrderSide.SELL
        tp_limit = take_profit.limit_price
        assert tp_limit is not None
        open_crosses_tp = o >= tp_limit if sell else o <= tp_limit
        if open_crosses_tp and not stop_loss.stop_triggered:
            return BracketExit(BracketLeg.TAKE_PROFIT, tp)  # type: ignore[arg-type]
        return BracketExit(BracketLeg.STOP_LOSS, sl)  # type: ignore[arg-type]
    if sl_filled:
        return BracketExit(BracketLeg.STOP_LOSS, sl)  # type: ignore[arg-type]
    if tp_filled:
        return BracketExit(BracketLeg.TAKE_PROFIT, tp)  # type: ignore[arg-type]
    if sl is not None:  # a stop-limit stop-loss triggered without filling
        return BracketExit(BracketLeg.STOP_LOSS, sl)
    return None
