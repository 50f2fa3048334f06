"""Pre-trade risk rules. Each looks at a RiskContext and returns a Rejection or None.

Rules never write anything; the ledger runs them inside its transaction after
locking the account row, so what they see cannot change before the order is
reserved.

Short selling (issue 25): a sell beyond the long position opens a virtual short. That part (``short_qty``)
must be of a shortable, easy-to-borrow asset and a whole number of shares, and its initial margin must fit
in buying power (the margin rule is core.domain.money's). The limits that keep a trader from adding risk
(position size, daily loss, drawdown, risk per trade) apply to orders that open or increase a position in
either direction; a sell that only closes a long, and a buy that only covers a short, pass them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Protocol

from core.domain.orders import OrderSide, OrderType
from core.domain.symbols import is_valid_symbol
from core.risk.context import RiskContext

MAX_QTY_DECIMALS = 9  # Alpaca accepts fractional quantities to 9 places


@dataclass(frozen=True)
class Rejection:
    rule: str
    reason: str


class RiskRule(Protocol):
    code: str

    def check(self, ctx: RiskContext) -> Rejection | None: ...


def _money(value: Decimal) -> str:
    return f"${value:,.2f}"


def _qty(value: Decimal) -> str:
    return f"{value.normalize():f}"  # 2000, not 2E+3


class SymbolAndQuantity:
    code = "symbol_quantity"

    def check(self, ctx: RiskContext) -> Rejection | None:
        t = ctx.ticket
        if not is_valid_symbol(t.symbol):
            return Rejection(self.code, f"{t.symbol!r} is not a valid symbol.")
        if not ctx.asset.tradable:
            return Rejection(self.code, f"{t.symbol} is not tradable.")
        if t.qty <= 0:
            return Rejection(self.code, "The quantity must be positive.")
        exponent = t.qty.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > MAX_QTY_DECIMALS:
            return Rejection(self.code, f"The quantity has more than {MAX_QTY_DECIMALS} decimal places.")
        if t.qty != t.qty.to_integral_value():
            if not ctx.asset.fractionable:
                return Rejection(self.code, f"{t.symbol} cannot be traded in fractional shares.")
            if not ctx.limits.allow_fractional:
                return Rejection(self.code, "Fractional quantities are turned off in your risk settings.")
            if t.type not in (OrderType.MARKET, OrderType.LIMIT):
                return Rejection(self.code, "Fractional quantities are allowed only on market and limit orders.")
        return None


class OrderPrices:
    code = "order_prices"

    def check(self, ctx: RiskContext) -> Rejection | None:
        t = ctx.ticket
        if t.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and (t.limit_price is None or t.limit_price <= 0):
            return Rejection(self.code, f"A {t.type.value.replace('_', '-')} order needs a positive limit price.")
        if t.type in (OrderType.STOP, OrderType.STOP_LIMIT) and (t.stop_price is None or t.stop_price <= 0):
            return Rejection(self.code, f"A {t.type.value.replace('_', '-')} order needs a positive stop price.")
        if ctx.reference_price is None:
            return Rejection(self.code, f"No price is known for {t.symbol} yet; try again when data arrives.")
        tp, sl = t.take_profit_price, t.stop_loss_price
        if (tp is None) != (sl is None):
            return Rejection(self.code, "A bracket order needs both a take-profit and a stop-loss price.")
        if tp is not None and sl is not None:
            if t.side is OrderSide.BUY and not (tp > ctx.reference_price > sl > 0):
                return Rejection(
                    self.code, "For a buy bracket the take-profit must be above, and the stop-loss below, the entry."
                )
            if t.side is OrderSide.SELL and not (0 < tp < ctx.reference_price < sl):
                return Rejection(
                    self.code, "For a sell bracket the take-profit must be below, and the stop-loss above, the entry."
                )
        return None


class SufficientFunds:
    """A buy's worst-case cost must fit in buying power (cash, less what shorts hold, the covered shares' hold
    given back); a short sale's initial margin must fit in buying power. A sell that only closes needs nothing."""

    code = "funds"

    def check(self, ctx: RiskContext) -> Rejection | None:
        if ctx.ticket.side is OrderSide.BUY:
            available = max(ctx.buy_power_for_this_order, Decimal(0))
            if ctx.reservation <= available:
                return None
            held = ""
            if ctx.short_hold:
                held = f" ({_money(ctx.cash)} cash less {_money(ctx.short_hold)} held against your short positions)"
            return Rejection(
                self.code,
                f"Insufficient virtual funds: this order needs {_money(ctx.reservation)}, "
                f"you have {_money(available)} available{held}.",
            )
        if ctx.short_qty > 0 and ctx.reservation > ctx.buying_power:
            return Rejection(
                self.code,
                f"Insufficient buying power to sell {_qty(ctx.short_qty)} {ctx.ticket.symbol} short: its initial "
                f"margin is {_money(ctx.reservation)} (50% of its value), your buying power is "
                f"{_money(max(ctx.buying_power, Decimal(0)))}.",
            )
        return None


