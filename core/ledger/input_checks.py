"""The ledger's own check of an order's numbers, before it asks the broker or writes anything.

An ``OrderTicket`` that exists is well-formed (finite Decimals: core.domain.tickets refuses NaN, infinities, text
that is not a number and floats it cannot read exactly). What a well-formed ticket may still carry is a number no
order can have: a quantity of 0 or -3, a limit price of -5 on any order type, a quantity of 1e300 that would
overflow the ``orders`` columns into a raw driver error. ``check_order_input`` refuses those with one line that
says which number was wrong and what it got, as an ``OrderRejected`` under the rule codes the risk chain uses for
the same fields (``symbol_quantity``, ``order_prices``), so every caller that shows a rejection shows this one.

The bounds are plausibility bounds, not limits a trader sets (those are core.domain.risk_limits): no US equity
order is for more than a billion shares or at more than ten million dollars a share (BRK.A, the dearest stock,
trades near $700,000), and both fit the ``orders`` table's NUMERIC columns with room to spare.
"""

from __future__ import annotations

from decimal import Decimal

from core.domain.tickets import OrderTicket
from core.ledger.errors import OrderRejected

MAX_ORDER_QTY = Decimal("1e9")  # shares per order
MAX_ORDER_PRICE = Decimal("1e7")  # dollars per share, for every price an order carries
# The smallest amounts the ``orders`` columns hold (NUMERIC scale 9 for quantities, 6 for prices): anything smaller
# would be stored as 0 and refused by the table's own check with a raw driver error.
MIN_ORDER_QTY = Decimal("1e-9")
MIN_ORDER_PRICE = Decimal("1e-6")
_PRICE_FIELDS = ("limit_price", "stop_price", "take_profit_price", "stop_loss_price")


def _shown(value: object) -> str:
    """The number as typed for ordinary sizes, in scientific notation past them (1e300 or 1e-300 would otherwise
    be written out digit by digit, hundreds of them, into a one-line message)."""
    if isinstance(value, Decimal) and value.is_finite():
        if value.is_zero() or Decimal("1e-9") <= abs(value) < Decimal("1e15"):
            return f"{value.normalize():f}"
        return f"{value:.3E}"
    return str(value)


def _check_amount(value: object, field: str, minimum: Decimal, maximum: Decimal, rule: str) -> None:
    if not isinstance(value, Decimal):
        raise OrderRejected(f"The {field} must be a number, got {type(value).__name__}.", rule)
    if not value.is_finite() or value <= 0:
        raise OrderRejected(f"The {field} must be a finite number greater than 0, got {_shown(value)}.", rule)
    if value > maximum:
        raise OrderRejected(f"The {field} must be at most {_shown(maximum)}, got {_shown(value)}.", rule)
    if value < minimum:
        raise OrderRejected(f"The {field} must be at least {_shown(minimum)}, got {_shown(value)}.", rule)


def check_order_input(ticket: object) -> None:
    """Raise ``OrderRejected`` when ``ticket`` is not an ``OrderTicket`` or carries a number no order can have."""
    if not isinstance(ticket, OrderTicket):
        raise OrderRejected(f"An order must be an order ticket, got {type(ticket).__name__}.", "symbol_quantity")
    _check_amount(ticket.qty, "quantity", MIN_ORDER_QTY, MAX_ORDER_QTY, "symbol_quantity")
    for name in _PRICE_FIELDS:
        value = getattr(ticket, name)
        if value is not None:
            _check_amount(value, name.replace("_", " "), MIN_ORDER_PRICE, MAX_ORDER_PRICE, "order_prices")
