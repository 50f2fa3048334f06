"""Sizing a strategy's intent against the session's own book, as the backtester sizes it.

The rules are the per-bar engine's (``core.backtest.engine._place``), so a strategy trades the same number
of shares in a paper session as in its backtest given the same account:

* prices: the intent's limit, else its stop, else the bar's close;
* ``shares`` as given; a ``fraction`` of cash for buys, of the position not already promised to sell orders
  for sells, of equity for targets; ``value`` in money; whole shares unless fractional (rounded down);
* a target trades the difference to the position; below zero (shares or value) is refused (no shorting);
* a sell of more than the position not already promised to sell orders is refused, as the engine refuses it;
* a buy is trimmed to what the ledger could reserve (the limit, or the price plus the ledger's 3% collar for
  market and stop buys), never silently: the sized order carries ``trimmed_from`` and ``notice`` says why (the
  session keeps it on the signal); none affordable is refused.

The account is the session's book (``core.paper.book``: its capital and its own fills), never the trader's whole
account: a session sizes only from its own cash and sells only shares it bought, so shares bought by hand or by
another session are never its to sell. Its cash is the book's available cash (its own open buy orders'
reservations taken off, as the engine takes its working buys' reservations off). The ledger then checks the order
against the whole account (buying power, risk rules) as it checks a manual one. Pure functions; no database.

Orders are good until cancelled (GTC), as a backtest's orders work until they fill or a target or CANCEL_ALL
replaces them: a DAY order decided at the day's last close would expire overnight where the backtest fills it at
the next open (and a bracket's exits, which inherit it, would stop protecting the position at the close). Only an
order for a fraction of a share stays DAY, the one time in force the broker takes for fractions; such an order
still expires at the day's end, which a backtest does not model.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from core.backtest.engine import float_decimal
from core.domain.money import MARKET_COLLAR
from core.domain.orders import OrderSide, OrderType, TimeInForce
from core.domain.tickets import OrderTicket
from core.paper.book import SessionBook
from core.strategy.api import IntentKind, OrderIntent

ZERO = Decimal(0)
FRACTION = Decimal("0.000000001")  # the ledger's 9 quantity decimals


@dataclass(frozen=True)
class AccountView:
    """The part of the session's book one intent is sized against."""

    cash: Decimal  # available: after the reservations of its own open orders
    equity: Decimal
    position: Decimal  # shares of the intent's symbol the session holds
    open_sell_qty: Decimal = ZERO  # shares of it already in the session's open sell orders

    @classmethod
    def of(cls, book: SessionBook, symbol: str) -> AccountView:
        return cls(book.available, book.equity, book.qty(symbol), book.open_sell_qty.get(symbol, ZERO))


@dataclass(frozen=True)
class SizedOrder:
    side: OrderSide
    qty: Decimal
    type: OrderType
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    take_profit_price: Decimal | None = None
    stop_loss_price: Decimal | None = None
    trimmed_from: Decimal | None = None  # a buy cut to what the cash covers: the quantity asked for

    @property
    def notice(self) -> str | None:
        """Why the quantity is less than asked, for the trader (None when it is not)."""
        if self.trimmed_from is None:
            return None
        return (f"Asked for {self.trimmed_from.normalize():f} shares; {self.qty.normalize():f} fit in the cash "
                "available (with the reserve the ledger holds for the order).")  # fmt: skip

    @property
    def time_in_force(self) -> TimeInForce:
        """GTC, as a backtest's orders work until filled or replaced; DAY for a fraction (the broker's rule)."""
        return TimeInForce.GTC if self.qty == self.qty.to_integral_value() else TimeInForce.DAY

    def ticket(self, symbol: str) -> OrderTicket:
        return OrderTicket(
            symbol, self.side, self.qty, self.type, time_in_force=self.time_in_force, limit_price=self.limit_price,
            stop_price=self.stop_price, take_profit_price=self.take_profit_price, stop_loss_price=self.stop_loss_price,
        )  # fmt: skip


