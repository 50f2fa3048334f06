"""A ticket that exists is well-formed: bad amounts are a clear InvalidTicket when it is built, never later."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.domain.orders import OrderClass, OrderSide, OrderType, TimeInForce
from core.domain.tickets import InvalidTicket, OrderTicket


def test_amounts_become_exact_decimals_and_names_become_members() -> None:
    ticket = OrderTicket(" spy ", "buy", "10", type="limit", time_in_force="gtc", limit_price=0.1)  # type: ignore[arg-type]
    assert ticket.symbol == "SPY"
    assert ticket.side is OrderSide.BUY and ticket.type is OrderType.LIMIT and ticket.time_in_force is TimeInForce.GTC
    assert ticket.qty == Decimal("10") and isinstance(ticket.qty, Decimal)
    assert ticket.limit_price == Decimal("0.1")  # the float's shortest repr, not 0.1000000000000000055...
    assert ticket.order_class is OrderClass.SIMPLE


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"qty": float("nan")}, "quantity must be a finite number"),
        ({"qty": Decimal("NaN")}, "quantity must be a finite number"),
        ({"qty": float("inf")}, "quantity must be a finite number"),
        ({"qty": "-Infinity"}, "quantity must be a finite number"),
        ({"qty": "ten"}, "quantity must be a number, not 'ten'"),
        ({"qty": None}, "quantity must be a number, not NoneType"),
        ({"qty": True}, "quantity must be a number, not bool"),
        ({"qty": [1]}, "quantity must be a number, not list"),
        ({"qty": 1, "limit_price": float("nan")}, "limit price must be a finite number"),
        ({"qty": 1, "stop_price": "abc"}, "stop price must be a number"),
        ({"qty": 1, "take_profit_price": object()}, "take profit price must be a number"),
        ({"qty": 1, "stop_loss_price": Decimal("sNaN")}, "stop loss price must be a finite number"),
        ({"qty": 1, "side": "hold"}, "side must be one of buy, sell, not 'hold'"),
        ({"qty": 1, "side": None}, "side must be one of buy, sell"),
        ({"qty": 1, "type": "trailing"}, "order type must be one of"),
        ({"qty": 1, "symbol": 42}, "symbol must be text"),
    ],
)
def test_a_malformed_ticket_is_refused_when_built(fields: dict, message: str) -> None:
    values = {"symbol": "SPY", "side": OrderSide.BUY} | fields
    with pytest.raises(InvalidTicket, match=message):
        OrderTicket(**values)


def test_what_is_well_formed_but_not_sensible_is_left_to_the_risk_chain() -> None:
    # A zero quantity and a bad ticker are the risk rules' to reject, with their trader-readable reasons.
    ticket = OrderTicket("bad sym", OrderSide.SELL, 0)
    assert ticket.qty == 0 and ticket.symbol == "BAD SYM"