class ShortSale:
    """The part of a sell beyond the long position opens a short: only of an asset the broker lends (shortable
    and easy to borrow), only in whole shares. A buy may not leave a fractional short behind."""

    code = "short_sale"

    def check(self, ctx: RiskContext) -> Rejection | None:
        t = ctx.ticket
        if t.side is OrderSide.BUY:
            outstanding = max(-ctx.position_qty - ctx.open_buy_qty, Decimal(0))
            cover = ctx.cover_qty
            if 0 < cover < outstanding and cover != cover.to_integral_value():
                return Rejection(
                    self.code,
                    f"Fractional shares cannot be sold short: buying {_qty(t.qty)} would leave "
                    f"{_qty(outstanding - cover)} {t.symbol} short; cover whole shares.",
                )
            return None
        short = ctx.short_qty
        if short <= 0:
            return None
        if short < t.qty:
            what = f"Cannot sell {_qty(t.qty)} {t.symbol}: {_qty(short)} of them would be sold short, and"
        else:
            what = f"Cannot sell {_qty(short)} {t.symbol} short:"
        if not ctx.asset.shortable:
            return Rejection(self.code, f"{what} {t.symbol} is not shortable at the broker.")
        if not ctx.asset.easy_to_borrow:
            return Rejection(
                self.code, f"{what} {t.symbol} is hard to borrow; only easy-to-borrow stocks can be sold short."
            )
        # The whole order too: a partial fill of 10.5 sold from a long of 0.5 would leave a fractional short.
        if short != short.to_integral_value() or t.qty != t.qty.to_integral_value():
            return Rejection(self.code, f"{what} fractional shares cannot be sold short.")
        if t.take_profit_price is not None and short < t.qty:
            return Rejection(
                self.code,
                f"A sell bracket opens a short position; it cannot also sell the {_qty(t.qty - short)} "
                f"{t.symbol} you hold (sell those first).",
            )
        return None


class MaxOrderValue:
    code = "max_order_value"

    def check(self, ctx: RiskContext) -> Rejection | None:
        if ctx.order_value > ctx.limits.max_order_value:
            return Rejection(
                self.code,
                f"Order value {_money(ctx.order_value)} exceeds your limit of {_money(ctx.limits.max_order_value)}.",
            )
        return None


class MaxPositionSize:
    code = "max_position_size"

    def check(self, ctx: RiskContext) -> Rejection | None:
        if not ctx.opens_exposure:
            return None
        signed = ctx.order_value if ctx.ticket.side is OrderSide.BUY else -ctx.order_value
        after = abs(ctx.position_value + signed)
        if after > ctx.limits.max_position_size:
            return Rejection(
                self.code,
                f"{ctx.ticket.symbol} would be {_money(after)}, above your position limit of "
                f"{_money(ctx.limits.max_position_size)}.",
            )
        return None


class MaxOpenOrders:
    code = "max_open_orders"

    def check(self, ctx: RiskContext) -> Rejection | None:
        if ctx.open_orders + 1 > ctx.limits.max_open_orders:
            return Rejection(
                self.code, f"You already have {ctx.open_orders} open orders (limit {ctx.limits.max_open_orders})."
            )
        return None


class DailyLossLimit:
    """After today's realized losses reach the limit, only orders that reduce a position are allowed."""

    code = "daily_loss_limit"

    def check(self, ctx: RiskContext) -> Rejection | None:
        if ctx.opens_exposure and -ctx.realized_today >= ctx.limits.daily_loss_limit:
            return Rejection(
                self.code,
                f"Today's realized loss {_money(-ctx.realized_today)} has reached your daily limit of "
                f"{_money(ctx.limits.daily_loss_limit)}; only closing orders are allowed until tomorrow (UTC).",
            )
        return None


class MaxDrawdown:
    """Drawdown is measured from the starting balance: equity below it by the limit blocks orders that open or
    increase a position."""

    code = "max_drawdown"

    def check(self, ctx: RiskContext) -> Rejection | None:
        if not ctx.opens_exposure or ctx.starting_balance <= 0:
            return None
        drawdown = (ctx.starting_balance - ctx.equity) / ctx.starting_balance * 100
        if drawdown >= ctx.limits.max_drawdown_percent:
            return Rejection(
                self.code,
                f"Your account is {drawdown:.1f}% below its starting balance (limit "
                f"{ctx.limits.max_drawdown_percent.normalize()}%); only closing orders are allowed.",
            )
        return None


class MaxRiskPerTrade:
    """Risk = distance to the stop-loss times quantity; applies to orders that carry a stop-loss."""

    code = "max_risk_per_trade"

    def check(self, ctx: RiskContext) -> Rejection | None:
        t = ctx.ticket
        if t.stop_loss_price is None or ctx.reference_price is None:
            return None
        risk = abs(ctx.reference_price - t.stop_loss_price) * t.qty  # below a long's entry, above a short's
        allowed = ctx.equity * ctx.limits.max_risk_per_trade / 100
        if risk > allowed:
            return Rejection(
                self.code,
                f"Risk to the stop-loss {_money(risk)} exceeds {ctx.limits.max_risk_per_trade.normalize()}% of equity "
                f"({_money(allowed)}).",
            )
        return None


class DuplicateOrder:
    """The same order repeated within the window is almost always a double click or a looping strategy."""

    code = "duplicate_order"

    def check(self, ctx: RiskContext) -> Rejection | None:
        window = timedelta(seconds=ctx.limits.duplicate_window_seconds)
        if not window:
            return None
        t = ctx.ticket
        for o in ctx.recent_orders:
            same = (
                o.symbol == t.symbol
                and o.side == t.side.value
                and o.qty == t.qty
                and o.order_type == t.type.value
                and o.limit_price == t.limit_price
                and o.stop_price == t.stop_price
            )
            if same and ctx.now - o.created_at < window:
                return Rejection(
                    self.code,
                    f"The same order was placed {(ctx.now - o.created_at).total_seconds():.1f} s ago; "
                    f"repeats within {ctx.limits.duplicate_window_seconds} s are refused.",
                )
        return None
