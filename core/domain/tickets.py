"""The order ticket: an order as a trader or a strategy signal asks for it, before any check.

A ticket that exists holds a canonical symbol spelling, real enumeration members and finite ``Decimal`` amounts:
text typed into a form, a float from a strategy or a NaN from a broken indicator becomes an ``InvalidTicket`` that
says which field was wrong, here, instead of a ``decimal.InvalidOperation`` or a ``TypeError`` deep inside the
ledger. Whether the order is *sensible* (a positive quantity, a tradable symbol, prices on the right side) is the
risk chain's judgement, with its trader-readable reasons; the ticket only guarantees it is well-formed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from core.domain.orders import OrderClass, OrderSide, OrderType, TimeInForce
from core.domain.symbols import normalize_symbol


class InvalidTicket(ValueError):
    """A ticket field that cannot be part of any order; the message names the field, for the trader."""


def ticket_amount(value: object, field: str) -> Decimal:
    """``value`` as a finite Decimal; floats go through their shortest repr (0.1 -> Decimal("0.1"), not 0.1000...)."""
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidTicket(f"the {field} must be a number, not {type(value).__name__}")
    else:
        try:
            amount = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
        except InvalidOperation:
            raise InvalidTicket(f"the {field} must be a number, not {value!r}") from None
    if not amount.is_finite():
        raise InvalidTicket(f"the {field} must be a finite number, not {amount}")
    return amount


def _member[E: StrEnum](kind: type[E], value: object, field: str) -> E:
    if isinstance(value, kind):
        return value
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return kind(value)
    except ValueError:
        allowed = ", ".join(kind)
        raise InvalidTicket(f"the {field} must be one of {allowed}, not {value!r}") from None


@dataclass(frozen=True)
class OrderTicket:
    """An order as the trader (or a strategy signal) asks for it, before any check."""

    symbol: str
    side: OrderSide
    qty: Decimal
    type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.DAY
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    take_profit_price: Decimal | None = None  # with stop_loss_price: a bracket order
    stop_loss_price: Decimal | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str):
            raise InvalidTicket(f"the symbol must be text, not {type(self.symbol).__name__}")
        set_ = object.__setattr__  # frozen: normalising is part of construction
        set_(self, "symbol", normalize_symbol(self.symbol))
        set_(self, "side", _member(OrderSide, self.side, "side"))
        set_(self, "type", _member(OrderType, self.type, "order type"))
        set_(self, "time_in_force", _member(TimeInForce, self.time_in_force, "time in force"))
        set_(self, "qty", ticket_amount(self.qty, "quantity"))
        for name in ("limit_price", "stop_price", "take_profit_price", "stop_loss_price"):
            value = getattr(self, name)
            if value is not None:
                set_(self, name, ticket_amount(value, name.replace("_", " ")))

    @property
    def order_class(self) -> OrderClass:
        if self.take_profit_price is not None or self.stop_loss_price is not None:
            return OrderClass.BRACKET
        return OrderClass.SIMPLE
