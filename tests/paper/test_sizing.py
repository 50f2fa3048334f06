"""Sizing an intent against the virtual account follows the backtester's rules (core.backtest.engine._place)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from core.backtest.engine import BacktestConfig, run_backtest
from core.domain.orders import OrderSide, OrderType, TimeInForce
from core.paper.sizing import AccountView, Refusal, SizedOrder, shares_for, size_intent
from core.strategy.api import BarData, IntentKind, OrderIntent, Strategy

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
MARKET = OrderType.MARKET
Acct, Sized = AccountView, SizedOrder
RICH = AccountView(cash=D("100000"), equity=D("100000"), position=D(0))


def intent(kind: IntentKind, **kw) -> OrderIntent:
    return OrderIntent(kind, 0, **kw)


@pytest.mark.parametrize(
    ("the_intent", "account", "expected"),
    [
        (intent(IntentKind.TARGET, fraction=0.1), RICH, Sized(BUY, D(103), MARKET)),
        (intent(IntentKind.TARGET, shares=0.0), Acct(D(0), D(9700), D(103)), Sized(SELL, D(103), MARKET)),
        (intent(IntentKind.TARGET, shares=103.0), Acct(D(0), D(9700), D(103)), None),
        (intent(IntentKind.TARGET, value=5000.0), Acct(D(0), D(9700), D(103)), Sized(SELL, D(52), MARKET)),
        (intent(IntentKind.BUY, fraction=0.5), Acct(D(10000), D(10000), D(0)), Sized(BUY, D(50), MARKET)),
        # trimmed to what the ledger could reserve: 100 plus the 3% collar a share (and said: trimmed_from)
        (intent(IntentKind.BUY, shares=200.0), Acct(D(10000), D(10000), D(0)),
         Sized(BUY, D(97), MARKET, trimmed_from=D(200))),
        (intent(IntentKind.BUY, shares=200.0, limit=95.0), Acct(D(10000), D(10000), D(0)),
         Sized(BUY, D(105), OrderType.LIMIT, limit_price=D(95), trimmed_from=D(200))),
        (intent(IntentKind.BUY, shares=10.0, stop=99.0, limit=99.5), RICH,
         Sized(BUY, D(10), OrderType.STOP_LIMIT, limit_price=D("99.5"), stop_price=D(99))),
        (intent(IntentKind.BUY, shares=10.0, stop_loss=90.0, take_profit=110.0), RICH,
         Sized(BUY, D(10), MARKET, take_profit_price=D(110), stop_loss_price=D(90))),
        (intent(IntentKind.SELL, fraction=0.5), Acct(D(0), D(0), D(100), open_sell_qty=D(20)),
         Sized(SELL, D(40), MARKET)),
        (intent(IntentKind.SELL, value=1000.0, stop=96.0), Acct(D(0), D(0), D(100)),
         Sized(SELL, D(10), OrderType.STOP, stop_price=D(96))),
        # more than the session holds: refused (below), as the engine refuses it
        (intent(IntentKind.BUY, value=50.0), RICH, None),  # less than one share
        (intent(IntentKind.CANCEL_ALL), RICH, None),
    ],
)  # fmt: skip
def test_intents_are_sized_like_the_backtester_sizes_them(the_intent, account, expected):
    close = 97.0 if the_intent.kind is IntentKind.TARGET else 100.0
    assert size_intent(the_intent, account, close) == expected


def test_what_cannot_be_sized_is_refused_with_a_reason():
    short = size_intent(intent(IntentKind.TARGET, shares=-5.0), RICH, 100.0)
    assert short == Refusal(SELL, "Shorting is not supported (the target position is below zero).")
    broke = size_intent(intent(IntentKind.BUY, shares=1.0), AccountView(D("50"), D("50"), D(0)), 100.0)
    assert broke == Refusal(BUY, "Not enough cash to buy: $50.00 available.")
    oversold = size_intent(intent(IntentKind.SELL, shares=500.0), Acct(D(0), D(0), D(100), open_sell_qty=D(20)), 100.0)
    assert oversold == Refusal(SELL, "Cannot sell 500: the session holds 100, 20 already in its open sell orders "
                                     "(a session sells only shares it bought; no short selling).")  # fmt: skip
    nothing = size_intent(intent(IntentKind.SELL, fraction=1.0), Acct(D(0), D(0), D(0)), 100.0)
    assert nothing is None  # a fraction of no shares is no order


def test_fractional_shares_round_down_to_nine_places():
    assert shares_for(D(1000), D(3), fractional=True) == D("333.333333333")
    assert shares_for(D(1000), D(3)) == D(333)
    assert shares_for(D(1000), D(0)) == 0


class _BuyOnce(Strategy):
    def next(self, data):
        if self.bar_index == 0:
            self.order_target(fraction=0.37)


def test_the_first_order_matches_the_per_bar_engine():
    """Same account and bar: the session's sizing and the backtester buy the same number of shares."""
    closes = np.array([123.45, 124.0, 125.0])
    data = BarData.from_arrays("X", np.arange(3.0) * 60, closes, closes + 1, closes - 1, closes, np.full(3, 1e6))
    run = run_backtest(_BuyOnce(), data, BacktestConfig(starting_cash=D("100000"), close_at_end=False))
    sized = size_intent(intent(IntentKind.TARGET, fraction=0.37), RICH, 123.45)
    assert isinstance(sized, SizedOrder) and sized.qty == run.fills[0].qty


@pytest.mark.parametrize("size", [{"fraction": -0.5}, {"value": -1000.0}, {"shares": -5.0}])
def test_a_target_below_zero_is_refused_however_it_is_given(size):
    refused = size_intent(intent(IntentKind.TARGET, **size), Acct(D(0), D(9700), D(10)), 97.0)
    assert refused == Refusal(SELL, "Shorting is not supported (the target position is below zero).")


def test_orders_work_until_cancelled_as_in_a_backtest_and_a_fraction_of_a_share_only_for_the_day():
    whole = size_intent(intent(IntentKind.BUY, shares=10.0, limit=95.0), RICH, 100.0)
    fraction = size_intent(intent(IntentKind.BUY, shares=0.5), RICH, 100.0, fractional=True)
    assert isinstance(whole, SizedOrder) and isinstance(fraction, SizedOrder)
    assert whole.ticket("ACME").time_in_force is TimeInForce.GTC
    assert fraction.ticket("ACME").time_in_force is TimeInForce.DAY


def test_a_buy_the_cash_cannot_cover_is_cut_and_says_so():
    sized = size_intent(intent(IntentKind.BUY, shares=200.0), Acct(D(10000), D(10000), D(0)), 100.0)
    assert isinstance(sized, SizedOrder) and sized.qty == D(97)
    assert sized.notice == (
        "Asked for 200 shares; 97 fit in the cash available (with the reserve the ledger holds for the order)."
    )
    exact = size_intent(intent(IntentKind.BUY, shares=10.0), RICH, 100.0)
    assert isinstance(exact, SizedOrder) and exact.trimmed_from is None and exact.notice is None
