"""Every risk rule refuses with its own reason, and a refused order reserves and sends nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.db.models import Order, User
from core.domain.orders import Asset, OrderSide, OrderType
from core.domain.tickets import OrderTicket
from core.ledger.errors import OrderRejected
from core.ledger.service import Ledger
from tests.ledger.manual_broker import T0

D = Decimal


def ticket(qty: str = "1", symbol: str = "AAPL", side: OrderSide = OrderSide.BUY, **kw) -> OrderTicket:
    return OrderTicket(symbol, side, D(qty), **kw)


def assert_nothing_happened(db, broker, user_id, orders_before: int = 0) -> None:
    with db.session_factory() as s:
        user = s.get(User, user_id)
        orders = s.scalar(select(func.count()).select_from(Order).where(Order.user_id == user_id))
    assert (user.virtual_balance, user.reserved_balance) == (D("100000"), D("0"))
    assert orders == orders_before
    assert len(broker.submitted) == orders_before


@pytest.mark.parametrize(
    ("risk", "order", "rule", "reason"),
    [
        ({}, ticket("1", symbol="bad symbol!"), "symbol_quantity", "not a valid symbol"),
        ({}, ticket("1", symbol="HALTED"), "symbol_quantity", "HALTED is not tradable"),
        ({}, ticket("0"), "symbol_quantity", "must be a finite number greater than 0, got 0"),
        ({}, ticket("-3"), "symbol_quantity", "must be a finite number greater than 0, got -3"),
        ({}, ticket("0.5", symbol="WHOLE"), "symbol_quantity", "cannot be traded in fractional shares"),
        ({"allow_fractional": False}, ticket("0.5"), "symbol_quantity", "turned off in your risk settings"),
        ({}, ticket("0.5", type=OrderType.STOP, stop_price=D("101")), "symbol_quantity", "only on market and limit"),
        ({}, ticket("1", type=OrderType.LIMIT), "order_prices", "needs a positive limit price"),
        ({}, ticket("1", symbol="NOPRICE"), "order_prices", "No price is known for NOPRICE"),
        ({}, ticket("10", take_profit_price=D("90"), stop_loss_price=D("95")), "order_prices",
         "take-profit must be above"),
        ({}, ticket("1500"), "funds", "Insufficient virtual funds: this order needs $154,500.00"),
        ({}, ticket("300"), "max_order_value", "exceeds your limit of $25,000.00"),
        ({"max_order_value": D("50000")}, ticket("210"), "max_position_size",
         "above your position limit of $20,000.00"),
        ({"max_risk_per_trade": D("1")}, ticket("100", take_profit_price=D("120"), stop_loss_price=D("80")),
         "max_risk_per_trade", "exceeds 1% of equity"),
        ({}, ticket("1", "NOSHORT", OrderSide.SELL, type=OrderType.LIMIT, limit_price=D("10")), "short_sale",
         "Cannot sell 1 NOSHORT short: NOSHORT is not shortable at the broker."),
        ({}, ticket("1", "HTB", OrderSide.SELL, type=OrderType.LIMIT, limit_price=D("10")), "short_sale",
         "HTB is hard to borrow; only easy-to-borrow stocks can be sold short."),
        ({}, ticket("1.5", side=OrderSide.SELL), "short_sale", "fractional shares cannot be sold short"),
        ({"max_order_value": D("1000000"), "max_position_size": D("1000000")}, ticket("2000", side=OrderSide.SELL),
         "funds", "Insufficient buying power to sell 2000 AAPL short: its initial margin is $103,000.00"),
        ({}, ticket("10", side=OrderSide.SELL, take_profit_price=D("110"), stop_loss_price=D("90")), "order_prices",
         "For a sell bracket the take-profit must be below, and the stop-loss above, the entry."),
    ],
)  # fmt: skip
def test_each_rule_refuses_with_its_reason(db, ledger, broker, make_user, risk, order, rule, reason):
    broker.assets["HALTED"] = Asset("HALTED", tradable=False)
    broker.assets["WHOLE"] = Asset("WHOLE", tradable=True, fractionable=False)
    broker.assets["NOSHORT"] = Asset("NOSHORT", shortable=False)
    broker.assets["HTB"] = Asset("HTB", easy_to_borrow=False)
    user = make_user("rita", **risk)
    with pytest.raises(OrderRejected, match=re.escape(reason)) as exc:
        ledger.place_order(user, order)
    assert exc.value.rule == rule
    assert_nothing_happened(db, broker, user)


def test_max_open_orders(db, ledger, broker, make_user):
    user = make_user("sam", max_open_orders=2)
    for price in ("90", "91"):
        ledger.place_order(user, ticket("1", type=OrderType.LIMIT, limit_price=D(price)))
    with pytest.raises(OrderRejected, match="already have 2 open orders") as exc:
        ledger.place_order(user, ticket("1", type=OrderType.LIMIT, limit_price=D("92")))
    assert exc.value.rule == "max_open_orders" and len(broker.submitted) == 2


def test_duplicate_order_guard_and_its_window(db, broker, prices, make_user):
    now = [broker_time := T0]
    ledger = Ledger(db.session_factory, broker, prices, clock=lambda: now[0])
    user = make_user("tom")
    ledger.place_order(user, ticket("1"))
    now[0] = broker_time + timedelta(seconds=2)
    with pytest.raises(OrderRejected, match=re.escape("same order was placed 2.0 s ago")) as exc:
        ledger.place_order(user, ticket("1"))
    assert exc.value.rule == "duplicate_order"
    ledger.place_order(user, ticket("2"))  # a different quantity is a different order
    now[0] = broker_time + timedelta(seconds=6)
    ledger.place_order(user, ticket("1"))  # outside the 5 s window
    assert len(broker.submitted) == 3


def test_daily_loss_limit_blocks_new_buys_but_not_exits(db, broker, prices, make_user):
    ledger = Ledger(db.session_factory, broker, prices, clock=lambda: T0 + timedelta(hours=1))
    user = make_user("uma", daily_loss_limit=D("100"))
    entry = ledger.place_order(user, ticket("10"))
    broker.fill(entry.client_order_id, "10", "100")
    loser = ledger.place_order(user, ticket("5", side=OrderSide.SELL))
    broker.fill(loser.client_order_id, "5", "79")  # realized -105 today
    with pytest.raises(OrderRejected, match=re.escape("daily limit of $100.00")) as exc:
        ledger.place_order(user, ticket("1", symbol="MSFT"))
    assert exc.value.rule == "daily_loss_limit"
    ledger.place_order(user, ticket("4", side=OrderSide.SELL))  # closing is still allowed


def test_max_drawdown_blocks_new_buys(db, ledger, broker, prices, make_user):
    user = make_user("vic", max_drawdown_percent=D("5"), max_position_size=D("100000"), max_order_value=D("100000"))
    entry = ledger.place_order(user, ticket("500"))
    broker.fill(entry.client_order_id, "500", "100")
    prices.update("AAPL", D("88"))  # -6,000 unrealized: 6% below the starting balance
    with pytest.raises(OrderRejected, match=re.escape("6.0% below its starting balance")) as exc:
        ledger.place_order(user, ticket("1", symbol="MSFT"))
    assert exc.value.rule == "max_drawdown"
