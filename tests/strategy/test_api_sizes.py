"""Sizes say what they are: ``fraction`` in (0, 1], ``percent`` a real percent in (0, 100], and a size out of its
range is an error that names the call, the value and the range, never a quiet trim."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.strategy.api import IntentKind, Strategy, StrategyError


class Blank(Strategy):
    def next(self, data):
        pass


def one(call) -> tuple:
    s = Blank()
    call(s)
    (intent,) = s.take_intents()
    return intent.kind, intent.shares, intent.fraction, intent.value


def test_a_percent_is_a_percent_and_a_fraction_a_fraction():
    assert one(lambda s: s.buy(percent=10)) == (IntentKind.BUY, None, 0.1, None)
    assert one(lambda s: s.buy(fraction=0.1)) == (IntentKind.BUY, None, 0.1, None)
    assert one(lambda s: s.sell(percent=100)) == (IntentKind.SELL, None, 1.0, None)
    assert one(lambda s: s.order_target(percent=25)) == (IntentKind.TARGET, None, 0.25, None)
    assert one(lambda s: s.order_target(fraction=1)) == (IntentKind.TARGET, None, 1, None)
    assert one(lambda s: s.buy(value=5000)) == (IntentKind.BUY, None, None, 5000)
    assert one(lambda s: s.buy(np.float64(3.0))) == (IntentKind.BUY, 3.0, None, None)
    assert one(lambda s: s.buy(shares=np.int64(3))) == (IntentKind.BUY, 3.0, None, None)
    assert one(lambda s: s.order_target(shares=0)) == (IntentKind.TARGET, 0, None, None)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.buy(percent=250), "buy(percent=250): percent must be in (0, 100]; 250% of cash is more than all"),
        (lambda s: s.buy(percent=0), "buy(percent=0): percent must be in (0, 100]"),
        (lambda s: s.sell(percent=-5), "sell(percent=-5): percent must be in (0, 100]"),
        (lambda s: s.order_target(percent=math.nan), "order_target(percent=nan): percent must be in (0, 100]"),
        (lambda s: s.order_target(percent=math.inf), "order_target(percent=inf): percent must be in (0, 100]"),
        (lambda s: s.buy(percent=True), "buy(percent=True): percent must be a number, not bool"),
        (lambda s: s.buy(percent="10"), "buy(percent='10'): percent must be a number, not str"),
        (lambda s: s.buy(fraction=10), "buy(fraction=10): fraction must be in (0, 1]; fraction=1 is all of cash: "
                                       "for 10% write percent=10"),
        (lambda s: s.order_target(fraction=1.5), "order_target(fraction=1.5): fraction must be in (0, 1]"),
        (lambda s: s.sell(fraction=0), "sell(fraction=0): fraction must be in (0, 1]"),
        (lambda s: s.buy(fraction=None, shares=None), "buy(no size): give exactly one of"),
        (lambda s: s.buy(1, fraction=0.5), "buy(shares=1, fraction=0.5): give exactly one of"),
        (lambda s: s.buy(percent=10, fraction=0.1), "buy(fraction=0.1, percent=10): give exactly one of shares"),
        (lambda s: s.buy(shares=0), "buy(shares=0): shares must be a finite number > 0"),
        (lambda s: s.sell(shares=math.inf), "sell(shares=inf): shares must be a finite number > 0"),
        (lambda s: s.order_target(shares=math.nan), "order_target(shares=nan): shares must be a finite number"),
        (lambda s: s.buy(value=-100), "buy(value=-100): value must be a finite number > 0"),
        (lambda s: s.buy(value=[1]), "buy(value=[1]): value must be a number, not list"),
        (lambda s: s.buy(1, limit=math.nan), "buy(limit=nan): limit must be a price > 0"),
        (lambda s: s.buy(1, take_profit=True), "buy(take_profit=True): take_profit must be a price > 0"),
    ],
)  # fmt: skip
def test_a_size_out_of_range_is_an_error_naming_the_call_the_value_and_the_range(call, message):
    s = Blank()
    with pytest.raises(StrategyError) as exc:
        call(s)
    assert str(exc.value).startswith(message), str(exc.value)
    assert "\n" not in str(exc.value)
    assert s.take_intents() == []  # nothing was asked for


def test_a_target_below_zero_is_left_to_the_runner_which_refuses_shorts():
    assert one(lambda s: s.order_target(shares=-5)) == (IntentKind.TARGET, -5, None, None)