@dataclass(frozen=True)
class Refusal:
    """An intent that cannot become an order; ``reason`` is for the trader."""

    side: OrderSide
    reason: str


def shares_for(amount: Decimal, price: Decimal, fractional: bool = False) -> Decimal:
    """How many shares ``amount`` buys at ``price``, rounded down (whole shares unless ``fractional``)."""
    if price <= 0 or not amount.is_finite() or amount <= 0:
        return ZERO
    raw = amount / price
    return raw.quantize(FRACTION, ROUND_FLOOR) if fractional else raw.to_integral_value(ROUND_FLOOR)


def _price(x: float | None) -> Decimal | None:
    return float_decimal(x) if x else None


def size_intent(
    intent: OrderIntent, account: AccountView, close: float, *, fractional: bool = False
) -> SizedOrder | Refusal | None:
    """The order ``intent`` asks for at a bar that closed at ``close``; None when there is nothing to trade
    (a target already reached, a size that rounds to no shares). CANCEL_ALL is not sized (None)."""
    if intent.kind is IntentKind.CANCEL_ALL:
        return None
    limit, stop = _price(intent.limit), _price(intent.stop)
    ref = limit or stop or float_decimal(close)
    if intent.kind is IntentKind.TARGET:
        size = intent.shares if intent.shares is not None else intent.fraction if intent.fraction is not None else None
        if (size if size is not None else intent.value or 0.0) < 0:
            return Refusal(OrderSide.SELL, "Shorting is not supported (the target position is below zero).")
        if intent.shares is not None:
            target = float_decimal(intent.shares)
        elif intent.fraction is not None:
            target = shares_for(account.equity * float_decimal(intent.fraction), ref, fractional)
        else:
            target = shares_for(float_decimal(intent.value or 0.0), ref, fractional)
        if target < 0:
            return Refusal(OrderSide.SELL, "Shorting is not supported (the target position is below zero).")
        delta = target - account.position
        side = OrderSide.BUY if delta > 0 else OrderSide.SELL
        qty = abs(delta)
    else:
        side = OrderSide.BUY if intent.kind is IntentKind.BUY else OrderSide.SELL
        if intent.shares is not None:
            qty = float_decimal(intent.shares)
        elif intent.fraction is not None:
            held = account.position - account.open_sell_qty
            base = account.cash if side is OrderSide.BUY else held * ref
            qty = shares_for(base * float_decimal(intent.fraction), ref, fractional)
        else:
            qty = shares_for(float_decimal(intent.value or 0.0), ref, fractional)
    if qty <= 0:
        return None
    trimmed_from: Decimal | None = None
    if side is OrderSide.SELL and qty > account.position - account.open_sell_qty:
        return Refusal(side, _cannot_sell(qty, account))
    if side is OrderSide.BUY:
        reserve = limit if limit else ref * (1 + MARKET_COLLAR)
        affordable = shares_for(account.cash, reserve, fractional)
        if affordable <= 0:
            return Refusal(side, f"Not enough cash to buy: ${account.cash:,.2f} available.")
        if affordable < qty:
            trimmed_from, qty = qty, affordable
    kind = (
        OrderType.STOP_LIMIT if stop and limit else OrderType.STOP if stop
        else OrderType.LIMIT if limit else OrderType.MARKET
    )  # fmt: skip
    return SizedOrder(
        side, qty, kind, limit, stop,
        _price(intent.take_profit) if side is OrderSide.BUY else None,
        _price(intent.stop_loss) if side is OrderSide.BUY else None,
        trimmed_from,
    )  # fmt: skip


def _cannot_sell(qty: Decimal, account: AccountView) -> str:
    held = f"the session holds {account.position.normalize():f}"
    if account.open_sell_qty:
        held += f", {account.open_sell_qty.normalize():f} already in its open sell orders"
    return f"Cannot sell {qty.normalize():f}: {held} (a session sells only shares it bought; no short selling)."
