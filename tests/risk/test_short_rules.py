"""The risk rules for short sales on their own: a RiskContext in, a rejection (rule and reason) or None out.

Defaults: $100 a share, flat, $100,000 cash and no shorts, generous limits; each test changes what it is about.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.domain.money import reservation
from core.domain.orders import Asset, OrderSide, OrderType
from core.domain.risk_limits import RiskLimits
from core.domain.tickets import OrderTicket
from core.risk import RiskContext, cover_part, default_chain, short_part
from core.risk.rules import DailyLossLimit, MaxDrawdown, MaxPositionSize, MaxRiskPerTrade

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
LIMITS = RiskLimits(D("5000"), D("50000"), D("50000"), 20, D("20"), D("5"), 0, True)


def context(side: OrderSide, qty: str, *, position: str = "0", asset: Asset | None = None, **kw) -> RiskContext:
    ticket = OrderTicket(
        "AAPL", side, D(qty), kw.pop("type", OrderType.MARKET),
        take_profit_price=kw.pop("take_profit_price", None), stop_loss_price=kw.pop("stop_loss_price", None),
    )  # fmt: skip
    held = D(position)
    open_sell = kw.pop("open_sell_qty", D(0))
    ref = D("100")
    values = {
        "ticket": ticket,
        "asset": asset or Asset("AAPL", fractionable=True),
        "reference_price": ref,
        "limits": LIMITS,
        "cash": D("100000"),
        "equity": D("100000"),
        "starting_balance": D("100000"),
        "position_qty": held,
        "position_value": held * ref,
        "open_sell_qty": open_sell,
        "open_orders": 0,
        "realized_today": D(0),
        "reservation": reservation(ticket, ref, short_qty=short_part(ticket, held, open_sell)),
        "recent_orders": (),
        "now": NOW,
        "short_value": abs(held * ref) if held < 0 else D(0),
    }
    values.update(kw)
    return RiskContext(**values)


def refusal(ctx: RiskContext) -> tuple[str, str] | None:
    rejection = default_chain().check(ctx)
    return None if rejection is None else (rejection.rule, rejection.reason)


def test_the_short_part_is_what_a_sell_sells_beyond_the_free_long_shares() -> None:
    sell = OrderTicket("AAPL", SELL, D("10"))
    assert short_part(sell, D("0"), D("0")) == 10
    assert short_part(sell, D("4"), D("0")) == 6
    assert short_part(sell, D("12"), D("5")) == 3  # 5 of the 12 already promised to working sells
    assert short_part(sell, D("-3"), D("0")) == 10  # already short: all of it adds
    assert short_part(OrderTicket("AAPL", BUY, D("10")), D("-3"), D("0")) == 0
    buy = OrderTicket("AAPL", BUY, D("10"))
    assert (cover_part(buy, D("-4"), D("0")), cover_part(buy, D("-40"), D("0")), cover_part(buy, D("-4"), D("3"))) == (
        4, 10, 1,
    )  # fmt: skip


def test_a_short_sale_reserves_half_its_collared_value_and_a_closing_sell_nothing() -> None:
    assert context(SELL, "10").reservation == D("515")
    assert context(SELL, "10", position="4").reservation == D("309")  # the 6 beyond the long
    assert context(SELL, "10", position="10").reservation == 0


@pytest.mark.parametrize(
    ("ctx", "rule", "reason"),
    [
        (context(SELL, "5", asset=Asset("AAPL", shortable=False)), "short_sale",
         "Cannot sell 5 AAPL short: AAPL is not shortable at the broker."),
        (context(SELL, "8", position="3", asset=Asset("AAPL", shortable=False)), "short_sale",
         "Cannot sell 8 AAPL: 5 of them would be sold short, and AAPL is not shortable at the broker."),
        (context(SELL, "5", asset=Asset("AAPL", easy_to_borrow=False)), "short_sale",
         "Cannot sell 5 AAPL short: AAPL is hard to borrow; only easy-to-borrow stocks can be sold short."),
        (context(SELL, "2.5"), "short_sale", "Cannot sell 2.5 AAPL short: fractional shares cannot be sold short."),
        (context(SELL, "3", position="0.5"), "short_sale",
         "Cannot sell 3 AAPL: 2.5 of them would be sold short, and fractional shares cannot be sold short."),
        (context(SELL, "10.5", position="0.5"), "short_sale",
         "Cannot sell 10.5 AAPL: 10 of them would be sold short, and fractional shares cannot be sold short."),
        (context(BUY, "2.5", position="-3"), "short_sale",
         "Fractional shares cannot be sold short: buying 2.5 would leave 0.5 AAPL short; cover whole shares."),
        (context(SELL, "10", position="4", take_profit_price=D("90"), stop_loss_price=D("110")), "short_sale",
         "A sell bracket opens a short position; it cannot also sell the 4 AAPL you hold (sell those first)."),
        (context(SELL, "10", take_profit_price=D("110"), stop_loss_price=D("90")), "order_prices",
         "For a sell bracket the take-profit must be below, and the stop-loss above, the entry."),
        (context(SELL, "300", cash=D("10000")), "funds",
         "Insufficient buying power to sell 300 AAPL short: its initial margin is $15,450.00 (50% of its value), "
         "your buying power is $10,000.00."),
        (context(SELL, "10", position="-530", cash=D("80000")), "funds",
         "Insufficient buying power to sell 10 AAPL short: its initial margin is $515.00 (50% of its value), "
         "your buying power is $500.00."),
        (context(SELL, "10", position="-600", cash=D("80000")), "funds",
         "Insufficient buying power to sell 10 AAPL short: its initial margin is $515.00 (50% of its value), "
         "your buying power is $0.00."),
    ],
)  # fmt: skip
def test_each_short_sale_refusal_names_its_reason(ctx: RiskContext, rule: str, reason: str) -> None:
    assert refusal(ctx) == (rule, reason)


@pytest.mark.parametrize(
    "ctx",
    [
        context(SELL, "10", position="10", asset=Asset("AAPL", shortable=False, easy_to_borrow=False)),
        context(SELL, "2.5", position="2.5", asset=Asset("AAPL", fractionable=True, shortable=False)),
        context(SELL, "10"),
        context(SELL, "10", take_profit_price=D("90"), stop_loss_price=D("110")),
        context(BUY, "3.5", position="-3"),  # covers the 3 and buys half a share: no short is left
        context(BUY, "400", position="-600", cash=D("80000")),  # 41,200 fits once the 400's hold comes back
    ],
)
def test_what_the_short_rules_let_through(ctx: RiskContext) -> None:
    assert refusal(ctx) is None


def test_limits_on_adding_risk_apply_to_shorts_and_not_to_covers() -> None:
    """An order that opens or increases a position, long or short, is what these limits stop."""
    losing = {"realized_today": D("-6000")}
    assert DailyLossLimit().check(context(SELL, "1", **losing)) is not None
    assert DailyLossLimit().check(context(BUY, "1", position="-5", **losing)) is None
    assert DailyLossLimit().check(context(SELL, "1", position="5", **losing)) is None
    assert DailyLossLimit().check(context(BUY, "6", position="-5", **losing)) is not None  # one more than covered

    deep = {"equity": D("70000")}
    assert MaxDrawdown().check(context(SELL, "1", **deep)) is not None
    assert MaxDrawdown().check(context(BUY, "1", position="-5", **deep)) is None

    big = context(SELL, "100", position="-450")  # 45,000 short + 10,000
    assert MaxPositionSize().check(big).reason == "AAPL would be $55,000.00, above your position limit of $50,000.00."
    assert MaxPositionSize().check(context(BUY, "100", position="-450")) is None

    risky = context(SELL, "100", take_profit_price=D("80"), stop_loss_price=D("160"))  # 60 x 100 above entry
    assert MaxRiskPerTrade().check(risky).reason.startswith("Risk to the stop-loss $6,000.00 exceeds 5% of equity")
    assert MaxRiskPerTrade().check(replace(risky, equity=D("200000"))) is None
