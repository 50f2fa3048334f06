"""The engine as a paper session trades: bracket exits, the ledger's reservations, Decimal sizing."""

from __future__ import annotations

from decimal import Decimal

from core.backtest.engine import BacktestConfig, run_backtest
from core.domain.orders import OrderSide, OrderType
from tests.backtest.test_engine import Script, bars

D = Decimal
SELL = OrderSide.SELL


def test_a_bracket_protects_its_shares_from_the_bar_after_the_entry_fills_and_the_take_profit_cancels_the_stop():
    opens = [10, 10, 10, 10, 10]
    highs = [10, 10.5, 10.5, 11.2, 10]  # the entry bar reaches the take-profit: its exits are not working yet
    lows = [10, 9.9, 9.9, 9.9, 10]
    data = bars(opens, highs, lows, [10] * 5)
    run = run_backtest(Script({0: [lambda s: s.buy(10, stop_loss=9.5, take_profit=11)]}), data)
    assert [(f.bar, f.side, f.qty, f.price, f.reason) for f in run.fills] == [
        (1, OrderSide.BUY, D(10), D(10), "signal"), (3, SELL, D(10), D(11), "take_profit"),
    ]  # fmt: skip
    assert run.orders[0].take_profit == D(11) and run.orders[0].stop_loss == D("9.5")


def test_when_a_bar_reaches_both_exits_the_stop_loss_is_taken_as_the_broker_takes_it():
    data = bars([10, 10, 10], [10, 10, 11.5], [10, 10, 9.0], [10, 10, 10])
    run = run_backtest(Script({0: [lambda s: s.buy(10, stop_loss=9.5, take_profit=11)]}), data)
    assert [(f.bar, f.price, f.reason) for f in run.fills] == [(1, D(10), "signal"), (2, D("9.5"), "stop_loss")]


def test_a_target_leaves_the_brackets_exits_working_and_cannot_sell_the_shares_they_promise():
    data = bars([10] * 5, [10, 10, 10, 10, 11.5], [10] * 5, [10] * 5)
    plan = {0: [lambda s: s.buy(10, stop_loss=9.5, take_profit=11)], 2: [lambda s: s.order_target(shares=0)]}
    run = run_backtest(Script(plan), data, BacktestConfig(close_at_end=False))
    assert [(f.bar, f.reason) for f in run.fills] == [(1, "signal"), (4, "take_profit")]
    assert [r.bar for r in run.rejections] == [2] and "only 0" in run.rejections[0].reason


def test_a_bracket_the_broker_would_refuse_is_rejected():
    data = bars([10] * 3, [10] * 3, [10] * 3, [10] * 3)
    plan = {0: [lambda s: s.buy(10, take_profit=11), lambda s: s.buy(10, stop=10.5, stop_loss=9, take_profit=11),
                lambda s: s.buy(10, limit=9, stop_loss=9.5, take_profit=11)]}  # fmt: skip
    run = run_backtest(Script(plan), data)
    assert run.orders == [] and len(run.rejections) == 3


def test_percent_of_cash_is_of_the_cash_the_working_buys_have_not_reserved():
    data = bars([10] * 3, [10] * 3, [10] * 3, [10] * 3)
    plan = {0: [lambda s: s.buy(fraction=0.5, limit=9), lambda s: s.buy(fraction=0.5, limit=9)]}
    run = run_backtest(Script(plan), data, BacktestConfig(starting_cash=D(1000)))
    # the first reserves 55 x 9 = 495; the second is half of the 505 left (the ledger's available cash)
    assert [(o.qty, o.type) for o in run.orders] == [(D(55), OrderType.LIMIT), (D(28), OrderType.LIMIT)]


def test_a_market_buy_is_trimmed_to_the_cash_its_collared_reservation_leaves():
    data = bars([10] * 3, [10] * 3, [10] * 3, [10] * 3)
    plan = {0: [lambda s: s.buy(50), lambda s: s.buy(50)]}
    run = run_backtest(Script(plan), data, BacktestConfig(starting_cash=D(1000)))
    assert [o.qty for o in run.orders] == [D(50), D(47)]  # 1000 - 50 x 10.30 = 485 buys 47 at 10.30


def test_a_size_a_float_puts_a_hair_below_a_whole_number_is_the_exact_decimal_one():
    assert 1000 * 0.55 / 1.1 < 500  # 499.99999999999994, where 1000 x 0.55 / 1.10 is 500 exactly
    data = bars([1.1] * 3, [1.1] * 3, [1.1] * 3, [1.1] * 3)
    run = run_backtest(Script({0: [lambda s: s.order_target(fraction=0.55)]}), data,
                       BacktestConfig(starting_cash=D(1000)))  # fmt: skip
    assert run.orders[0].qty == D(500)  # as the paper session sizes it, in Decimals
